"""What a realisation is: one way of representing values over a slice.

The interpreters (:mod:`symbn.ad`) never look inside a value.  They combine values
with Python's operators (``+ - * / **``, unary ``-``) and ask the realisation ``B``
for everything else, through the methods below, which every realisation has with
the same signatures:

=====================  ==================================================================
``B.N``                the slice size
``B.input(name)``      an input's value (a row at the bound index i; a per-slice symbol)
``B.const(q)``         an exact constant (a Fraction)
``B.sum(v)``           Σ_i v_i over the slice (N·v for a per-slice v)
``B.shard_sum(v)``     Σ_i over each device's shard (the whole slice on one device)
``B.allreduce(v)``     a per-shard value summed over the devices (itself on one device)
``B.Nk``               each shard's size (N on one device)
``B.sqrt/exp/log(v)``  elementwise functions
``B.seed(kind)``       the tangent of the input being differentiated: e_j for a row, 1
``B.at_j(v)``          a value at the free index j (a per-slice value is itself)
``B.diff(f, name)``    ∂f/∂name (at j for a row input) of a per-slice f, by SymPy's diff
``B.zero(v, name)``    v with the per-slice input ``name`` set to 0
``B.substitution(p)``  the realisation's atoms -> exact values at a :class:`Point`
``B.atoms(name)``      the symbols that stand for an input in a value at j
``B.moments``          moment atom -> its body (empty where sums are written out)
=====================  ==================================================================

The realisations: :class:`~symbn.realise.moments.Moments` (every N at once),
:class:`~symbn.realise.concrete.Concrete` (explicit symbols for one N),
:class:`~symbn.realise.numbers.Numbers` (numbers at a point: floats, balls, exact) and
:class:`~symbn.realise.display.Display` (the moment algebra over the stages' own
symbols, for documents).  Those without symbols raise :class:`NotSymbolic` from
``diff`` and ``substitution``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Protocol


@dataclass(frozen=True)
class Point:
    """A data point: slice size n, free index j (0-based), and each input's exact
    value (a list of n for a row, one number for a per-slice input)."""

    n: int
    j: int
    values: Mapping[str, Any]
    sizes: tuple[int, ...] = ()  # a slice split across devices: each shard's size (they add up to n)


class Elementwise:
    """A value made of several (a row's items, a split slice's shards): arithmetic is part by
    part, and a plain value meets every part.  Subclasses name their parts (``_parts``)."""

    __slots__ = ()

    def _parts(self) -> tuple:
        raise NotImplementedError

    def map(self, f):
        return type(self)([f(a) for a in self._parts()])

    def _zip(self, other, f):
        if isinstance(other, type(self)):
            return type(self)([f(a, b) for a, b in zip(self._parts(), other._parts())])
        return type(self)([f(a, other) for a in self._parts()])

    def __add__(self, o):
        return self._zip(o, lambda a, b: a + b)

    def __radd__(self, o):
        return self._zip(o, lambda a, b: b + a)

    def __sub__(self, o):
        return self._zip(o, lambda a, b: a - b)

    def __rsub__(self, o):
        return self._zip(o, lambda a, b: b - a)

    def __mul__(self, o):
        return self._zip(o, lambda a, b: a * b)

    def __rmul__(self, o):
        return self._zip(o, lambda a, b: b * a)

    def __truediv__(self, o):
        return self._zip(o, lambda a, b: a / b)

    def __rtruediv__(self, o):
        return self._zip(o, lambda a, b: b / a)

    def __pow__(self, o):
        return self._zip(o, lambda a, b: a**b)

    def __rpow__(self, o):
        return self._zip(o, lambda a, b: b**a)

    def __neg__(self):
        return self.map(lambda a: -a)


class NotSymbolic(NotImplementedError):
    """An operation that needs symbols, asked of a realisation of numbers."""


class Realisation(Protocol):
    N: Any

    def input(self, name: str) -> Any: ...
    def const(self, value: Fraction) -> Any: ...
    def sum(self, value: Any) -> Any: ...
    def shard_sum(self, value: Any) -> Any: ...
    def allreduce(self, value: Any) -> Any: ...
    def sqrt(self, value: Any) -> Any: ...
    def exp(self, value: Any) -> Any: ...
    def log(self, value: Any) -> Any: ...
    def seed(self, kind: str) -> Any: ...
    def at_j(self, value: Any) -> Any: ...
    def diff(self, f: Any, name: str) -> Any: ...
    def zero(self, value: Any, name: str) -> Any: ...
    def substitution(self, point: Point) -> dict: ...
    def atoms(self, name: str) -> tuple: ...

    @property
    def moments(self) -> Mapping[Any, Any]: ...


__all__ = ["Elementwise", "NotSymbolic", "Point", "Realisation"]
