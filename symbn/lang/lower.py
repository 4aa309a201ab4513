"""Lowering: formulas (the AST of :mod:`symbn.lang.expr`) to graph equations.

A layer's stages are lowered in order into one :class:`~symbn.ir.graph.Graph`; a
closed form or a claim is lowered over that graph's names (plus ``dy`` and the
adjoint names ``d<stage>``) into equations of its own.  Numbers are folded
exactly; every error is an :class:`~symbn.lang.expr.ExprError` with a column.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from symbn.ir.graph import Atom, Builder, Eqn, Graph, KindError, kind_of
from symbn.ir.primitives import BY_INFIX, CONSTANT, FUNCTIONS, neg_p
from symbn.lang.expr import MAX_DECIMAL_EXPONENT, MAX_EXPONENT, BinOp, Call, Expr, ExprError, Name, Neg, Num

MAX_FOLDED_DIGITS = 2 * MAX_DECIMAL_EXPONENT  # a power of a number is folded to one exact number up to this size


class Lowering(Builder):
    """A :class:`Builder` that lowers formulas."""

    def lower(self, e: Expr, stage: str) -> Atom:
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Name):
            if e.id not in self.vars:
                raise ExprError(f"unknown name '{e.id}'", e.col)
            return self.vars[e.id]
        folded = fold(e)
        if folded is not None:
            return folded
        if isinstance(e, Neg):
            return self._emit(neg_p, (self.lower(e.arg, stage),), stage, e.col)
        if isinstance(e, BinOp):
            if e.op == "/" and fold(e.right) == 0:
                raise ExprError("division by a constant that is zero", e.right.col or e.col)
            args = (self.lower(e.left, stage), self.lower(e.right, stage))
            if e.op == "**" and isinstance(args[1], Fraction) and abs(args[1]) > MAX_EXPONENT:  # x**(8**8)
                raise ExprError(f"the exponent {args[1]} is larger than {MAX_EXPONENT} in size", e.right.col or e.col)
            return self._emit(BY_INFIX[e.op], args, stage, e.col)
        if isinstance(e, Call):
            return self._emit(FUNCTIONS[e.fn], (self.lower(e.arg, stage),), stage, e.col)
        raise ExprError(f"not a formula node: {e!r}")

    def _emit(self, prim, args, stage: str, col: int):
        try:
            return self.emit(prim, args, stage)
        except KindError as err:
            raise ExprError(str(err), col) from None


def fold(e: Expr) -> Fraction | None:
    """The exact value of a subtree made of numbers only, else None."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Neg):
        v = fold(e.arg)
        return None if v is None else -v
    if isinstance(e, BinOp):
        a, b = fold(e.left), fold(e.right)
        if a is None or b is None:
            return None
        if e.op == "+":
            return a + b
        if e.op == "-":
            return a - b
        if e.op == "*":
            return a * b
        if e.op == "/":
            if b == 0:
                raise ExprError("division by a constant that is zero", e.right.col or e.col)
            return a / b
        if b.denominator == 1:  # integer power of a number: exact
            digits = max(a.numerator.bit_length(), a.denominator.bit_length()) * abs(b) * 0.30103
            if abs(b) > MAX_EXPONENT and abs(a) != 1 and digits > MAX_FOLDED_DIGITS:  # 2**64**64 would be computed in full
                shown = f"{a}**{b}" if len(str(b)) <= 20 else f"{a} to a power of {len(str(b))} digits"
                raise ExprError(f"the number {shown} would have about {digits:.3g} digits (at most {MAX_FOLDED_DIGITS}; "
                                f"10**-300 is fine)", e.right.col or e.col)
            if a == 0 and b < 0:
                raise ExprError("0 raised to a negative power", e.col)
            return a**b.numerator
    return None


def build(inputs: Mapping[str, str], stages: list[tuple[str, Expr]], output: str,
          extra: Mapping[str, str] = {}) -> Graph:
    """Lower and check the stages (``extra``: names the realisation provides, like Nk).  Raises
    ExprError naming the stage at fault (the caller adds the file and key)."""
    lowering = Lowering({**inputs, **extra, "N": CONSTANT})
    for name, expr in stages:
        lowering.define(name, lowering.lower(expr, name), name)
    return lowering.graph(inputs, (name for name, _ in stages), output, extra)


def lower_formula(graph: Graph, expr: Expr, extra: Mapping[str, str] = {}) -> tuple[tuple[Eqn, ...], Atom, str]:
    """Lower a formula over the graph's names (plus ``extra`` names such as dy).
    Returns its equations, its result atom and its kind."""
    lowering = Lowering({**graph.kinds, **extra})
    lowering.vars.update(graph.vars)  # the graph's own variables, so formulas read them
    lowering._count = len(graph.eqns)  # temporaries' names stay unique beside the graph's
    atom = lowering.lower(expr, "formula")
    return tuple(lowering.eqns), atom, kind_of(atom)


__all__ = ["Lowering", "build", "fold", "lower_formula"]
