"""The number realisation: one data point, evaluated in an mpmath context.

Values are mpmath numbers: a row is a :class:`~symbn.realise.concrete.Row` of
them, a per-slice value one number.  With ``mpmath.mp`` they are high-precision
floats (the numeric reference of :mod:`symbn.numeric`); with ``mpmath.iv`` they are
intervals that are guaranteed to hold the exact value, so two results whose
intervals do not meet are certainly different.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import mpmath

from symbn.ir.primitives import ROW
from symbn.realise.concrete import Row
from symbn.realise.protocol import NotSymbolic, Point


class MP:
    """A realisation of numbers at ``point``, in the mpmath context ``ctx``."""

    def __init__(self, point: Point, kinds: Mapping[str, str], ctx=mpmath.mp):
        self.point, self.kinds, self.ctx = point, dict(kinds), ctx
        self.n, self.j = point.n, point.j
        self.N = ctx.mpf(point.n)

    def number(self, value: Any):
        """An exact number (int, Fraction, SymPy Rational, float) in this context."""
        if isinstance(value, (int, Fraction)) or hasattr(value, "q"):
            q = Fraction(int(value.p), int(value.q)) if hasattr(value, "q") else Fraction(value)
            return self.ctx.mpf(q.numerator) / q.denominator
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

    def at_j(self, value):
        return value.items[self.j] if isinstance(value, Row) else value

    def diff(self, f, name: str):
        raise NotSymbolic("the number realisation has no symbols to differentiate")

    def substitution(self, point: Point) -> dict:
        raise NotSymbolic("the number realisation has no symbols to substitute")


__all__ = ["MP"]
