"""Code as a claim: the seeds' backward passes proved as written, their mutants refuted and
located to the mutated line, rewritings proved, and every refutation re-checked by running
the code for real (NumPy, float64) at the counterexample."""

from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symbn
from symbn.proof.report import PROVED, REFUTED

from ..files import FILES
from ..oracle import true_gradient
from .codecases import FAST, LAYERNORM, SEED002, SEED003, TWICE, UNBIASED, Case, at, close, run

LAYERS = {p.stem: symbn.load(p) for p in FILES}


def check(case: Case, source: str | None = None):
    layer = LAYERS[case.layer]
    code = case.source() if source is None else source
    return symbn.check_code(layer, code, function=case.function, bind=case.bind, axis=case.axis, time_limit=None)


def line_of(source: str, text: str) -> int:
    (k,) = [k for k, line in enumerate(source.splitlines(), 1) if text in line]
    return k


def mutate(source: str, old: str, new: str) -> str:
    assert source.count(old) == 1, old
    return source.replace(old, new)


@pytest.mark.parametrize("case", [SEED003, SEED002, FAST, LAYERNORM], ids=["seed003", "seed002", "cs231n-fast", "layernorm"])
def test_the_code_is_proved_as_written(case):
    report = check(case)
    assert [i.result.verdict for i in report.items] == [PROVED] * 3, report.table()
    assert all(i.result.first_wrong is None for i in report.items)


def test_seed_003_is_the_seeds_own_text():
    from ..files import SEEDS

    seed = SEEDS / "003_eed6d248d3753d9c.txt"
    if not seed.exists():
        pytest.skip("the seeds are not beside this checkout")
    text = SEED003.source()
    body = text[text.index("def batchnorm_backward"):].rstrip("\n")
    assert body in seed.read_text()


# --- mutants: refuted, and the first wrong line is the mutated one ------------------------------

