"""The concrete realisation: a slice of a given size n with explicit symbols.

A row value is a :class:`Row` of n SymPy expressions (x_1 .. x_n); a scalar is one
expression.  It shares nothing with the moment algebra beyond the graph, so the two
realisations check each other.  Exact evaluation at a data point substitutes
numbers for the symbols (:meth:`Concrete.substitution`).  The free index j is fixed
per realisation (j = 0 unless asked): nothing in a layer or a formula can single
out an index, so an identity at j = 0 holds at every j (NOTES.md).

Coordinates.  A row input that the layer centres (``mean(x)`` appears) is written
in centred coordinates x_k = m + c_k, with c_n = -(c_1 + ... + c_{n-1}): a linear
bijection, so identities are unchanged, but x - mu collapses to c_k and the
gradient has O(n) terms instead of the O(n³) of (Σ dy·x)(Σ x)².
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

import sympy as sp

from symbn.ir.primitives import ROW
from symbn.realise.protocol import Elementwise, Point


class Row(Elementwise):
    """n expressions, one per position of the slice; arithmetic broadcasts scalars."""

    __slots__ = ("items",)

    def __init__(self, items: Sequence[sp.Expr]):
        self.items = tuple(items)

    def _parts(self) -> tuple:
        return self.items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, k: int) -> sp.Expr:
        return self.items[k]

    def __repr__(self) -> str:
        return f"Row({list(self.items)})"


class Concrete:
    """The realisation at a fixed slice size n and free index j (0-based)."""

    def __init__(
        self,
        n: int,
        kinds: Mapping[str, str],
        positive: set[str] = frozenset(),
        centred: set[str] = frozenset(),
        j: int = 0,
        label: str = "",
    ):
        if n < 1:
            raise ValueError(f"the slice size must be at least 1, got {n}")
        if not 0 <= j < n:
            raise ValueError(f"the free index must be in 0..{n - 1}, got {j}")
        self.n, self.j, self.label = n, j, label  # label: a shard's tag in its symbols' names
        self.centred = set(centred)
        self.coordinates: dict[str, tuple[sp.Symbol, ...]] = {}  # centred row -> (m, c_1..c_{n-1})
        self.N = sp.Integer(n)
        self.kinds = dict(kinds)
        self.positive = set(positive)
        self.symbols: dict[str, object] = {}

    def input(self, name: str):
        if name not in self.symbols:
            self.symbols[name] = self._make(name)
        return self.symbols[name]

    def _make(self, name: str):
        if self.kinds[name] == ROW and name in self.centred:
            m = sp.Symbol(f"m[{name}{self.label}]")  # brackets: no file name (an identifier) can equal an atom's
            c = [sp.Symbol(f"c[{name}{self.label},{k}]") for k in range(1, self.n)]
            self.coordinates[name] = (m, *c)
            return Row([m + ck for ck in c] + [m - sp.Add(*c)])
        if self.kinds[name] == ROW:
            return Row([sp.Symbol(f"{name}[{self.label}{k}]") for k in range(1, self.n + 1)])
        return sp.Symbol(name, positive=True) if name in self.positive else sp.Symbol(name)

    @property
    def moments(self) -> dict:
        return {}  # no moment atoms: every sum is written out

    def atoms(self, name: str) -> tuple[sp.Symbol, ...]:
        """The symbols that stand for an input: its entries (or centred coordinates), or its symbol."""
        value = self.input(name)
        if name in self.coordinates:
            return self.coordinates[name]
        return tuple(value.items) if isinstance(value, Row) else (value,)

    def const(self, value: Fraction) -> sp.Expr:
        return sp.Rational(value.numerator, value.denominator)

    def sqrt(self, v):
        return v.map(sp.sqrt) if isinstance(v, Row) else sp.sqrt(v)

    def exp(self, v):
        return v.map(sp.exp) if isinstance(v, Row) else sp.exp(v)

    def log(self, v):
        return v.map(sp.log) if isinstance(v, Row) else sp.log(v)

    def sum(self, v) -> sp.Expr:
        return sp.Add(*v.items) if isinstance(v, Row) else self.N * v

    def seed(self, kind: str):
        """Tangent e_j for a row input, 1 for a per-slice one."""
        if kind != ROW:
            return sp.Integer(1)
        return Row([sp.Integer(int(k == self.j)) for k in range(self.n)])

    # --- one device: a shard is the whole slice ------------------------------------------------

    @property
    def Nk(self):
        return self.N

    def shard_sum(self, v):
        return self.sum(v)

    def allreduce(self, v):
        return v

    def at_j(self, value):
        """The entry at the free index j (a per-slice value is its own)."""
        return value.items[self.j] if isinstance(value, Row) else sp.sympify(value)

    def diff(self, f: sp.Expr, name: str) -> sp.Expr:
        """∂f/∂name (at j for a row input), by SymPy's diff.  For a centred row, x_j moves
        m by t/n and every c_k by t(δ_kj − 1/n): f is differentiated along that direction,
        with respect to one symbol t, and t set to 0."""
        value = self.input(name)
        if not isinstance(value, Row):
            return sp.diff(f, value)
        if name not in self.coordinates:
            return sp.diff(f, value.items[self.j])
        m, *c = self.coordinates[name]
        t = sp.Dummy("t")
        move = {m: m + t / self.n}
        move.update({ck: ck + t * (int(k == self.j) - sp.Rational(1, self.n)) for k, ck in enumerate(c)})
        return sp.diff(sp.sympify(f).xreplace(move), t).xreplace({t: 0})

    def zero(self, value, name: str) -> sp.Expr:
        """``value`` with the per-slice input ``name`` set to 0."""
        return sp.sympify(value).xreplace({self.input(name): 0})

    def substitution(self, point: Point) -> dict[sp.Symbol, sp.Expr]:
        """This realisation's symbols -> the exact values of a data point."""
        sub: dict[sp.Symbol, sp.Expr] = {}
        for name, value in self.symbols.items():
            if name not in point.values:
                continue  # a symbol the point does not give stays a symbol
            given = point.values[name]
            data = [sp.sympify(v) for v in given] if isinstance(value, Row) else sp.sympify(given)
            if name in self.coordinates:
                m, *c = self.coordinates[name]
                mean = sp.Add(*data) / self.n
                sub[m] = mean
                sub.update({ck: xk - mean for ck, xk in zip(c, data)})
            elif isinstance(value, Row):
                sub.update(dict(zip(value.items, data)))
            else:
                sub[value] = data
        return sub
