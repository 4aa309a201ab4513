"""The primitives: everything symbn knows about an operation, in one record each.

A graph equation applies one :class:`Primitive`.  Each record says how many
arguments it takes, the kind of its result, what it computes (on any
realisation, see :mod:`symbn.realise.protocol`) and how it is written in plain
text, LaTeX, NumPy and the graph picture.  The engines' rule tables (JVP in
:mod:`symbn.ad.jvp`, VJP in :mod:`symbn.ad.vjp`) are keyed by these records and
written separately from them and from each other.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

ROW, SHARD, SCALAR, CONSTANT = "row", "shard", "scalar", "constant"
KINDS = (ROW, SCALAR, CONSTANT)  # what an input may be; SHARD is a value per device (shard_sum, Nk)
ATOM = 9  # the precedence of a name, a number or a call: never parenthesised


def merge_kind(kinds) -> str:
    """Kind of an elementwise result: the most varying operand's (row, per shard, scalar, constant)."""
    kinds = list(kinds)
    return next(k for k in (ROW, SHARD, SCALAR, CONSTANT) if k in kinds or k == CONSTANT)


@dataclass(frozen=True, eq=False)
class Primitive:
    """One operation.  ``impl(B, *args)`` computes it on realisation ``B``.

    ``reduction``: sums a row (over the slice, or over one device's shard of it: then
    ``result`` is SHARD); ``reads`` is the kind its argument must have and ``result`` the
    kind of its value; else it is elementwise (its arguments' merged kind).
    ``infix``: the operator of a binary primitive in formula text; ``precedence``:
    how tightly its text binds (+ - 1, * / 2, unary - 3, ** 4; a call binds as
    an atom), for printers that add only the parentheses needed.  ``latex`` and
    ``numpy`` are format strings over the arguments' text; ``symbol`` is its short
    name and ``label`` its name as a reader says it, for pictures.  ``special``
    names the operation for one constant argument: ``(1, 2, "square")`` says that
    ``pow`` with the exponent 2 is read "square" (:meth:`describe`).
    """

    name: str
    arity: int
    impl: Callable[..., Any]
    latex: str
    numpy: str
    symbol: str
    label: str
    infix: str | None = None
    reduction: bool = False
    precedence: int = ATOM
    reads: str | None = None
    result: str | None = None
    special: tuple[tuple[int, Fraction, str], ...] = ()

    def kind(self, arg_kinds) -> str:
        return self.result or merge_kind(arg_kinds)

    def describe(self, args) -> str:
        """The operation's name as a reader says it, given its arguments (a graph
        equation's: variables, or exact constants): ``pow(x, 2)`` is "square"."""
        for position, value, label in self.special:
            if position < len(args) and isinstance(args[position], Fraction) and args[position] == value:
                return label
        return self.label

    def __repr__(self) -> str:
        return self.name


def _p(name, arity, impl, latex, numpy, symbol, label, infix=None, reduction=False, precedence=ATOM,
       reads=None, result=None, special=()) -> Primitive:
    if reduction:
        reads, result = ROW, result or SCALAR
    return Primitive(name, arity, impl, latex, numpy, symbol, label, infix, reduction, precedence, reads, result,
                     tuple((k, Fraction(v), text) for k, v, text in special))


RECIPROCAL = "1/·"


add_p = _p("add", 2, lambda B, x, y: x + y, "{0} + {1}", "np.add({0}, {1})", "+", "+", infix="+", precedence=1)
sub_p = _p("sub", 2, lambda B, x, y: x - y, "{0} - {1}", "np.subtract({0}, {1})", "-", "−", infix="-",
           precedence=1)
mul_p = _p("mul", 2, lambda B, x, y: x * y, r"{0} \cdot {1}", "np.multiply({0}, {1})", "*", "×", infix="*",
           precedence=2)
div_p = _p("div", 2, lambda B, x, y: x / y, r"\frac{{{0}}}{{{1}}}", "np.divide({0}, {1})", "/", "÷", infix="/",
           precedence=2, special=[(0, 1, RECIPROCAL)])
