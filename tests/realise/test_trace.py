"""The tracing realisation writes a computation down; running it gives the same values."""

from fractions import Fraction

import sympy as sp

from symbn.ad.interpret import run
from symbn.ir.graph import Builder
from symbn.ir.primitives import CONSTANT, ROW, SCALAR
from symbn.realise.concrete import Concrete
from symbn.realise.trace import Traced, Tracer, atom


def test_a_traced_function_evaluates_like_the_function():
    b = Builder({"x": ROW, "g": SCALAR, "N": CONSTANT})
    T = Tracer(b)
    x, g = T.var("x"), T.var("g")
    out = T.sum((x - T.sum(x) / T.N) ** Fraction(2)) * g / (2 + g) - T.sqrt(T.exp(g)) + T.log(g * 3)
    b.define("y", atom(out), "y")
    B = Concrete(3, {"x": ROW, "g": SCALAR})
    X, G = B.input("x"), B.input("g")
    env = run(b.eqns, {"x": X, "g": G, "N": B.N}, B)
    mean = sum(X.items) / 3
    want = sum((xi - mean) ** 2 for xi in X.items) * G / (2 + G) - sp.sqrt(sp.exp(G)) + sp.log(3 * G)
    assert sp.simplify(env["y"] - want) == 0


def test_numbers_are_folded_and_times_one_is_dropped():
    b = Builder({"x": ROW, "N": CONSTANT})
    T = Tracer(b)
    assert isinstance(T.const(Fraction(2)) * 3 + 1, Traced) and (T.const(Fraction(2)) * 3 + 1).atom == 7
    assert (T.var("x") * 1).atom == "x" and not b.eqns
    assert T.sum(T.const(Fraction(2))).atom != 2  # Σ_i 2 = 2N: a per-slice value
