"""What is wrong: every refuted claim in derivations/ gets claim − truth in the layer's terms,
and the claim minus that difference is proved to be the truth; the readings say what a
person would say; a wrong difference is never marked checked."""

from __future__ import annotations

from dataclasses import replace

import pytest

import symbn
from symbn.lang.expr import parse
from symbn.lang.layer import Claim, _formula
from symbn.proof.claims import check_claims, check_one, from_latex
from symbn.proof.difference import _checked, minus
from symbn.proof.prover import PROVED, REFUTED, Prover, check_formula, truth_side
from symbn.proof.second import second_order
from symbn.proof.shards import shard_claims, split_problem

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
        if not d.readable:  # not shown to a person (symbn checked it; a second proof of a long text may be unknown)
            continue
        result = reproved(layer, item.id, item.result.wrt, checked[(item.id, item.result.wrt)], d.text)
        assert result.verdict == PROVED, (item.id, d.text, result)


def reproved(layer, shown: str, wrt: str, formula, text: str):
    """claim − difference against the truth, on the problem the claim is checked on: the layer, its
    second-order problem (order = 2), or its split across two devices (shards = true)."""
    claim = next((c for c in layer.claims if c.id == shown.removesuffix(" (LaTeX)")), None)
    if claim is not None and claim.shards:
        corrected = minus(split_problem(layer, 2), formula, text)
        assert corrected is not None, text
        ((_, result),) = shard_claims(replace(layer, claims=(replace(claim, formula=corrected),)))
        return result
    problem = second_order(layer) if claim is not None and claim.order == 2 else layer
    corrected = minus(problem, formula, text)
    assert corrected is not None, text
    return check_formula(problem, wrt, corrected, "claim minus its difference")


def test_there_are_refuted_claims_of_every_kind_in_derivations():
    items = check_claims(symbn.load(BATCHNORM)).items
    refuted = {i.id for i in items if i.result.verdict == REFUTED}
    assert {"seed-001-dx", "seed-001-dx (LaTeX)", "unbiased-step-4-code"} <= refuted  # plain, LaTeX, code
    assert {"frozen-statistics-gI", "syncbn-elemt-local-count"} <= refuted  # second order, a split


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


# --- second order and a split across devices ---------------------------------------------------------

GI = ("gamma*ivar**2*(xhat*(mean(ddx)*mean(dy) - mean(dy*ddx) + {three}*mean(dy*xhat)*mean(ddx*xhat)) "
      "+ mean(ddx*xhat)*(mean(dy) - dy) + mean(dy*xhat)*(mean(ddx) - ddx)) + ddgamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))")


def claimed(layer, text: str, wrt: str, order: int = 1, shards: bool = False):
    """A claim made here, checked as a file's claim is (check_claims): its item, and its formula."""
    if shards:
        formula = _formula(layer.path, "formula", text, layer.split.graph, {}, split=True)
    else:
        formula = layer.second_order_formula(parse(text), "formula", text)
    claim = Claim("made-here", wrt, formula, "wrong", order=order, shards=shards)
    layer = replace(layer, claims=(claim,), code_claims=())
    (item,) = check_claims(layer).items
    return layer, item, formula


@pytest.mark.parametrize("text, wrt, difference, reading", [
    (GI.format(three=2), "x", "-gamma*ivar**2*xhat*mean(ddx*xhat)*mean(dy*xhat)",
     "coefficient of xhat*mean(ddx*xhat)*mean(dy*xhat): claim 2*gamma*ivar**2, truth 3*gamma*ivar**2"),
    ("ivar*sum(dy*(ddx - mean(ddx)))", "gamma", "ivar*mean(ddx*xhat)*sum(dy*xhat)",
     "mean(ddx*xhat)*sum(dy*xhat): missing (the truth has -ivar*mean(ddx*xhat)*sum(dy*xhat))"),
    ("gamma*ivar*(ddx - mean(ddx) - xhat*mean(ddx*xhat)) + ddgamma*xhat - ddbeta", "dy", "-2*ddbeta",
     "the wrong sign (-ddbeta where the truth has ddbeta)"),
])
def test_a_wrong_second_order_formula_gets_its_difference_in_the_layers_terms(bn, text, wrt, difference, reading):
    """Written in x̂, μ, σ⁻¹, dy and the directions dd<k> (never in dmu, dx ...: the first-order
    backward's stages are written through their definitions), and proved on the second-order problem."""
    layer, item, formula = claimed(bn, text, wrt, order=2)
    d = item.result.difference
    assert item.result.verdict == REFUTED and d.checked and d.text == difference, d
    assert reading in d.summary, d.summary
    assert reproved(layer, "made-here", wrt, formula, d.text).verdict == PROVED


