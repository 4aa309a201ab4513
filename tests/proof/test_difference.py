"""What is wrong: every refuted claim in derivations/ gets claim − truth in the layer's terms,
and the claim minus that difference is proved to be the truth; the readings say what a
person would say; a wrong difference is never marked checked."""

from __future__ import annotations

import pytest

import symbn
from symbn.proof.claims import check_claims, check_one, from_latex
from symbn.proof.difference import _checked, minus
from symbn.proof.prover import PROVED, REFUTED, Prover, check_formula, truth_side

from ..files import BATCHNORM, FILES, ROOT


def formulas(layer):
    """id (as reported), wrt -> the formula that was checked."""
    out = {}
    for claim in layer.claims:
        out[(claim.id, claim.wrt)] = claim.formula
        if claim.latex:
            out[(f"{claim.id} (LaTeX)", claim.wrt)] = from_latex(layer, claim.latex, "latex")
    for claim in layer.read_code_claims():
        out.update({(claim.id, wrt): f for wrt, f in claim.formulas.items()})
    return out


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_refuted_claim_has_a_difference_that_makes_it_the_truth(path):
    layer = symbn.load(path)
    checked = formulas(layer)
    refuted = [i for i in check_claims(layer).items if i.result.verdict == REFUTED]
    assert refuted or not layer.claims or path.stem == "rmsnorm"
    for item in refuted:
        d = item.result.difference
        assert d is not None and d.text and d.changes and d.checked, item.id
        corrected = minus(layer, checked[(item.id, item.result.wrt)], d.text)
        result = check_formula(layer, item.result.wrt, corrected, "claim minus its difference")
        assert result.verdict == PROVED, (item.id, d.text, result)


def test_there_are_refuted_claims_of_every_kind_in_derivations():
    items = check_claims(symbn.load(BATCHNORM)).items
    refuted = {i.id for i in items if i.result.verdict == REFUTED}
    assert {"seed-001-dx", "seed-001-dx (LaTeX)", "unbiased-step-4-code"} <= refuted  # plain, LaTeX, code


@pytest.mark.parametrize("formula, text, reading", [
    ("gamma*ivar*(dy - 2*mean(dy) - xhat*mean(dy*xhat))", "-gamma*ivar*mean(dy)",
     "mean(dy): subtracted twice (-2*gamma*ivar*mean(dy) where the truth has -gamma*ivar*mean(dy))"),
    ("gamma*ivar*(dy - mean(dy) - xhat*sum(dy*xhat)/(N - 1))", "-gamma*ivar/(N - 1)*xhat*mean(dy*xhat)",
     "coefficient of xhat*mean(dy*xhat): claim -gamma*ivar*N/(N - 1), truth -gamma*ivar"),
    ("gamma*ivar*(dy - mean(dy))", "gamma*ivar*xhat*mean(dy*xhat)",
     "xhat*mean(dy*xhat): missing (the truth has -gamma*ivar*xhat*mean(dy*xhat))"),
    ("gamma*ivar*(dy + mean(dy) - xhat*mean(dy*xhat))", "2*gamma*ivar*mean(dy)",
     "mean(dy): the wrong sign (gamma*ivar*mean(dy) where the truth has -gamma*ivar*mean(dy))"),
    ("gamma*ivar*(dy - sum(dy) - xhat*mean(dy*xhat))", "-gamma*ivar*(N - 1)*mean(dy)",
     "mean(dy): a sum where the truth has a mean"),
    ("gamma*(dy - mean(dy) - xhat*mean(dy*xhat))", "", "the claim is 1/ivar times the truth"),
    ("dxhat*(1/N) + dmu*(1/N) + dvar*(2*(x - mu)/N)", "-gamma*(ivar*N - 1)/N*dy",
     "coefficient of dy: claim gamma/N, truth gamma*ivar"),
])
def test_the_difference_reads_as_a_person_would_say_it(bn, formula, text, reading):
    (item,) = check_one(bn, "x", formula=formula).items
    d = item.result.difference
    assert item.result.verdict == REFUTED and d.checked
    assert not text or d.text == text
    assert reading in d.summary, d.summary


def test_a_difference_per_slice_reads_in_sums(bn):
    (item,) = check_one(bn, "mu", formula="-gamma/mu*sum(dy) + (1/sqrtvar**3)*sum(dy*gamma*(x - mu))*sum(x - mu)/N").items
    assert item.result.difference.summary == "coefficient of sum(dy): claim -gamma/mu, truth -gamma*ivar"


def test_layernorm_and_rmsnorm_differences():
    ln = symbn.load(ROOT / "derivations" / "layernorm.toml")
    (item,) = check_one(ln, "x", formula="ivar*(gamma*dy - mean(gamma*dy) - xhat*mean(dy*xhat))").items
    d = item.result.difference
    assert d.checked and "xhat*mean(dy*xhat)" in d.text and "gamma" in d.summary
    rms = symbn.load(ROOT / "derivations" / "rmsnorm.toml")
    (item,) = check_one(rms, "x", formula="irms*(gamma*dy - mean(gamma*dy*xhat))").items
    assert item.result.difference.checked and "xhat" in item.result.difference.text


def test_a_wrong_difference_is_not_checked(bn):
    """The check can fail: a difference that is off is not proved, and is not marked checked."""
    formula = bn.formula("gamma*ivar*(dy - 2*mean(dy) - xhat*mean(dy*xhat))")
    prover = Prover(bn)
    assert _checked(prover, "x", truth_side("x"), formula, "-gamma*ivar*mean(dy)")
    assert not _checked(prover, "x", truth_side("x"), formula, "-2*gamma*ivar*mean(dy)")
    assert not _checked(prover, "x", truth_side("x"), formula, "-gamma*mean(dy)")


def test_a_claim_that_divides_by_a_sum_is_written_and_checked(bn):
    """A difference whose terms cannot be split by basis term (a sum in a denominator) is written whole."""
    (item,) = check_one(bn, "x", formula="gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat)) + 1/sum(dy*dy)").items
    d = item.result.difference
    assert item.result.verdict == REFUTED and d.checked and "sum(dy**2)" in d.text, d
