"""The number realisation: one data point, evaluated in a context of numbers.

A row is a :class:`~symbn.realise.concrete.Row` of numbers, a per-slice value one
number.  The context decides what a number is:

- ``mpmath.mp``: high-precision floats (the numeric reference of :mod:`symbn.numeric`);
- :data:`BALLS`: FLINT's arb balls, a midpoint and a radius guaranteed to hold the
  exact value, so two results whose balls do not meet are certainly different (how
  the prover refutes); the square root or log of a negative number is NaN;
- :data:`EXACT`: SymPy's exact numbers, rationals and algebraic numbers such as
  3*sqrt(2)/4 (how a counterexample's values are shown).
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import contextmanager
from fractions import Fraction
from typing import Any

import flint
import mpmath
import sympy as sp

from symbn.ir.primitives import ROW
from symbn.realise.concrete import Row
from symbn.realise.protocol import NotSymbolic, Point


class Numbers:
    """A realisation of numbers at ``point``, in the context ``ctx``."""

    def __init__(self, point: Point, kinds: Mapping[str, str], ctx=mpmath.mp):
        self.point, self.kinds, self.ctx = point, dict(kinds), ctx
        self.n, self.j = point.n, point.j
        self.N = ctx.mpf(point.n)

    def number(self, value: Any):
        """An exact number (int, Fraction, SymPy Rational) or a float, in this context."""
        if isinstance(value, sp.Rational):
            value = Fraction(int(value.p), int(value.q))
        if isinstance(value, int):
            value = Fraction(value)
        if isinstance(value, Fraction):
            return self.ctx.mpf(value) if self.ctx is BALLS else self.ctx.mpf(value.numerator) / self.ctx.mpf(value.denominator)
        return self.ctx.mpf(value)

    def input(self, name: str):
        value = self.point.values[name]
        if self.kinds[name] == ROW:
            return Row([self.number(v) for v in value])
        return self.number(value)

    def const(self, value: Fraction):
        return self.number(value)

    def sqrt(self, v):
        return v.map(self.ctx.sqrt) if isinstance(v, Row) else self.ctx.sqrt(v)

    def exp(self, v):
        return v.map(self.ctx.exp) if isinstance(v, Row) else self.ctx.exp(v)

    def log(self, v):
        return v.map(self.ctx.log) if isinstance(v, Row) else self.ctx.log(v)

    def sum(self, v):
        return self.ctx.fsum(v.items) if isinstance(v, Row) else self.N * v

    def seed(self, kind: str):
        if kind != ROW:
            return self.ctx.mpf(1)
        return Row([self.ctx.mpf(int(k == self.j)) for k in range(self.n)])

    # --- one device: a shard is the whole slice ------------------------------------------------

    @property
    def Nk(self):
        return self.N

    def shard_sum(self, v):
        return self.sum(v)

    def allreduce(self, v):
        return v

    def at_j(self, value):
        return value.items[self.j] if isinstance(value, Row) else value

    def diff(self, f, name: str):
        raise NotSymbolic("the number realisation has no symbols to differentiate")

    def zero(self, value, name: str):
        raise NotSymbolic("only a realisation of symbols sets an input to 0 afterwards")

    def substitution(self, point: Point) -> dict:
        raise NotSymbolic("the number realisation has no symbols to substitute")

    def atoms(self, name: str) -> tuple:
        raise NotSymbolic("the number realisation has no symbols")

    @property
    def moments(self) -> dict:
        return {}


class _Balls:
    """FLINT's arb balls at the working precision of ``flint.ctx.prec`` (see :func:`precision`)."""

    @staticmethod
    def mpf(value):
        if isinstance(value, Fraction):
            return flint.arb(flint.fmpq(value.numerator, value.denominator))
        return flint.arb(value)

    @staticmethod
    def sqrt(x):
        return x.sqrt()

    @staticmethod
    def exp(x):
        return x.exp()

    @staticmethod
    def log(x):
        return x.log()

    @staticmethod
    def fsum(items):
        total = flint.arb(0)
        for item in items:
            total += item
        return total


@contextmanager
def precision(bits: int):
    """Work at ``bits`` bits of precision in :data:`BALLS`."""
    old = flint.ctx.prec
    flint.ctx.prec = bits
    try:
        yield
    finally:
        flint.ctx.prec = old


class _Exact:
    """SymPy's exact numbers, with the names of an mpmath context."""

    @staticmethod
    def mpf(value):
        return sp.Rational(value) if isinstance(value, (int, str)) else sp.nsimplify(value, rational=True)

    sqrt, exp, log = staticmethod(sp.sqrt), staticmethod(sp.exp), staticmethod(sp.log)

    @staticmethod
    def fsum(items):
        return sp.Add(*items)


BALLS, EXACT = _Balls(), _Exact()


def ball(e: sp.Basic):
    """An exact SymPy number (rationals, radicals, exp, log, pi) as a FLINT ball."""
    e = sp.sympify(e)
    if e.is_Rational:
        return flint.arb(flint.fmpq(int(e.p), int(e.q)))
    if e.is_Add:
        return BALLS.fsum(ball(a) for a in e.args)
    if e.is_Mul:
        out = flint.arb(1)
        for a in e.args:
            out *= ball(a)
        return out
    if e.is_Pow:
        base = ball(e.base)
        return base ** int(e.exp) if e.exp.is_Integer else base ** ball(e.exp)
    if isinstance(e, sp.exp):
        return ball(e.args[0]).exp()
    if isinstance(e, sp.log):
        return ball(e.args[0]).log()
    if e is sp.pi:
        return flint.arb.pi()
    if e is sp.E:
        return flint.arb(1).exp()
    raise TypeError(f"not an exact real number: {e}")


__all__ = ["BALLS", "EXACT", "Numbers", "ball", "precision"]
