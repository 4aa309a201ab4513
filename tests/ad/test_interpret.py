"""The interpreter loop and symbolic zero."""

import sympy as sp

from symbn.ad.interpret import Zero, primal, run, zero
from symbn.lang.derivation import loads

LAYER = """
[layer]
name = "t"
stages = ["m = mean(x)", "y = (x - m)*g"]
output = "y"
[inputs]
x = { kind = "row" }
g = { kind = "scalar" }
"""


def test_zero_is_one_falsy_object():
    assert Zero() is zero and not zero and repr(zero) == "zero"


def test_run_evaluates_in_order_and_the_hook_sees_every_equation():
    from symbn.realise.concrete import Concrete

    layer = loads(LAYER)
    B = Concrete(2, {**layer.graph.kinds, "dy": "row"})
    env = primal(layer.graph, B)
    x1, x2 = B.input("x").items
    assert sp.simplify(env["m"] - (x1 + x2) / 2) == 0
    seen = []
    run(layer.graph.eqns, dict(env), B, then=lambda eqn, value: seen.append(eqn.out) or value)
    assert seen == [e.out for e in layer.graph.eqns]
