"""NumPy text of one function body: expressions and stage equations.

Values are per-slice (kind scalar: arrays of the kept shape, keepdims) or rows
(arrays that vary along the slice).  Scalar expressions are printed inline;
reductions are hoisted, named after what they sum (``sum_dy_xmu``) and computed
once; a sum of a product is one ``_sum(axes, dy, xmu)`` (an einsum, no temporary).
A row equation writes into a dead array when :mod:`.buffers` finds one; a
centred stage gets its offset from :mod:`.centring`.  What an operation is called
in NumPy and how its operator binds come from its record (:mod:`symbn.ir.primitives`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction

from symbn.emit.buffers import Buffers
from symbn.emit.centring import Centring, Unfoldable, centrings
from symbn.ir.graph import Atom, Eqn
from symbn.ir.primitives import (
    ATOM,
    BY_INFIX,
    CONSTANT,
    FUNCTIONS,
    ROW,
    SCALAR,
    Primitive,
    add_p,
    div_p,
    id_p,
    mean_p,
    mul_p,
    neg_p,
    pow_p,
    sqrt_p,
    sub_p,
)
from symbn.lang.expr import BinOp, Call, Expr, Name, Neg, Num, names


def number(value: Fraction) -> str:
    return str(value.numerator) if value.denominator == 1 else repr(float(value))


def wrap(text: str, prec: int, outer: int) -> str:
    return f"({text})" if prec <= outer else text


def call(numpy: str, args: list[str], out: str | None = None) -> str:
    """A NumPy call from a record's format (``np.add({0}, {1})``), writing into ``out`` if given."""
    if out is not None:
        args = [*args[:-1], f"{args[-1]}, out={out}"]
    return numpy.format(*args)


def infix(prim: Primitive, left: Callable[[int], str], right: Callable[[int], str]) -> tuple[str, int]:
    """``left op right`` and its precedence; ``left(outer)`` prints the left operand
    inside it (first: it may hoist a sum), then ``right``.  ** is right-associative."""
    p = prim.precedence
    lo, ro = (p, p - 1) if prim is pow_p else (p - 1, p)
    a, b = left(lo), right(ro)
    return (f"{a}{prim.infix}{b}" if prim is pow_p else f"{a} {prim.infix} {b}"), p