# (case, old, new, the name at the first wrong line); the first wrong line is the line of `new`,
# except where a dropped line leaves an earlier assignment final (then: `at`, the text of that line)
MUTANTS = [
    (SEED003, "    dx_norm = gamma * dscaled_x", "    dx_norm = dscaled_x", "dx_norm"),  # a term dropped
    (SEED003, "np.sum(dev_from_mean * dx_norm, axis=0)", "np.sum(dx_norm, axis=0)", "dinverted_stddev"),
    (SEED003, "dstddev = -1/(stddev**2)", "dstddev = 1/(stddev**2)", "dstddev"),  # a sign
    (SEED003, "dstddev = -1/(stddev**2)", "dstddev = -1/stddev", "dstddev"),  # a power
    (SEED003, "dvar = (0.5) * 1/np.sqrt", "dvar = 1/np.sqrt", "dvar"),  # a factor dropped
    (SEED003, "np.sqrt(var + eps)", "np.sqrt(var)", "dvar"),  # eps dropped
    (SEED003, "ddev_from_mean_sq = 1/N *", "ddev_from_mean_sq = 1/(N-1) *", "ddev_from_mean_sq"),  # 1/N -> 1/(N-1)
    (SEED003, "ddev_from_mean_sq = 1/N * np.ones((N,D))", "ddev_from_mean_sq = np.ones((N,D))", "ddev_from_mean_sq"),
    (SEED003, "ddev_from_mean += 2 * dev_from_mean", "ddev_from_mean += dev_from_mean", "ddev_from_mean"),
    (SEED003, "ddev_from_mean += 2", "ddev_from_mean = 2", "ddev_from_mean"),  # += -> =
    (SEED003, "ddev_from_mean += 2", "ddev_from_mean -= 2", "ddev_from_mean"),  # a sign
    (SEED003, "ddev_from_mean += 2 * dev_from_mean", "ddev_from_mean += 2 * x_norm", "ddev_from_mean"),  # xhat for x - mu
    (SEED003, "dx = 1 * ddev_from_mean", "dx = -1 * ddev_from_mean", "dx"),
    (SEED003, "dmean = -1 * np.sum", "dmean = np.sum", "dmean"),
    (SEED003, "dmean = -1 * np.sum(ddev_from_mean, axis=0)", "dmean = -1 * np.mean(ddev_from_mean, axis=0)", "dmean"),
    (SEED003, "dx += 1./N *", "dx = 1./N *", "dx"),  # += -> =
    (SEED003, "dx += 1./N *", "dx += 1./(N-1) *", "dx"),  # 1/N -> 1/(N-1)
    (SEED003, "dx += 1./N *", "dx -= 1./N *", "dx"),
    (SEED003, "dgamma = np.sum(x_norm * dscaled_x", "dgamma = np.sum(dev_from_mean * dscaled_x", "dgamma"),
    (SEED003, "dscaled_x = dout ", "dscaled_x = 2 * dout", "dscaled_x"),
    (SEED003, "ddev_from_mean = inverted_stddev * dx_norm", "ddev_from_mean = stddev * dx_norm", "ddev_from_mean"),
    (SEED003, "dvar = (0.5) * 1/np.sqrt(var + eps) * dstddev", "dvar = (0.5) * 1/np.sqrt(var + eps) * dinverted_stddev",
     "dvar"),
    (SEED003, "dbeta = np.sum(dout, axis=axis)", "dbeta = np.sum(dout, axis=1)", "dbeta"),  # a wrong axis
    (SEED003, "np.sum(x_norm * dscaled_x, axis=axis)", "np.sum(x_norm * dscaled_x, axis=1)", "dgamma"),  # a wrong axis
    (SEED003, "dbeta = np.sum(dout, axis=axis)", "dbeta = np.sum(dout)", "dbeta"),  # no axis: every slice
    (SEED002, "dxmu2 = 2 * xmu * dsq", "dxmu2 = xmu * dsq", "dxmu2"),  # a factor dropped, in a part
    (SEED002, "dx1 = (dxmu1 + dxmu2)", "dx1 = (dxmu1)", "dx1"),  # a term dropped, in a part
    (SEED002, "dx2 = 1. / N * np.ones", "dx2 = np.ones", "dx2"),
    (SEED002, "dx = dx1 + dx2", "dx = dx1 - dx2", "dx"),
    (SEED002, "dsqrtvar = -1. / (sqrtvar**2)", "dsqrtvar = -1. / sqrtvar", "dsqrtvar"),
    (SEED002, "np.sum(dxhat * xmu, axis=0)", "np.sum(dxhat * xhat, axis=0)", "divar"),
    (SEED002, "dxhat = dgammax * gamma", "dxhat = dgammax", "dxhat"),
    (SEED002, "dvar = 0.5 * 1. / np.sqrt(var + eps)", "dvar = 0.5 * np.sqrt(var + eps)", "dvar"),
    (SEED002, "dsq = 1. / N *", "dsq = 1. / (N - 1) *", "dsq"),
    (SEED002, "dbeta = np.sum(dout, axis=0)", "dbeta = dout", "dbeta"),  # a reduction dropped
    (SEED002, "    dgammax = dout", "    dgammax = -dout", "dgammax"),
    (SEED002, "dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)", "dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0) / N", "dmu"),
    (FAST, "(N * dout - np.sum(dout, axis=0)", "(N * dout - 2 * np.sum(dout, axis=0)", "dx"),
    (FAST, "(var + eps)**(-1.0) * np.sum", "(var + eps)**(-0.5) * np.sum", "dx"),
    (FAST, "dx = (1. / N) *", "dx = (1. / (N - 1)) *", "dx"),
    (LAYERNORM, "dxhat.sum(axis=-1, keepdims=True)", "dxhat.sum(axis=-1)", "dx"),  # keepdims lost
    (LAYERNORM, "np.sum(dxhat * xhat, axis=-1, keepdims=True)", "np.sum(dxhat * xhat, axis=-1)", "dx"),  # keepdims lost
    (LAYERNORM, "dgamma = np.sum(dout * xhat, axis=0)", "dgamma = dout * xhat", "dgamma"),  # the batch sum lost
    (LAYERNORM, "dxhat = dout * gamma", "dxhat = dout", "dxhat"),
]
DROPPED = [  # a line dropped: the first wrong line is an earlier assignment left final
    (SEED003, "    ddev_from_mean += 2 * dev_from_mean * ddev_from_mean_sq\n", "ddev_from_mean = inverted_stddev"),
    (SEED003, "    dx += 1./N * np.ones((N,D)) * dmean\n", "dx = 1 * ddev_from_mean"),
    (SEED002, "    dx = dx1 + dx2\n", "dx = 0 * dx1"),  # dx dropped: then dx is only a zero placeholder
]


def test_there_are_at_least_30_mutants():
    assert len(MUTANTS) + len(DROPPED) >= 30
    kinds = " ".join(new for _, _, new, _ in MUTANTS)
    assert "N-1" in kinds.replace(" ", "") and "axis=1" in kinds and "-=" in kinds and "dx = 1./N" in kinds


@pytest.mark.parametrize("case, old, new, name", MUTANTS, ids=[f"{c.file[:7]}:{n}:{k}" for k, (c, _, _, n) in enumerate(MUTANTS)])
def test_a_mutant_is_refuted_at_its_line(case, old, new, name):
    source = mutate(case.source(), old, new)
    report = check(case, source)
    refuted = [i.result for i in report.items if i.result.verdict == REFUTED]
    assert refuted, report.table()
    line = line_of(source, new.strip())
    for r in refuted:
        assert r.first_wrong is not None, report.table()
        assert (r.first_wrong.line, r.first_wrong.name) == (line, name), report.table()
    _oracle_agrees(case, source, report)


