"""The graph IR: a layer's stages lowered to a flat list of primitive equations.

Like a Jaxpr, the program is a sequence of equations ``out = prim(args)`` over
named variables.  A stage such as ``y = gamma*xhat + beta`` becomes two equations
(``%1 = mul(gamma, xhat)``, ``y = add(%1, beta)``) that both remember the stage they
came from, so every engine can report per stage while its rule tables stay per
primitive.  Every variable has a *kind*:

- ``row``: varies along the slice (x, x - mu, xhat, y, dy);
- ``scalar``: constant along the slice (mu, var, BatchNorm's gamma);
- ``constant``: a scalar that is not differentiated (eps, N).

The graph is immutable and checked once, when it is built: names defined before
use, kinds consistent, reductions applied to rows, no division by a zero literal.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction

from symbn.lang.expr import BinOp, Call, Expr, ExprError, Name, Neg, Num

ROW, SCALAR, CONSTANT = "row", "scalar", "constant"
KINDS = (ROW, SCALAR, CONSTANT)

Atom = str | Fraction  # a variable name or an exact constant

PRIMITIVES = ("add", "sub", "mul", "div", "neg", "pow", "sqrt", "exp", "log", "mean", "sum", "id")
_BINARY = {"+": "add", "-": "sub", "*": "mul", "/": "div", "**": "pow"}
_SYMBOL = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}


@dataclass(frozen=True)
class Eqn:
    out: str
    prim: str
    args: tuple[Atom, ...]
    stage: str  # the stage (or formula) this equation belongs to


@dataclass(frozen=True)
class Graph:
    """A checked program: ``kinds`` covers inputs and every equation's output."""

    inputs: tuple[str, ...]
    eqns: tuple[Eqn, ...]
    kinds: Mapping[str, str]
    stages: tuple[str, ...]  # stage names in computation order
    output: str

    def stage_eqns(self, stage: str) -> tuple[Eqn, ...]:
        return tuple(e for e in self.eqns if e.stage == stage)

    def __str__(self) -> str:
        return format_graph(self)


def merge_kind(kinds: Iterable[str]) -> str:
    """Kind of an elementwise result: row if any operand is a row, else scalar/constant."""
    kinds = list(kinds)
    if ROW in kinds:
        return ROW
    return SCALAR if SCALAR in kinds else CONSTANT


class Lowering:
    """Lowers formulas to equations against a growing table of kinds."""

    def __init__(self, kinds: Mapping[str, str]):
        self.kinds: dict[str, str] = dict(kinds)
        self.eqns: list[Eqn] = []
        self._count = 0

    def define(self, name: str, expr: Expr, stage: str) -> str:
        """Lower ``name = expr``; returns the kind of ``name``."""
        atom = self.lower(expr, stage)
        last = self.eqns[-1] if self.eqns else None
        if isinstance(atom, str) and last is not None and last.out == atom and atom.startswith("%"):
            self.eqns[-1] = Eqn(name, last.prim, last.args, stage)  # rename the temporary
            self.kinds[name] = self.kinds.pop(atom)
        else:
            self.kinds[name] = self._kind(atom)
            self.eqns.append(Eqn(name, "id", (atom,), stage))
        return self.kinds[name]

    def lower(self, e: Expr, stage: str) -> Atom:
        if isinstance(e, Num):
            return e.value
        if isinstance(e, Name):
            if e.id not in self.kinds:
                raise ExprError(f"unknown name '{e.id}'", e.col)
            return e.id
        folded = fold(e)
        if folded is not None:
            return folded
        if isinstance(e, Neg):
            return self._emit("neg", (self.lower(e.arg, stage),), stage, e.col)
        if isinstance(e, BinOp):
            if e.op == "/" and fold(e.right) == 0:
                raise ExprError("division by a constant that is zero", e.right.col or e.col)
            args = (self.lower(e.left, stage), self.lower(e.right, stage))
            return self._emit(_BINARY[e.op], args, stage, e.col)
        if isinstance(e, Call):
            return self._emit(e.fn, (self.lower(e.arg, stage),), stage, e.col)
        raise ExprError(f"not a formula node: {e!r}")

    def _emit(self, prim: str, args: tuple[Atom, ...], stage: str, col: int) -> str:
        kinds = [self._kind(a) for a in args]
        if prim in ("mean", "sum") and kinds[0] != ROW:
            raise ExprError(
                f"{prim}() of a quantity that is constant over the slice; "
                f"{prim} reduces a row quantity (x, dy, x - mu, ...)",
                col,
            )
        self._count += 1
        out = f"%{self._count}"
        self.kinds[out] = SCALAR if prim in ("mean", "sum") else merge_kind(kinds)
        self.eqns.append(Eqn(out, prim, args, stage))
        return out

    def _kind(self, atom: Atom) -> str:
        return CONSTANT if isinstance(atom, Fraction) else self.kinds[atom]


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
            if a == 0 and b < 0:
                raise ExprError("0 raised to a negative power", e.col)
            return a**b.numerator
    return None


def build(
    inputs: Mapping[str, str],
    stages: list[tuple[str, Expr]],
    output: str,
) -> Graph:
    """Lower and check the stages.  Raises ExprError naming the stage at fault
    (the caller adds the file and key)."""
    lowering = Lowering({**inputs, "N": CONSTANT})
    for name, expr in stages:
        lowering.define(name, expr, name)
    return Graph(
        inputs=tuple(inputs),
        eqns=tuple(lowering.eqns),
        kinds=dict(lowering.kinds),
        stages=tuple(name for name, _ in stages),
        output=output,
    )


def lower_formula(graph: Graph, expr: Expr, extra: Mapping[str, str] = {}) -> tuple[tuple[Eqn, ...], Atom, str]:
    """Lower a formula over the graph's names (plus ``extra`` names such as dy).
    Returns its equations, its result atom and its kind."""
    lowering = Lowering({**graph.kinds, **extra})
    atom = lowering.lower(expr, "formula")
    return tuple(lowering.eqns), atom, lowering._kind(atom)


# --- printing --------------------------------------------------------------------


def format_eqn(e: Eqn, kinds: Mapping[str, str]) -> str:
    args = [_atom(a) for a in e.args]
    if e.prim in _SYMBOL:
        rhs = f" {_SYMBOL[e.prim]} ".join(args)
    elif e.prim == "neg":
        rhs = f"-{args[0]}"
    elif e.prim == "id":
        rhs = args[0]
    else:
        rhs = f"{e.prim}({args[0]})"
    return f"{e.out} : {kinds.get(e.out, '?')} = {rhs}"


def format_graph(g: Graph) -> str:
    ins = ", ".join(f"{n}: {g.kinds[n]}" for n in g.inputs)
    lines = [f"inputs  {ins}"]
    for e in g.eqns:
        lines.append("  " + format_eqn(e, g.kinds))
    lines.append(f"output  {g.output}")
    return "\n".join(lines)


def _atom(a: Atom) -> str:
    return a if isinstance(a, str) else str(a)
