"""The fast forms, and Rows: the moment algebra over a layer's names that they are computed on."""

from __future__ import annotations

import pytest
import sympy as sp

import symbn
from symbn.ad.interpret import primal
from symbn.emit.rearrange import Rearranger, Rows, fast_forms
from symbn.realise.moments import Moments

from ..files import ROOT

FAST = {
    "batchnorm": {"x": "gamma*ivar*(dy - ivar**2*mean(dy*xmu)*xmu - mean(dy))", "gamma": "ivar*sum(dy*xmu)",
                  "beta": "sum(dy)"},
    "layernorm": {"x": "ivar*(dy*gamma - ivar**2*mean(dy*gamma*xmu)*xmu - mean(dy*gamma))", "gamma": "ivar*dy*xmu",
                  "beta": "dy"},
    "rmsnorm": {"x": "irms*(dy*gamma - irms**2*mean(dy*gamma*x)*x)", "gamma": "irms*dy*x"},
}


@pytest.mark.parametrize("name", sorted(FAST))
def test_fast_forms_of_the_files(name):
    assert fast_forms(symbn.load(ROOT / f"derivations/{name}.toml")) == FAST[name]


def test_product_stages_are_inlined_and_sums_named(bn):
    r = Rearranger(bn)
    x, mu, xmu, ivar, gamma, beta, y = sp.symbols("x mu xmu ivar gamma beta y")
    assert r.env["xhat"] == xmu * ivar  # a product: no array for a scaled copy
    assert r.env["sq"] == xmu**2
    assert r.env["xmu"] == xmu and r.env["y"] == y  # sums: kept as atoms
    assert r.B.named == {xmu: x - mu, y: gamma * xmu * ivar + beta}
    assert r.env["mu"] == mu and r.env["ivar"] == ivar  # per-slice stages: their symbols


def test_a_centring_written_out_is_recognised(bn):
    """``x - mu`` in a formula is the stage xmu: expanding it would undo the two-pass centring."""
    text = "gamma*ivar*(dy - mean(dy) - (x - mu)*ivar**2*mean(dy*(x - mu)))"
    assert fast_forms(bn, {"x": bn.formula(text)}) == {"x": FAST["batchnorm"]["x"]}


def test_adjoints_are_rows_or_scalars_by_their_stage(bn):
    """dxhat is a row: its sum over the slice stays a sum (it was once taken for a
    per-slice value, and Σ dxhat became N·dxhat)."""
    (claim,) = [c for c in bn.claims if c.id == "seed-001-dmu-chain"]
    assert fast_forms(bn, {"mu": claim.formula}) == {"mu": "-((N*sum(dxhat) + 2*dvar*sqrtvar*sum(xmu))/(sqrtvar*N))"}


def test_rows_sum_is_the_moment_algebra(bn):
    """Σ over the slice in Rows' atoms is the moment algebra's Σ of the values they stand for."""
    r = Rearranger(bn)
    B = r.B
    assert Rows.sum is Moments.sum
    kinds = {**bn.graph.kinds, "dy": bn.output_kind}
    E = Moments(kinds)
    env = primal(bn.graph, E)
    env["dy"] = E.input("dy")

    def engine(e):
        e = sp.sympify(e)
        sub = {}
        for s in e.free_symbols:
            if s in B.moment_body:
                sub[s] = E.sum(engine(B.moment_body[s]))
            elif str(s) in env:
                sub[s] = env[str(s)]
        return e.xreplace(sub)

    xmu, dy, gamma, ivar = (B.input(n) for n in ("xmu", "dy", "gamma", "ivar"))
    for body in (xmu, dy * xmu, 3 * gamma * dy * xmu**2 - ivar * dy + 2, dy * B.sum(dy * xmu) * xmu, gamma):
        total = B.sum(body)
        assert not total.free_symbols & B.i_atoms
        assert sp.cancel(sp.together(engine(total) - E.sum(engine(body)))) == 0


def test_sums_of_a_named_stage_are_moments(bn):
    B = Rearranger(bn).B
    xmu, dy, gamma = (B.input(n) for n in ("xmu", "dy", "gamma"))
    assert B.sum(gamma * dy * xmu) == gamma * B.moment(dy * xmu)
    assert B.sum(gamma) == B.N * gamma
    assert str(B.moment(dy * xmu)) == "S[dy*xmu]"


def test_a_reciprocal_is_printed_plainly():
    layer = symbn.loads("""
[layer]
name = "scale"
stages = ["y = x/N"]
output = "y"
[inputs]
x = { kind = "row" }
[closed_form]
x = "dy/N"
""", "scale.toml")
    assert fast_forms(layer) == {"x": "1/N*dy"}  # it was 1/N**1*dy