class Printer:
    """The lines of one function body, the names it uses, and what it knows of its arrays."""

    def __init__(self, kinds: Mapping[str, str], data: str, row_inputs: Iterable[str], reserved: Iterable[str],
                 fold: bool = False):
        self.kinds = dict(kinds)
        self.row_inputs = set(row_inputs)
        self.lines: list[str] = []
        self.depth = 1
        self.used = set(reserved) | set(kinds)
        self.hoisted: dict[Expr, str] = {}
        self.alias: dict[str, str] = {}  # graph temporaries -> printed names
        self.buffers = Buffers(data)
        self.centring = Centring(fold)

    def emit(self, line: str) -> None:
        self.lines.append("    " * self.depth + line)

    def fresh(self, base: str) -> str:
        for k in itertools.count():
            name = base if k == 0 else f"{base}_{k}"
            if name not in self.used:
                self.used.add(name)
                return name
        raise AssertionError  # pragma: no cover

    def kind(self, e: Expr) -> str:
        if isinstance(e, Num):
            return CONSTANT
        if isinstance(e, Name):
            return CONSTANT if e.id == "N" else self.kinds[e.id]
        if isinstance(e, Call) and FUNCTIONS[e.fn].reduction:
            return SCALAR
        parts = [self.kind(c) for c in ((e.left, e.right) if isinstance(e, BinOp) else (e.arg,))]
        return ROW if ROW in parts else SCALAR if SCALAR in parts else CONSTANT

    def read(self, name: str) -> tuple[str, int]:
        """A name as read (text, precedence): N is n, and a centring mean m is read as
        m + c, the mean to rounding (``x - m`` itself reads m as stored)."""
        if name in self.centring.given:
            return self.centring.corrected(name), add_p.precedence
        return ("n" if name == "N" else name), ATOM

    # --- formulas --------------------------------------------------------------------

    def scalar(self, e: Expr, outer: int = 0) -> str:
        """A scalar-kind formula as inline NumPy text (its reductions hoisted)."""
        return wrap(*self._scalar(e), outer)

    def _scalar(self, e: Expr) -> tuple[str, int]:
        if isinstance(e, Num):
            return (number(e.value), ATOM) if e.value >= 0 else (f"-{number(-e.value)}", neg_p.precedence)
        if isinstance(e, Name):
            return self.read(e.id)
        if isinstance(e, Neg):
            return "-" + self.scalar(e.arg, neg_p.precedence), neg_p.precedence
        if isinstance(e, BinOp):
            return infix(BY_INFIX[e.op], lambda o: self.scalar(e.left, o), lambda o: self.scalar(e.right, o))
        prim = FUNCTIONS[e.fn]
        if prim.reduction:
            total = self.reduction(e.arg)
            return (f"{total} / n", div_p.precedence) if prim is mean_p else (total, ATOM)
        return prim.numpy.format(self.scalar(e.arg)), ATOM

    def reduction(self, body: Expr) -> str:
        """The name of Σ body over the slice (keepdims), computed once; the offset of a
        centred stage in body is taken off (:meth:`Centring.correction`)."""
        key = Call("sum", body)
        if key not in self.hoisted:
            scalars, rows = split(body, self.kind)
            correction = ""
            if names(body) & set(self.centring.offsets):
                scale = self.scalar(product(scalars), mul_p.precedence) if scalars else None
                factors = [f.id if isinstance(f, Name) else None for f in rows]
                total = lambda others: self.reduction(product([Name(o) for o in others] + scalars))
                correction = f" - {self.centring.correction(factors, scale, total)}"
            elif not all(isinstance(f, Name) for f in rows):
                name = self.fresh("sum_total")
                self.emit(f"{name} = _sum(axes, {self.row_text(body)})")
                self.hoisted[key] = name
                return name
            args = [f.id for f in rows] + ([self.scalar(product(scalars))] if scalars else [])
            wide = ", wide=True" if len(args) == 1 and args[0] in self.row_inputs and not correction else ""
            name = self.fresh(f"sum_{'_'.join(f.id for f in rows)}")
            self.emit(f"{name} = _sum(axes, {', '.join(args)}{wide}){correction}")
            self.hoisted[key] = name
        return self.hoisted[key]

    def row_text(self, e: Expr) -> str:
        """A row formula as plain NumPy text, allocating: the general fallback."""
        if self.kind(e) != ROW:
            return self.scalar(e)
        if isinstance(e, Name):
            return wrap(*self.read(e.id), add_p.precedence)
        if isinstance(e, Neg):
            return neg_p.numpy.format(self.row_text(e.arg))
        if isinstance(e, BinOp):
            return BY_INFIX[e.op].numpy.format(self.row_text(e.left), self.row_text(e.right))
        return FUNCTIONS[e.fn].numpy.format(self.row_text(e.arg))

    # --- stage equations --------------------------------------------------------------

    def equations(self, eqns: tuple[Eqn, ...], keep: set[str]) -> None:
        """Print equations in order; ``keep``: names read after them.  A scalar
        temporary read once is inlined; a product read only by a reduction is fused
        into it; a row result goes into a dead operand's buffer when we own one."""
        uses: dict[str, list[Eqn]] = {}
        for e in eqns:
            for a in e.vars:
                uses.setdefault(a, []).append(e)
        fused = {e.out: e for e in eqns if self._fusable(e, uses.get(e.out, []), keep)}
        centring = centrings(eqns, self.row_inputs)
        self.centring.centred = set(centring.values())
        inline: dict[str, tuple[str, int]] = {}
        for k, e in enumerate(eqns):
            if e.out in fused:
                continue
            later = keep | {a for q in eqns[k + 1:] for a in q.vars}
            if self.kinds[e.out] == ROW:
                if self.centring.reads_folded(e):
                    raise Unfoldable  # a row stage computed from d would need d - c as an array
                self._row_eqn(e, inline, later)
                d = self.alias.get(e.out, e.out)
                if self.centring.of_given(e, self.row_inputs):
                    owned = e.out in self.buffers.owned
                    for line in self.centring.given_centre(e.out, d, e.args[0], e.args[1], owned):
                        self.emit(line)
                elif e.out in centring and e.out in self.buffers.owned:
                    mean = centring[e.out]
                    c, line = self.centring.centre(e.out, d, mean, e.args[0], mean not in inline, self.fresh)
                    if c is not None:
                        self.kinds[c] = SCALAR
                    self.emit(line)
                continue
            text = self._scalar_eqn(e, inline, fused)
            if e.out.temp and len(uses.get(e.out, [])) == 1:
                inline[e.out] = text
            else:
                self.emit(f"{self.name_of(e)} = {text[0]}")

    def _fusable(self, e: Eqn, readers: list[Eqn], keep: set[str]) -> bool:
        if self.kinds[e.out] != ROW or e.out in keep or len(readers) != 1 or not readers[0].prim.reduction:
            return False
        return e.prim is mul_p or (e.prim is pow_p and e.args[1] == 2)

    def name_of(self, e: Eqn) -> str:
        if e.out.temp and e.out not in self.alias:  # named after its stage and its number
            self.alias[e.out] = self.fresh(f"{e.stage}_{e.out[1:]}")
        return self.alias.get(e.out, e.out)

    def atom(self, a: Atom, inline: Mapping[str, tuple[str, int]], outer: int = 0) -> str:
        if isinstance(a, Fraction):
            return wrap(number(a), ATOM if a >= 0 else neg_p.precedence, outer)
        if a in inline:
            return wrap(*inline[a], outer)
        return wrap(*self.read(self.alias.get(a, a)), outer)

    def _scalar_eqn(self, e: Eqn, inline, fused: Mapping[str, Eqn]) -> tuple[str, int]:
        if e.prim.reduction:
            src = fused.get(e.args[0])
            factors = [e.args[0]] if src is None else list(src.args) if src.prim is mul_p else [src.args[0]] * 2
            wide = ", wide=True" if src is None and e.args[0] in self.row_inputs and e.out not in self.centring.centred else ""
            text, prec = f"_sum(axes, {', '.join(self.atom(f, inline) for f in factors)}{wide})", ATOM
            if any(f in self.centring.offsets for f in factors):
                # the others' sum inline, not hoisted: stage equations are printed inside a branch
                rows = [f if isinstance(f, str) and self.kinds.get(f) == ROW else None for f in factors]
                total = lambda others: f"_sum(axes, {', '.join(self.atom(f, inline) for f in others)})"
                text, prec = f"{text} - {self.centring.correction(rows, None, total)}", sub_p.precedence
            return (f"{wrap(text, prec, div_p.precedence - 1)} / n", div_p.precedence) if e.prim is mean_p else (text, prec)
        if e.prim.infix:
            a, b = e.args
            return infix(e.prim, lambda o: self.atom(a, inline, o), lambda o: self.atom(b, inline, o))
        if e.prim is neg_p:
            return "-" + self.atom(e.args[0], inline, neg_p.precedence), neg_p.precedence
        if e.prim is id_p:
            return self.atom(e.args[0], inline), ATOM
        return e.prim.numpy.format(self.atom(e.args[0], inline)), ATOM

    def _row_eqn(self, e: Eqn, inline, later: set[str]) -> None:
        name = self.name_of(e)
        args = [self.atom(a, inline) for a in e.args]
        if self.centring.of_given(e, self.row_inputs):  # x - m reads m as stored; its offset is taken off after
            args[1] = self.alias.get(e.args[1], e.args[1])
        operands = e.vars
        if e.prim is id_p:
            self.emit(f"{name} = {args[0]}")
            self.buffers.made(e.out, operands, owned=e.args[0] in self.buffers.owned)
            return
        dead = self.buffers.dead(operands, later)
        self.emit(f"{name} = {_row_call(e, args, None if dead is None else self.alias.get(dead, dead))}")
        self.buffers.made(e.out, operands, owned=True)