@pytest.mark.parametrize("case, line, at_text", DROPPED, ids=["ddev_from_mean +=", "dx +=", "dx = dx1 + dx2"])
def test_a_dropped_line_is_refuted_where_the_value_goes_wrong(case, line, at_text):
    source = case.source().replace(line, "    dx = 0 * dx1\n" if "dx1 + dx2" in line else "")
    assert source != case.source()
    report = check(case, source)
    (x,) = [i.result for i in report.items if i.result.wrt == "x"]
    assert x.verdict == REFUTED
    assert x.first_wrong.line == line_of(source, at_text), report.table()
    _oracle_agrees(case, source, report)


def _oracle_agrees(case: Case, source: str, report) -> None:
    """Every counterexample, re-checked by running the code with NumPy and the oracle's diff."""
    layer = LAYERS[case.layer]
    for item in report.items:
        r, ce = item.result, item.result.counterexample
        if ce is None:
            continue
        truth = true_gradient(layer, ce.values, r.wrt, ce.n, ce.j)
        assert sp.simplify(truth - ce.lhs) == 0
        if ce.rhs == "no value":
            _no_value(case, source, layer, ce, r.wrt)
            continue
        (got, _) = run(case, source, layer, ce.values, ce.n)
        value = at(got[case.returns.index(r.wrt)], ce.j, case.axis)
        assert close(value, ce.rhs), (value, ce.rhs)
        assert not close(value, truth)


def _no_value(case: Case, source: str, layer, ce, wrt: str) -> None:
    """'No value': with two slices NumPy raises, or the gradient's shape is not its parameter's."""
    try:
        out, shapes = run(case, source, layer, ce.values, ce.n, slices=2)
    except ValueError:
        return
    assert np.shape(out[case.returns.index(wrt)]) != shapes[wrt], (np.shape(out[case.returns.index(wrt)]), shapes)


@pytest.mark.parametrize("layer, cases", [("batchnorm", {"seed-003-code": SEED003, "seed-002-code": SEED002,
                                                          "cs231n-fast-code": FAST, "unbiased-step-4-code": UNBIASED}),
                                           ("layernorm", {"layernorm-code": LAYERNORM, "layernorm-twice-code": TWICE})])
def test_the_code_claims_of_derivations_get_their_verdicts_and_numpy_agrees(layer, cases):
    from symbn.proof.claims import check_claims

    report = check_claims(LAYERS[layer])
    assert report.exit_code == 0, report.table()
    for claim_id, case in cases.items():
        items = [i for i in report.items if i.id == claim_id]
        assert len(items) == 3
        sub = type(report)(report.layer, report.n, items)
        _oracle_agrees(case, case.source(), sub)


# --- rewritings that are the same gradient -------------------------------------------------------

REWRITINGS = [
    (SEED003, "dstddev = -1/(stddev**2) * dinverted_stddev", "dstddev = -1/(var + eps) * dinverted_stddev"),
    (SEED003, "ddev_from_mean_sq = 1/N * np.ones((N,D)) * dvar", "ddev_from_mean_sq = np.ones_like(dout) * dvar / N"),
    (SEED003, "dbeta = np.sum(dout, axis=axis)", "dbeta = dout.sum(axis=0, keepdims=True)"),
    (SEED003, "dstddev = -1/(stddev**2) * dinverted_stddev", "dstddev = -np.reciprocal(np.square(stddev)) * dinverted_stddev"),
    (SEED003, "dx = 1 * ddev_from_mean", "dx = ddev_from_mean.copy()"),
    (SEED003, "    dmean = -1 * np.sum(ddev_from_mean, axis=0)", "    dmean = -N * np.mean(ddev_from_mean, axis=0)"),
    (SEED002, "dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)", "dmu = -1 * np.sum(dxmu1, axis=0)"),  # sum(dxmu2) = 0
    # x for x - mu: dxmu is off by a constant, which step 1 subtracts again (the intermediate is wrong, dx is not)
    (SEED003, "ddev_from_mean += 2 * dev_from_mean", "ddev_from_mean += 2 * x"),
    (SEED002, "dvar = 0.5 * 1. / np.sqrt(var + eps) * dsqrtvar", "dvar = 0.5 * ivar * dsqrtvar"),
    (FAST, "(var + eps)**(-1.0)", "np.reciprocal(var + eps)"),
]


