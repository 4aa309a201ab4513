"""The plan: what the backward reads, saves and recomputes, and the names it will not share."""

from __future__ import annotations

import pytest

import symbn
from symbn.emit.certify import NotCertified
from symbn.emit.plan import RESERVED, Plan


def test_batchnorm_saves_its_statistics_and_recomputes_its_rows(bn):
    plan = Plan(bn, {"x": "gamma*ivar*(dy - ivar**2*mean(dy*xmu)*xmu - mean(dy))", "gamma": "ivar*sum(dy*xmu)",
                     "beta": "sum(dy)"})
    assert plan.data == "x"
    assert plan.saved_order == ("mu", "ivar") and plan.rows == {"xmu"}
    assert plan.closure({"ivar"}) == {"mu", "xmu", "sq", "var", "sqrtvar", "ivar"}
    assert [e.stage for e in plan.eqns(plan.rows)] == ["xmu"]
    assert plan.texts()["gamma"] == "ivar*sum(dy*xmu)"


def test_a_name_the_emitted_code_uses_is_refused():
    assert {"n", "shape", "out"} <= RESERVED
    layer = symbn.loads("""
[layer]
name = "clash"
stages = ["shape = x*a"]
output = "shape"
[inputs]
x = { kind = "row" }
a = { kind = "scalar" }
""", "clash.toml")
    with pytest.raises(NotCertified, match="the name 'shape' is used by the emitted code; rename it") as info:
        Plan(layer, {"x": "a*dy", "a": "sum(dy*x)"})
    assert info.value.verdict == "missing"


def test_a_layer_without_a_row_input_is_refused():
    layer = symbn.loads("""
[layer]
name = "scalars"
stages = ["y = a*b"]
output = "y"
[inputs]
a = { kind = "scalar" }
b = { kind = "scalar" }
""", "scalars.toml")
    with pytest.raises(NotCertified, match="no row input"):
        Plan(layer, {"a": "dy*b", "b": "dy*a"})
