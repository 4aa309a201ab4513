"""Exact counterexamples: a slice size, rational data, and the two sides' values.

A refutation is never "the normal form is not zero" (moment atoms are not
independent at every N); it is a point where the two sides differ, evaluated
exactly.  The point is chosen so that every radicand is a rational square: for
sqrt(var + eps), pick a rational root s with s² > var and set eps = s² - var.  Then
the whole layer, its gradients and any formula are rational at the point, and
the two sides are compared as exact Rationals.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sympy as sp

from symbn.ir.primitives import ROW
from symbn.lang.derivation import Layer
from symbn.realise.concrete import Concrete
from symbn.realise.protocol import Point


@dataclass(frozen=True)
class Counterexample:
    n: int
    j: int  # 0-based free index (0 for a scalar wrt)
    values: Mapping[str, Any]  # input -> Rational or list of Rationals, dy included
    lhs: sp.Expr  # exact: a Rational, or an algebraic number such as 3*sqrt(2)/4
    rhs: sp.Expr

    def to_json(self) -> dict:
        show = lambda v: [str(a) for a in v] if isinstance(v, (list, tuple)) else str(v)
        return {
            "N": self.n,
            "j": self.j,
            "values": {k: show(v) for k, v in self.values.items()},
            "lhs": str(self.lhs),
            "rhs": str(self.rhs),
        }

    def __str__(self) -> str:
        vals = ", ".join(f"{k}={_short(v)}" for k, v in self.values.items())
        return f"N={self.n}, j={self.j}: {self.lhs} != {self.rhs} at {vals}"


def _short(v) -> str:
    return "[" + ", ".join(str(a) for a in v) + "]" if isinstance(v, (list, tuple)) else str(v)


Side = Callable[[Any], Any]  # routes-on-a-realisation -> gradient (tuple over j, or scalar)


def search(
    layer: Layer,
    sides: tuple[Side, Side],
    routes_at: Callable[[int], Any],
    sizes: Sequence[int] = (3, 2, 4, 5, 1, 6),
    tries: int = 4,
    seed: int = 0,
) -> Counterexample | None:
    """Look for a point where the two sides differ.  ``routes_at(n)`` gives the
    (cached) concrete-n routes; each side maps them to symbolic values at n, which
    are then evaluated exactly at random rational points."""
    rng = random.Random(seed)
    for n in sizes:
        routes = routes_at(n)
        left, right = (side(routes) for side in sides)
        for _ in range(tries):
            point = random_point(layer, routes.B, routes.env, rng)
            if point is None:
                continue
            sub = routes.B.substitution(Point(n, routes.B.j, point))
            found = _compare(left, right, sub, n, routes.B.j, point)
            if found is not None:
                return found
    return None


def _compare(left, right, sub, n, j, point) -> Counterexample | None:
    va, vb = _value(left, sub), _value(right, sub)
    if va is None or vb is None:
        return None  # undefined at this point (a division by zero): try another
    return Counterexample(n, j, point, va, vb) if _differ(va, vb) else None


def _value(e, sub) -> sp.Expr | None:
    """The exact value at a point; None where undefined (a division by zero) or not real."""
    v = sp.sympify(e).xreplace(sub)
    if not v.is_number:
        return None
    if v.has(sp.zoo, sp.nan, sp.oo, -sp.oo, sp.I) or v.is_extended_real is False:
        return None
    return v


def _differ(a: sp.Expr, b: sp.Expr) -> bool:
    """Exactly different.  Rationals compare exactly; for algebraic values (a radicand
    that is not a square) the difference is evaluated to 60 digits by SymPy's evalf,
    which tracks its own error, and must be clearly away from zero."""
    if a.is_Rational and b.is_Rational:
        return a != b
    d = a - b
    if d == 0:
        return False
    value = sp.Abs(d).evalf(60)
    try:
        return bool(value.is_number and value > sp.Float("1e-40", 60))
    except TypeError:  # not real after all (e.g. a negative number to a fractional power)
        return False


def random_point(layer: Layer, B: Concrete, env: Mapping[str, Any], rng: random.Random) -> dict | None:
    """Random rational data, with the constants under a square root chosen so the
    root is rational."""
    n = B.n
    point: dict[str, Any] = {}
    for name, kind in [*((i, layer.graph.kinds[i]) for i in layer.graph.inputs), ("dy", layer.output_kind)]:
        if kind == ROW:
            point[name] = [_rational(rng) for _ in range(n)]
        elif layer.inputs.get(name) is None or layer.inputs[name].differentiable:
            point[name] = _rational(rng, positive=name in layer.inputs and layer.inputs[name].positive)
    for c in layer.constants:
        point[c] = _rational(rng, positive=True)
    for eqn in layer.graph.eqns:  # make each radicand a rational square by choosing a constant
        arg = eqn.args[0]
        if (eqn.prim.name == "sqrt" and isinstance(arg, str) and arg.kind != ROW
                and not _make_square(layer, B, sp.sympify(env[arg]), point, rng)):
            return None
    return point


def _make_square(layer: Layer, B: Concrete, radicand: sp.Expr, point: dict, rng: random.Random) -> bool:
    """Choose the first constant under the root so that the radicand, a*c + r at the
    point, equals s**2 for a rational s, with c > 0.  False if that cannot be done."""
    constants = [c for c in layer.constants if B.input(c) in radicand.free_symbols]
    if not constants:
        return True  # nothing to choose: an irrational value is decided exactly later
    c = constants[0]
    sub = B.substitution(Point(B.n, B.j, {**point, c: B.input(c)}))  # everything but c
    value = sp.expand(radicand.xreplace(sub))
    a = value.coeff(B.input(c))
    r = sp.expand(value - a * B.input(c))
    if not (a.is_Rational and r.is_Rational) or a == 0:
        return True  # not linear in c at this point: leave c random
    for _ in range(20):
        s = sp.Rational(rng.randint(1, 12), rng.choice((1, 2, 3)))
        if (s**2 - r) / a > 0:
            point[c] = (s**2 - r) / a
            return True
    return False


def _rational(rng: random.Random, positive: bool = False) -> sp.Rational:
    if positive:
        return sp.Rational(rng.randint(1, 9), rng.choice((1, 2, 4)))
    return sp.Rational(rng.randint(-9, 9), rng.choice((1, 2, 3)))
