"""Refutation: both sides evaluated at random points of the layer's domain, on balls.

Before any normal form, the two sides of an obligation are evaluated with the same
routes on the number realisation (:class:`~symbn.realise.numbers.Numbers`) at a few
exact points inside the domain, in FLINT balls that hold the exact values.  Balls
that do not meet are a counterexample at once; so is a claim that takes the root or
log of a negative number at a point where the layer is defined.  Only agreement at
every point sends the pair on to the proof.  The route that needs symbols (SymPy's
diff) is computed at the point's N in explicit symbols and evaluated there.

A counterexample's values are then computed exactly (SymPy numbers) for showing.
Where a constant enters a square root of the layer linearly (ε in v + ε), it is
chosen so that the radicand is a rational square, which keeps the values rational.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from fractions import Fraction
from typing import Any

import sympy as sp

from symbn.ad.interpret import primal
from symbn.ir.primitives import ROW, sqrt_p
from symbn.lang.derivation import Formula, Layer
from symbn.proof import domain
from symbn.proof.counterexample import NOT_REAL, Counterexample
from symbn.proof.routes import Routes, numbers, realisation
from symbn.realise.numbers import BALLS, EXACT, ball, precision
from symbn.realise.protocol import NotSymbolic, Point

BITS = 256  # working precision of the balls
QUICK = (3, 2, 4)  # slice sizes tried before a proof, one point each
THOROUGH = (3, 2, 4, 5, 1, 6, 3, 2, 4, 5)  # after a normal form that is not 0
WIDER = (7, 8, 9, 10, 11, 12, 16)  # for sides fast at a point: a term with a factor (N - 1)...(N - 6) is 0 below 7
FINER = (1024, 8192)  # the points again at more bits: a 1e-300·dy term is below 256 bits' reach


@dataclass(frozen=True)
class Side:
    """One side of an obligation: its value at j on any routes, and the formula whose
    own domain matters (a claim, a closed form), if any."""

    label: str
    value: Callable[[Routes], Any]
    formula: Formula | None = None
    key: tuple = ()  # what the value is, for caching symbolic values (e.g. ("direct", "x"))
    symbolic: bool = False  # needs symbols (SymPy's diff): slow at a point, computed in explicit symbols
    explain: Callable[..., Any] | None = None  # explain(prover, wrt, sides, result): a refuted result, explained


class Refuter:
    """Domain points of one layer (cached, shared by every obligation) and the search."""

    def __init__(self, layer: Layer, n: int | None = None, seed: int = 0):
        self.layer, self.n = layer, n
        self.kinds = layer.kinds
        self.sampler = domain.Sampler(layer, seed)
        self.rng = random.Random(seed)
        self.points: list[tuple[Point, Routes]] = []
        self._symbolic: dict[tuple[int, int], Routes] = {}
        self._values: dict[tuple, Any] = {}
        self._tried: dict[int, int] = {}

    def refute(self, sides: tuple[Side, Side], sizes: tuple[int, ...] = QUICK) -> Counterexample | None:
        with precision(BITS):
            for point, routes in self._domain_points(sizes):
                found = self._at(point, routes, sides)
                if found is not None:
                    return found
        return None

    def refute_harder(self, sides: tuple[Side, Side]) -> Counterexample | None:
        """After THOROUGH found nothing: its points in finer balls, then larger N (for sides fast at a
        point), in 256 bits and finer. Balls that overlap say nothing, so two sides apart by less than
        2^-256 of their size need more bits; the verdict is as certain at any precision."""
        tried = list(self.points)
        found = self._finer(sides, tried)
        if found is None and self.n is None and not any(s.symbolic for s in sides):
            found = self.refute(sides, WIDER) or self._finer(sides, [p for p in self.points if p not in tried])
        return found

    def _finer(self, sides: tuple[Side, Side], points: list[tuple[Point, Routes]]) -> Counterexample | None:
        for bits in FINER:
            with precision(bits):
                for point, _ in points:
                    try:
                        routes = Routes(self.layer, numbers(self.layer, point, BALLS))
                    except (ZeroDivisionError, ValueError):
                        continue
                    found = self._at(point, routes, sides)
                    if found is not None:
                        return found
        return None

    def point(self, n: int) -> Point | None:
        """A random exact point of size n inside the layer's domain (None if none was found)."""
        with precision(BITS):
            found = self._new_point(n)
        return None if found is None else found[0]

    def sizes_tried(self) -> list[int]:
        return sorted({p.n for p, _ in self.points})

    # --- points inside the domain ------------------------------------------------------------

    def _domain_points(self, sizes: tuple[int, ...]) -> Iterator[tuple[Point, Routes]]:
        wanted = [self.n] * len(sizes) if self.n is not None else list(sizes)
        used: dict[int, int] = {}
        for n in wanted:
            k = used.get(n, 0)
            used[n] = k + 1
            have = [p for p in self.points if p[0].n == n]
            if k < len(have):
                yield have[k]
                continue
            found = self._new_point(n)
            if found is not None:
                self.points.append(found)
                yield found

    def _new_point(self, n: int, tries: int = 40) -> tuple[Point, Routes] | None:
        if self._tried.get(n, 0) > 4 * tries:
            return None  # this size has no domain points we can find (N = 1 with an N - 1 divisor, say)
        for _ in range(tries):
            self._tried[n] = self._tried.get(n, 0) + 1
            sizes = self._sizes(n)
            point = Point(n, 0, self._squares(Point(n, 0, self.sampler.point(n), sizes)), sizes)
            try:
                routes = Routes(self.layer, numbers(self.layer, point, BALLS))
            except (ZeroDivisionError, ValueError):
                continue
            if domain.check(self.layer.graph.eqns, routes.env, routes.B)[0] == domain.INSIDE:
                return point, routes
        return None

    def _sizes(self, n: int) -> tuple[int, ...]:
        """For a slice split across K devices: K random shard sizes adding up to n (else ())."""
        k = self.layer.shards
        if not k:
            return ()
        cuts = sorted(self.rng.sample(range(1, n), k - 1)) if n > k else list(range(1, k))
        return tuple(b - a for a, b in zip([0, *cuts], [*cuts, n]))

    def _squares(self, point: Point) -> dict[str, Any]:
        """The point, with each constant that enters a square root of the layer linearly
        chosen so that the radicand is a rational square (kept inside its sign)."""
        values = dict(point.values)
        for eqn in self.layer.graph.eqns:
            if eqn.prim is not sqrt_p or not isinstance(eqn.args[0], str) or eqn.args[0].kind == ROW:
                continue
            for c in self.layer.constants:
                seen = []
                for trial in (0, 1, 2):
                    try:
                        at = Point(point.n, 0, {**values, c: Fraction(trial)}, point.sizes)
                        env = primal(self.layer.graph, numbers(self.layer, at, EXACT))
                    except (ZeroDivisionError, ValueError, TypeError):
                        break
                    seen.append(env[eqn.args[0]])
                seen = [sp.sympify(v) for v in seen if not hasattr(v, "parts")]
                if len(seen) < 3 or not all(v.is_Rational for v in seen):
                    continue
                r, a = seen[0], seen[1] - seen[0]
                if a == 0 or seen[2] != r + 2 * a:
                    continue  # not linear in c
                for _ in range(20):
                    s = sp.Rational(self.rng.randint(1, 12), self.rng.choice((1, 2, 3)))
                    value = (s**2 - r) / a
                    if value > 0 or not self.layer.inputs[c].positive:
                        values[c] = Fraction(int(value.p), int(value.q))
                        break
                break
        return values

    # --- one point ----------------------------------------------------------------------------

    def _at(self, point: Point, routes: Routes, sides: tuple[Side, Side]) -> Counterexample | None:
        values = []
        for side in sides:
            if side.formula is not None:
                why, at = domain.not_real(side.formula.eqns, routes.formula_env(side.formula), routes.B)
                if why:  # at the element where it is not real (a sum would carry it to every element)
                    point = point if at is None else replace(point, j=at)
                    return self._counterexample(point, sides, f"{side.label} is not real here: {why}", not_real=side)
            try:
                v = self._value(side, point, routes)
            except (ZeroDivisionError, ValueError):
                return None  # undefined at this point (a division by zero): it says nothing
            if v is None or not v.is_finite():
                return None
            values.append(v)
        if values[0].overlaps(values[1]):
            return None
        return self._counterexample(point, sides)

    def _value(self, side: Side, point: Point, routes: Routes):
        try:
            return side.value(routes)
        except NotSymbolic:  # SymPy's diff: explicit symbols at this N, then the point
            exact = self._exact_symbolic(side, point)
            return None if exact is None else ball(exact)

    def _exact_symbolic(self, side: Side, point: Point):
        key = (point.sizes or point.n, point.j)
        if key not in self._symbolic:
            self._symbolic[key] = Routes(self.layer, realisation(self.layer, point.sizes or point.n, point.j))
        routes = self._symbolic[key]
        cached = (key, side.key or id(side))
        if cached not in self._values:
            self._values[cached] = side.value(routes)
        value = self._values[cached]
        exact = sp.sympify(value).xreplace(routes.B.substitution(point))
        return exact if exact.is_number and not exact.has(sp.zoo, sp.nan, sp.oo, -sp.oo) else None

    def _counterexample(self, point: Point, sides: tuple[Side, Side], note: str = "", not_real: Side | None = None):
        exact = Routes(self.layer, numbers(self.layer, point, EXACT))
        shown = []
        for side in sides:
            if side is not_real:
                shown.append(NOT_REAL)
                continue
            try:
                shown.append(sp.sympify(side.value(exact)))
            except NotSymbolic:
                shown.append(self._exact_symbolic(side, point))
        values = {k: [sp.Rational(x.numerator, x.denominator) for x in v] if isinstance(v, list)
                  else sp.Rational(v.numerator, v.denominator) for k, v in point.values.items()}
        return Counterexample(point.n, point.j, values, shown[0], shown[1], note, point.sizes)


__all__ = ["FINER", "QUICK", "THOROUGH", "WIDER", "Refuter", "Side"]
