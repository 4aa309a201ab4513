r"""Index algebra: which index a symbol is at, and a sum with the free index pulled out.

symbn's formulas speak of one slice element, the free index j, and of sums over the
slice; a name means the row at j outside a ``sum`` and at the summed index inside one.
So an index bound by the innermost enclosing ``\sum`` is dropped (the name is read inside
``sum``); any other index is *the* free index j, one letter per formula.  A free index
inside a sum is pulled out by linearity, ``\sum_i a_j b_i = a_j sum(b)``; a factor that
mixes both indices non-linearly is an error.  An index is a lower-case letter: ``x_N`` (the
last element) and ``\mu_B`` (a name) are refused, saying what to write.  If a superscript
``^{(r)}`` occurs anywhere, the formula uses the row-superscript style: ``(r)`` is the
index, and subscripts are unit indices, dropped.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from fractions import Fraction

from lark import Token, Tree

from symbn.lang.expr import BinOp, Call, Expr, ExprError, Name, Neg, Num
from symbn.lang.latex.grammar import col, letter, row_index, scripts
from symbn.lang.latex.symbols import canon

MAX_TERMS = 64  # terms a sum may be split into when a free index is pulled out

_FREE, _BOUND = "\x00free:", "\x00bound:"  # temporary marks on indexed names inside a sum

Split = list[tuple[Expr | None, Expr | None]]  # terms outside * sum(inside)


def row_style(tree: Tree, table: Mapping[str, str]) -> bool:
    """Whether the formula writes row indices as superscripts ^{(r)} (seed 001's style).
    ``e^{(v)}`` with e not a symbol is exp(v), not a row index.  A subscript letter that
    is also a row superscript somewhere is ambiguous, and refused."""
    rows, subs = set(), []
    for t in tree.iter_subtrees():
        if t.data != "scripted":
            continue
        atom, sub, sup = scripts(t)
        r = row_index(sup)
        if r is not None and not (canon(atom) == "e" and "e" not in table):
            rows.add(str(r))
        if letter(sub) is not None:
            subs.append(letter(sub))
    clash = [s for s in subs if str(s) in rows]
    if clash:
        raise ExprError(f"'{clash[0]}' is both a subscript and a row superscript ^{{({clash[0]})}}: write the row "
                        "index one way, as subscripts x_j or as superscripts x^{(j)}", clash[0].column)
    return bool(rows)


def covers_the_slice(lower: Expr | None, upper: Expr | None) -> bool:
    """Whether \\sum's range, 1..N or 0..N-1 (or none given), is the whole slice."""
    n = Name("N")
    whole = (lower in (None, Num(Fraction(1))) and upper in (None, n)) or (
        lower == Num(Fraction(0)) and upper == BinOp("-", n, Num(Fraction(1)))
    )
    return whole and not (lower is not None and upper is None)


class Indices:
    """The stack of indices bound by enclosing sums, and the one free index."""

    def __init__(self, rows: frozenset[str] = frozenset(), table: Mapping[str, str] | None = None,
                 row_style: bool = False):
        self.rows = rows  # names that vary along the slice
        self.table = table or {}
        self.row_style = row_style
        self.bound: list[str] = []
        self.free: tuple[str, int, str, str] | None = None  # letter, column, symbol as written, name

    def new(self, index: Token) -> str:
        """A \\sum's index letter, which no enclosing \\sum may bind already."""
        if str(index) in self.bound:
            raise ExprError(f"the index {index} is already bound by an enclosing \\sum", col(index))
        return str(index)

    @contextmanager
    def summing(self, index: str) -> Iterator[None]:
        self.bound.append(index)
        try:
            yield
        finally:
            self.bound.pop()

    def at(self, name: str, index: Token | None, column: int, base: str = "") -> Expr:
        """The name at an index: bound by the innermost \\sum, or the free index.
        ``base``: the symbol's LaTeX without the index, for messages."""
        if index is None:
            if self.bound and name in self.rows:
                raise ExprError(f"{name} inside \\sum_{self.bound[-1]} has no index: write it with _{self.bound[-1]} "
                                "(summed) or with the free index", column)
            return Name(name, column)
        i = str(index)
        shown = f"{base or name}^{{({i})}}" if self.row_style else f"{base or name}_{i}"
        if self.table.get(i) == "N" or i == "N":
            size = "the slice size" if i == "N" else "the slice size N"
            raise ExprError(
                f"{shown} is one fixed element, the last ({i} is {size}), and symbn cannot single one out: "
                "a row is read at an index bound by a \\sum or at the free index, which stands for every element",
                col(index),
            )
        if i.isupper():
            raise ExprError(
                f"{shown}: {i} is not an index (indices are lower-case letters: i, j, ...); if it is part of the "
                f"name, as in the paper's \\mu_B for the batch mean, put {shown} in the symbol table ([notation] in "
                "a derivation file)",
                col(index),
            )
        if self.bound and i == self.bound[-1]:
            return Name(_BOUND + name, column)
        if i in self.bound:
            raise ExprError(
                f"the index {i} is bound by an outer \\sum: inside \\sum_{self.bound[-1]} it cannot be read",
                col(index),
            )
        if self.free is None:
            self.free = (i, col(index), shown, name)
        elif self.free[0] != i:
            first, at, earlier, earlier_name = self.free
            label = shown if name not in self.rows else earlier if earlier_name not in self.rows else None
            fix = f"; if {label} is one symbol, put it in the symbol table ([notation] in a derivation file)"
            raise ExprError(
                f"two free indices: {earlier} (column {at}) is at {first} and {shown} at {i}, but a formula has one "
                "free index and binds any other with a \\sum: write the same letter for both" + (fix if label else ""),
                col(index),
            )
        return Name(_FREE + name, column) if self.bound else Name(name, column)

    def everywhere(self, name: str, symbol: str, element: str, column: int) -> Expr:
        """A symbol for a row at every position of the slice (seed 000's X for x): outside
        a sum, that is the row at the free index; inside one it could be either index."""
        if self.bound:
            i = self.bound[-1]
            j = self.free[0] if self.free else next(c for c in "jklmnpqrs" if c not in self.bound)
            raise ExprError(
                f"{symbol} is all of {element}, one value per position of the slice: inside \\sum_{i} it could "
                f"mean {element}_{i} or {element}_{j}; write {element}_{i} for the summed element or {element}_{j} "
                "for the one at the free index",
                column,
            )
        return Name(name, column)

    def sum_of(self, body: Expr, column: int) -> Expr:
        """sum(body) over the index just unbound, with factors at the free index pulled out."""
        if not _mentions(body, _FREE):
            return self._close(Call("sum", _unmark(body, _BOUND), column))
        total: Expr | None = None
        for outside, inside in self.split(body, column):
            term: Expr = Call("sum", _unmark(inside if inside is not None else Num(Fraction(1)), _BOUND), column)
            term = BinOp("*", outside, term, column) if outside is not None else term
            total = term if total is None else BinOp("+", total, term, column)
        assert total is not None
        return self._close(total)

    def _close(self, total: Expr) -> Expr:
        """Outside every sum, a name at the free index is just the name."""
        return total if self.bound else _unmark(total, _FREE)

    def split(self, e: Expr, column: int) -> Split:
        free, bound = _mentions(e, _FREE), _mentions(e, _BOUND)
        if not free:
            return [(None, e)]
        if not bound:
            return [(e, None)]
        parts: Split
        if isinstance(e, Neg):
            parts = [(Neg(o, column) if o is not None else Num(Fraction(-1)), i) for o, i in self.split(e.arg, column)]
        elif isinstance(e, BinOp) and e.op in "+-":
            right = self.split(e.right if e.op == "+" else Neg(e.right, e.col), column)
            parts = self.split(e.left, column) + right
        elif isinstance(e, BinOp) and e.op == "*":
            left, right = self.split(e.left, column), self.split(e.right, column)
            parts = [(_times(o1, o2), _times(i1, i2)) for o1, i1 in left for o2, i2 in right]
        elif isinstance(e, BinOp) and e.op == "/" and not _mentions(e.right, _FREE):
            parts = [(o, _over(i, e.right)) for o, i in self.split(e.left, column)]
        elif isinstance(e, BinOp) and e.op == "/" and not _mentions(e.right, _BOUND):
            parts = [(_over(o, e.right), i) for o, i in self.split(e.left, column)]
        else:
            raise ExprError(
                "a factor inside this \\sum mixes the free index with the summation index "
                "in a way symbn cannot separate (only products and sums are split)",
                e.col or column,
            )
        if len(parts) > MAX_TERMS:
            raise ExprError(f"splitting this \\sum gives more than {MAX_TERMS} terms", column)
        return parts


def _mentions(e: Expr, mark: str) -> bool:
    if isinstance(e, Name):
        return e.id.startswith(mark)
    if isinstance(e, (Neg, Call)):
        return _mentions(e.arg, mark)
    if isinstance(e, BinOp):
        return _mentions(e.left, mark) or _mentions(e.right, mark)
    return False


def _unmark(e: Expr, mark: str) -> Expr:
    if isinstance(e, Name) and e.id.startswith(mark):
        return Name(e.id[len(mark) :], e.col)
    if isinstance(e, Neg):
        return Neg(_unmark(e.arg, mark), e.col)
    if isinstance(e, Call):
        return Call(e.fn, _unmark(e.arg, mark), e.col)
    if isinstance(e, BinOp):
        return BinOp(e.op, _unmark(e.left, mark), _unmark(e.right, mark), e.col)
    return e


def _times(a: Expr | None, b: Expr | None) -> Expr | None:
    """a*b, where None stands for 1."""
    if a is None or b is None:
        return b if a is None else a
    return BinOp("*", a, b, a.col)


def _over(a: Expr | None, b: Expr) -> Expr:
    """a/b, where None stands for 1."""
    return BinOp("/", a if a is not None else Num(Fraction(1)), b, b.col)
