"""The sharded realisation: one slice split across K devices, each holding a shard of it.

A slice of N = N_1 + ... + N_K values is the concatenation of K shards.  Each shard
is a realisation of its own (the moment algebra with its own size N_k and moments
S_k[m], explicit symbols, or numbers); a value is a :class:`PerShard` of one value
per shard, and a value the same on every device (a merged statistic) is a plain one.

- ``shard_sum`` sums within each shard; ``allreduce`` sums a per-shard value over the
  devices; ``sum`` over the whole slice is the sum of the shards' sums; ``Nk`` is each
  shard's size and ``N`` their total.
- The free index j lies in the first shard: shard sizes are arbitrary, so that is no
  loss (any shard can be called the first).

The single-device layer realised here computes on the concatenated slice, so its
values and the split computation's can be compared exactly, for symbolic sizes.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import sympy as sp

from symbn.ir.primitives import ROW
from symbn.realise.protocol import Elementwise, NotSymbolic, Point


class PerShard(Elementwise):
    """One value per shard; arithmetic is shard by shard, a plain value meets every shard."""

    __slots__ = ("parts",)

    def __init__(self, parts: Sequence[Any]):
        self.parts = tuple(parts)

    def _parts(self) -> tuple:
        return self.parts

    def __repr__(self) -> str:
        return f"PerShard({list(self.parts)})"


def parts(value, k: int) -> list:
    """A value as k parts (a plain value is the same on every shard)."""
    return list(value.parts) if isinstance(value, PerShard) else [value] * k


class Sharded:
    """The realisation over ``bases``, one realisation per shard (the same kind for all)."""

    def __init__(self, bases: Sequence[Any], kinds: dict[str, str]):
        self.bases, self.kinds, self.K = list(bases), dict(kinds), len(bases)
        first = self.bases[0]
        self.n = getattr(first, "n", None) and sum(b.n for b in self.bases)
        self.j = getattr(first, "j", 0)
        self.N = sum((b.N for b in self.bases[1:]), self.bases[0].N)
        self.Nk = PerShard([b.N for b in self.bases])

    def _each(self, value, f) -> Any:
        if isinstance(value, PerShard):
            return PerShard([f(b, v) for b, v in zip(self.bases, value.parts)])
        return f(self.bases[0], value)

    # --- the protocol -------------------------------------------------------------------------

    def input(self, name: str):
        if self.kinds[name] == ROW:
            return PerShard([b.input(name) for b in self.bases])
        return self.bases[0].input(name)

    def const(self, value: Fraction):
        return self.bases[0].const(value)

    def sum(self, value):
        return sum((b.sum(v) for b, v in zip(self.bases, parts(value, self.K))), self.bases[0].const(Fraction(0)))

    def shard_sum(self, value):
        return PerShard([b.sum(v) for b, v in zip(self.bases, parts(value, self.K))])

    def allreduce(self, value):
        return sum(parts(value, self.K), self.bases[0].const(Fraction(0)))

    def sqrt(self, value):
        return self._each(value, lambda b, v: b.sqrt(v))

    def exp(self, value):
        return self._each(value, lambda b, v: b.exp(v))

    def log(self, value):
        return self._each(value, lambda b, v: b.log(v))

    def seed(self, kind: str):
        """e_j for a row (j in the first shard), 1 for a per-slice input."""
        if kind != ROW:
            return self.bases[0].seed(kind)
        zeros = [b.seed(kind) * 0 for b in self.bases[1:]]
        return PerShard([self.bases[0].seed(kind), *zeros])

    def at_j(self, value):
        return self.bases[0].at_j(value.parts[0] if isinstance(value, PerShard) else value)

    def diff(self, f, name: str):
        raise NotSymbolic("a split slice is compared through its routes, not SymPy's diff")

    def zero(self, value, name: str):
        return self._each(value, lambda b, v: b.zero(v, name))

    def substitution(self, point: Point) -> dict:
        """Each shard's symbols -> the point's values on that shard (``point.sizes`` splits the rows)."""
        sub: dict = {}
        for b, shard in zip(self.bases, split(point)):
            sub.update(b.substitution(shard))
        return sub

    def atoms(self, name: str) -> tuple:
        return tuple(dict.fromkeys(a for b in self.bases for a in b.atoms(name)))

    @property
    def moments(self) -> dict:
        out: dict = {}
        for b in self.bases:
            out.update(b.moments)
        return out


def split(point: Point) -> list[Point]:
    """A point on the concatenated slice as one point per shard (rows cut by ``point.sizes``)."""
    out, start = [], 0
    for size in point.sizes:
        values = {k: (list(v[start:start + size]) if isinstance(v, (list, tuple)) else v) for k, v in point.values.items()}
        out.append(Point(size, point.j if start == 0 else 0, values))
        start += size
    return out


def size_symbols(k: int) -> list[sp.Symbol]:
    return [sp.Symbol(f"N[{s + 1}]", integer=True, positive=True) for s in range(k)]


__all__ = ["PerShard", "Sharded", "parts", "size_symbols", "split"]
