"""The backward and tangent passes written down as programs: their values are the engines' own."""

import random

import sympy as sp

import symbn
from symbn.ad.interpret import primal
from symbn.ad.programs import backward_program, tangent_program
from symbn.proof.routes import Routes, realisation
from symbn.realise.concrete import Concrete

from ..oracle import true_gradient


def test_the_backward_program_computes_h_from_the_first_order_gradients():
    layer = symbn.load("derivations/batchnorm.toml")
    dirs = {k: "dd" + k for k in layer.differentiable}
    program = backward_program(layer.graph, layer.differentiable, dirs)
    n = 3
    rng = random.Random(1)
    point = {"x": [sp.Rational(rng.randint(-9, 9), 2) for _ in range(n)], "gamma": sp.Rational(3, 2), "beta": sp.Integer(2),
             "eps": sp.Rational(1, 3), "dy": [sp.Integer(rng.randint(-5, 5)) for _ in range(n)],
             "ddx": [sp.Integer(rng.randint(-5, 5)) for _ in range(n)], "ddgamma": sp.Integer(2), "ddbeta": sp.Integer(-1)}
    B = Concrete(n, program.kinds)
    env = primal(program, B)
    sub = B.substitution(symbn.realise.protocol.Point(n, 0, point)) if hasattr(symbn, "realise") else None
    from symbn.realise.protocol import Point

    sub = B.substitution(Point(n, 0, point))
    h = sp.sympify(env["h"]).xreplace(sub)
    want = sum(point["ddx"][j] * true_gradient(layer, point, "x", n, j) for j in range(n))
    want += point["ddgamma"] * true_gradient(layer, point, "gamma", n, 0) + point["ddbeta"] * true_gradient(layer, point, "beta", n, 0)
    assert sp.simplify(h - want) == 0


def test_the_tangent_program_computes_the_forward_mode_tangent():
    layer = symbn.load("derivations/rmsnorm.toml")
    program = tangent_program(layer.graph, {"x": "dotx", "gamma": "dotgamma"})
    assert program.output == "ydot" and {"dotx", "dotgamma"} <= set(program.kinds)
    routes = Routes(layer, realisation(layer, 2))
    B = routes.B
    B2 = Concrete(2, program.kinds)
    env = primal(program, B2)
    t = sp.Symbol("t")
    shifted = Concrete(2, {**layer.kinds})
    x, g = shifted.input("x"), shifted.input("gamma")
    del routes, B
    value = env["ydot"]
    # y(x + t dotx, gamma + t dotgamma) differentiated once in t at 0, entry by entry
    from symbn.ad.interpret import inputs_env, run

    moved = inputs_env(layer.graph, shifted)
    dx, dg = B2.input("dotx"), B2.input("dotgamma")
    moved["x"] = x + t * dx
    moved["gamma"] = g + t * dg
    y = run(layer.graph.eqns, moved, shifted)[layer.graph.output]
    rename = dict(zip((*x.items, *g.items), (*B2.input("x").items, *B2.input("gamma").items)))
    for k in range(2):
        want = sp.diff(y.items[k], t).subs(t, 0).xreplace(rename)
        assert sp.simplify(value.items[k] - want) == 0