@pytest.mark.parametrize("case, old, new", REWRITINGS, ids=[new.strip()[:40] for _, _, new in REWRITINGS])
def test_a_rewriting_is_proved(case, old, new):
    report = check(case, mutate(case.source(), old, new))
    assert [i.result.verdict for i in report.items] == [PROVED] * 3, report.table()


TORCH_LAYERNORM = '''
import torch

def layernorm_backward(dout, cache):
    xhat, gamma, ivar = cache
    D = xhat.shape[-1]
    dbeta = torch.sum(dout, dim=0)
    dgamma = (dout * xhat).sum(0)
    g = dout * gamma
    mean_g = g.mean(dim=-1, keepdim=True)
    dx = ivar * (g - mean_g - xhat * torch.mean(g * xhat, dim=-1, keepdim=True))
    return dx, dgamma, dbeta
'''

HELPERS = '''
import numpy as np

def column_mean(a):
    return np.mean(a, axis=0)

def batchnorm_backward(dout, cache):
    x, mu, var, eps, gamma = cache
    ivar = (var + eps) ** -0.5
    xhat = (x - mu) * ivar
    dxhat = dout * gamma
    dx = ivar * (dxhat - column_mean(dxhat) - xhat * column_mean(dxhat * xhat))
    return dx, np.sum(dout * xhat, axis=0), np.sum(dout, axis=0)
'''


def test_torch_and_helpers_are_read():
    ln = LAYERS["layernorm"]
    report = symbn.check_code(ln, TORCH_LAYERNORM, bind={"dout": "dy"}, axis=-1, time_limit=None)
    assert [i.result.verdict for i in report.items] == [PROVED] * 3, report.table()
    report = symbn.check_code(LAYERS["batchnorm"], HELPERS, function="batchnorm_backward", bind={"dout": "dy"},
                              time_limit=None)
    assert [i.result.verdict for i in report.items] == [PROVED] * 3, report.table()


def test_torch_var_is_unbiased_by_default():
    """torch.var divides by N - 1 unless told otherwise: a classic mistake in a forward recomputed in torch."""
    code = '''
import torch

def backward(dout, x, gamma, eps):
    var = x.var(dim=0)
    ivar = torch.rsqrt(var + eps)
    xhat = (x - x.mean(0)) * ivar
    return (dout * xhat).sum(0)
'''
    bn = LAYERS["batchnorm"]
    (item,) = symbn.check_code(bn, code, bind={"dout": "dy"}, returns=["gamma"], time_limit=None).items
    assert item.result.verdict == REFUTED and item.result.first_wrong.line == 5
    fixed = code.replace("x.var(dim=0)", "x.var(dim=0, unbiased=False)")
    (item,) = symbn.check_code(bn, fixed, bind={"dout": "dy"}, returns=["gamma"], time_limit=None).items
    assert item.result.verdict == PROVED


def test_a_stage_adjoint_may_be_returned():
    code = "def f(dout, gamma, ivar, xhat):\n    dxhat = dout * gamma\n    return -ivar * np.sum(dxhat, axis=0)\n"
    (item,) = symbn.check_code(LAYERS["batchnorm"], code, bind={"dout": "dy"}, returns=["mu"], time_limit=None).items
    assert item.result.verdict == PROVED, item.result


def test_where_it_goes_wrong_reports_every_intermediate():
    source = mutate(SEED003.source(), "ddev_from_mean_sq = 1/N *", "ddev_from_mean_sq = 1/(N-1) *")
    (x, _, _) = check(SEED003, source).items
    checks = {c.name: c.verdict for c in x.result.lines if c.how != "returns"}
    assert checks["dx_norm"] == checks["dvar"] == checks["dscaled_x"] == "right"
    assert checks["ddev_from_mean_sq"] == "wrong" and checks["dmean"] == "right"  # sum(2*xmu*dsq) is 0 either way
    first = x.result.first_wrong
    assert first.expected == "-gamma*ivar**2/2*mean(dy*xhat)" and "N - 2" in first.got
    assert x.result.difference.text == "-gamma*ivar/(N - 1)*xhat*mean(dy*xhat)"


def test_a_part_of_an_adjoint_is_recognised_by_value():
    (x, _, _) = check(SEED002, mutate(SEED002.source(), "dxmu2 = 2 * xmu * dsq", "dxmu2 = xmu * dsq")).items
    lines = {c.name: c for c in x.result.lines}
    assert lines["dxmu1"].verdict == "right" and "through xhat" in lines["dxmu1"].quantity
    assert lines["dxmu2"].verdict == "wrong"
    assert x.result.first_wrong.expected.startswith("one of ") and "(through sq)" in x.result.first_wrong.expected