def _row_call(e: Eqn, args: list[str], out: str | None) -> str:
    """A row equation's NumPy call: a square and a square root by their own ufuncs."""
    if e.prim is pow_p and e.args[1] == 2:
        return call("np.square({0})", args[:1], out)
    if e.prim is pow_p and e.args[1] == Fraction(1, 2):
        return call(sqrt_p.numpy, args[:1], out)
    return call(e.prim.numpy, args, out)


# --- formula structure ------------------------------------------------------------------


def split(e: Expr, kind) -> tuple[list[Expr], list[Expr]]:
    """A product (or a quotient by a scalar) as its scalar factors and row factors."""
    if isinstance(e, BinOp) and e.op == "*":
        s1, r1 = split(e.left, kind)
        s2, r2 = split(e.right, kind)
        return s1 + s2, r1 + r2
    if isinstance(e, BinOp) and e.op == "/" and kind(e.right) != ROW:
        s, r = split(e.left, kind)
        return [BinOp("/", product(s) or Num(Fraction(1)), e.right)], r
    return ([], [e]) if kind(e) == ROW else ([e], [])


def product(factors: list[Expr], op: str = "*") -> Expr | None:
    out = None
    for f in factors:
        out = f if out is None else BinOp(op, out, f)
    return out


__all__ = ["Printer", "call", "infix", "number", "product", "split", "wrap"]