pow_p = _p("pow", 2, lambda B, x, y: x**y, "{0}^{{{1}}}", "np.power({0}, {1})", "**", "power", infix="**", precedence=4,
           special=[(1, 2, "square"), (1, "1/2", "√"), (1, -1, RECIPROCAL), (1, "-1/2", "1/√")])
neg_p = _p("neg", 1, lambda B, x: -x, "-{0}", "np.negative({0})", "-", "negate", precedence=3)
sqrt_p = _p("sqrt", 1, lambda B, x: B.sqrt(x), r"\sqrt{{{0}}}", "np.sqrt({0})", "sqrt", "√")
exp_p = _p("exp", 1, lambda B, x: B.exp(x), r"e^{{{0}}}", "np.exp({0})", "exp", "exp")
log_p = _p("log", 1, lambda B, x: B.log(x), r"\log {0}", "np.log({0})", "log", "log")
mean_p = _p("mean", 1, lambda B, x: B.sum(x) / B.N, r"\frac{{1}}{{N}} \sum_i {0}", "np.mean({0})", "mean",
            "mean over the slice", reduction=True)
sum_p = _p("sum", 1, lambda B, x: B.sum(x), r"\sum_i {0}", "np.sum({0})", "sum", "sum over the slice", reduction=True)
id_p = _p("id", 1, lambda B, x: x, "{0}", "{0}", "=", "copy")
shard_sum_p = _p("shard_sum", 1, lambda B, x: B.shard_sum(x), r"\sum_{{i \in k}} {0}", "np.sum({0})", "shard_sum",
                 "sum over this device's shard", reduction=True, result=SHARD)
shard_mean_p = _p("shard_mean", 1, lambda B, x: B.shard_sum(x) / B.Nk, r"\frac{{1}}{{N_k}} \sum_{{i \in k}} {0}",
                  "np.mean({0})", "shard_mean", "mean over this device's shard", reduction=True, result=SHARD)
allreduce_p = _p("allreduce", 1, lambda B, x: B.allreduce(x), r"\sum_k {0}", "reduce({0})", "allreduce",
                 "sum over the devices", reads=SHARD, result=SCALAR)

PRIMITIVES: dict[str, Primitive] = {p.name: p for p in (add_p, sub_p, mul_p, div_p, pow_p, neg_p, sqrt_p, exp_p, log_p,
                                                        mean_p, sum_p, id_p, shard_sum_p, shard_mean_p, allreduce_p)}
BY_INFIX: dict[str, Primitive] = {p.infix: p for p in PRIMITIVES.values() if p.infix}
FUNCTIONS: dict[str, Primitive] = {p.name: p for p in (sqrt_p, exp_p, log_p, mean_p, sum_p, shard_sum_p, shard_mean_p,
                                                       allreduce_p)}  # callable in formulas
SHARDED = {"shard_sum", "shard_mean", "allreduce", "Nk"}  # the names of a split across devices


class MissingRule(NotImplementedError):
    """An engine has no rule for a primitive: a loud, named error, never a silent zero."""

    def __init__(self, engine: str, prim: Primitive, argnum: int | None = None):
        which = "" if argnum is None else f" with respect to argument {argnum}"
        super().__init__(f"{engine}: no rule for the primitive '{prim.name}'{which}")


__all__ = [
    "ATOM",
    "CONSTANT",
    "FUNCTIONS",
    "KINDS",
    "PRIMITIVES",
    "ROW",
    "SCALAR",
    "SHARD",
    "SHARDED",
    "MissingRule",
    "Primitive",
    "add_p",
    "allreduce_p",
    "div_p",
    "exp_p",
    "id_p",
    "log_p",
    "mean_p",
    "merge_kind",
    "mul_p",
    "neg_p",
    "pow_p",
    "shard_mean_p",
    "shard_sum_p",
    "sqrt_p",
    "sub_p",
    "sum_p",
]