def test_the_frozen_statistics_claim_misses_every_term_through_the_statistics(bn):
    (item,) = [i for i in check_claims(bn).items if i.id == "frozen-statistics-gI"]
    d = item.result.difference
    assert d.checked and all(c.claim == "0" and "missing" in c.reading for c in d.changes), d
    assert "3*gamma*ivar**2*xhat*mean(ddx*xhat)*mean(dy*xhat)" in d.summary
    assert not any(name in d.text for name in ("dmu", "dxmu", "dvar", "divar", "sqrtvar", "xmu")), d.text


def test_the_syncbn_claim_reads_a_local_count_where_the_truth_has_the_whole_one(bn):
    (item,) = [i for i in check_claims(bn).items if i.id == "syncbn-elemt-local-count"]
    d = item.result.difference
    assert d.checked and [c.term for c in d.changes] == ["allreduce(shard_sum(dy))", "xhat*allreduce(shard_sum(dy*xhat))"]
    assert all(c.reading.startswith(f"{c.term}: divided by 2*Nk where the truth divides by allreduce(Nk)")
               for c in d.changes), d.changes
    assert d.text == ("-(gamma*ivar/(2*Nk) - gamma*ivar/allreduce(Nk))*allreduce(shard_sum(dy)) "
                      "- (gamma*ivar/(2*Nk) - gamma*ivar/allreduce(Nk))*xhat*allreduce(shard_sum(dy*xhat))")


def test_a_split_claim_that_reads_one_devices_sum_keeps_it_in_the_difference(bn):
    text = "(dy - shard_sum(dy)/Nk - xmu*ivar**2*allreduce(shard_sum(dy*xmu))/allreduce(Nk))*ivar*gamma"
    layer, item, formula = claimed(bn, text, "x", shards=True)
    d = item.result.difference
    assert d.checked and d.text == "-gamma*ivar/Nk*shard_sum(dy) + gamma*ivar/allreduce(Nk)*allreduce(shard_sum(dy))", d
    assert "shard_sum(dy): a term the truth does not have" in d.summary
    assert reproved(layer, "made-here", "x", formula, d.text).verdict == PROVED


def test_a_wrong_difference_is_not_checked_on_second_order_or_on_a_split(bn):
    """The proof behind "checked" can fail there too: an off difference is refuted, not marked."""
    problem = second_order(bn)
    formula = bn.second_order_formula(parse(GI.format(three=2)), "formula", "")
    prover = Prover(problem)
    assert _checked(prover, "x", truth_side("x"), formula, "-gamma*ivar**2*xhat*mean(ddx*xhat)*mean(dy*xhat)")
    assert not _checked(prover, "x", truth_side("x"), formula, "-gamma*ivar*xhat*mean(ddx*xhat)*mean(dy*xhat)")
    assert not _checked(prover, "x", truth_side("x"), formula, "-gamma*ivar**2*xhat*sum(ddx*xhat)*mean(dy*xhat)")
    (claim,) = [c for c in bn.claims if c.shards]
    right = ("-(gamma*ivar/(2*Nk) - gamma*ivar/allreduce(Nk))*allreduce(shard_sum(dy)) "
             "- (gamma*ivar/(2*Nk) - gamma*ivar/allreduce(Nk))*xhat*allreduce(shard_sum(dy*xhat))")
    for text, verdict in [(right, PROVED), (right.replace("2*Nk", "Nk"), REFUTED),
                          (right.replace("allreduce(shard_sum(dy))", "shard_sum(dy)"), REFUTED)]:
        assert reproved(bn, claim.id, "x", claim.formula, text).verdict == verdict, text


def test_a_difference_with_a_long_coefficient_is_written_without_factoring():
    """SymPy's factor of gamma*ivar + 1e-800 took 12 s (its primes grow with the coefficients): such a
    coefficient is written as it is, exactly, and a short one is still factored."""
    import sympy as sp

    from symbn.proof.difference import _factor

    g, i = sp.symbols("gamma ivar")
    huge = g * i + sp.Rational(1, 10**800)
    assert _factor(huge) == huge and _factor(2 * g * i + 2 * g) == 2 * g * (i + 1)
    layer = symbn.load("derivations/batchnorm.toml")
    (item,) = check_one(layer, "x", formula="gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat)) + 1e-300*dy").items
    assert item.result.difference.text == "1e-300*dy"
