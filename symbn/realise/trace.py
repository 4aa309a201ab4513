"""The tracing realisation: values are graph variables, and every operation is recorded.

Running an interpreter on this realisation does not compute: it writes the
computation down, as equations in a :class:`~symbn.ir.graph.Builder`.  Running
reverse mode on it writes the layer's backward pass as a program of its own, which
the same engines then differentiate again (second order); running forward mode on
it writes the tangent program (forward over forward).  Numbers are folded as they
meet.  A value is a :class:`Traced` (a variable or an exact constant) that combines
with Python's operators.
"""

from __future__ import annotations

from fractions import Fraction

from symbn.ir.graph import Atom, Builder, kind_of
from symbn.ir.primitives import (
    ROW,
    Primitive,
    add_p,
    allreduce_p,
    div_p,
    exp_p,
    log_p,
    mul_p,
    neg_p,
    pow_p,
    shard_sum_p,
    sqrt_p,
    sub_p,
    sum_p,
)
from symbn.realise.protocol import NotSymbolic, Point

_FOLD = {add_p: lambda a, b: a + b, sub_p: lambda a, b: a - b, mul_p: lambda a, b: a * b, div_p: lambda a, b: a / b}


class Traced:
    """A value being traced: one atom of the builder's program."""

    __slots__ = ("atom", "tracer")

    def __init__(self, atom: Atom, tracer: Tracer):
        self.atom, self.tracer = atom, tracer

    def _op(self, prim: Primitive, other, swap: bool = False) -> Traced:
        a, b = self.atom, self.tracer.lift(other).atom
        return self.tracer.apply(prim, (b, a) if swap else (a, b))

    def __add__(self, o):
        return self._op(add_p, o)

    def __radd__(self, o):
        return self._op(add_p, o, True)

    def __sub__(self, o):
        return self._op(sub_p, o)

    def __rsub__(self, o):
        return self._op(sub_p, o, True)

    def __mul__(self, o):
        return self._op(mul_p, o)

    def __rmul__(self, o):
        return self._op(mul_p, o, True)

    def __truediv__(self, o):
        return self._op(div_p, o)

    def __rtruediv__(self, o):
        return self._op(div_p, o, True)

    def __pow__(self, o):
        return self._op(pow_p, o)

    def __rpow__(self, o):
        return self._op(pow_p, o, True)

    def __neg__(self):
        return self.tracer.apply(neg_p, (self.atom,))

    def __repr__(self) -> str:
        return f"Traced({self.atom!r})"


class Tracer:
    """A realisation that records into ``builder``; equations are labelled ``stage``."""

    def __init__(self, builder: Builder, stage: str = "traced"):
        self.builder, self.stage = builder, stage
        self.N = Traced(builder.vars["N"], self)

    def lift(self, value) -> Traced:
        if isinstance(value, Traced):
            return value
        if isinstance(value, (int, Fraction)):
            return Traced(Fraction(value), self)
        raise TypeError(f"cannot trace {value!r}")

    def apply(self, prim: Primitive, args: tuple[Atom, ...]) -> Traced:
        if all(isinstance(a, Fraction) for a in args):
            if prim in _FOLD and not (prim is div_p and args[1] == 0):
                return Traced(_FOLD[prim](*args), self)
            if prim is neg_p:
                return Traced(-args[0], self)
            if prim is pow_p and args[1].denominator == 1 and (args[0] != 0 or args[1] >= 0):
                return Traced(args[0] ** args[1].numerator, self)
        if prim is mul_p and (args[0] == 1 or args[1] == 1):  # x·1 is x: keeps the program readable
            return Traced(args[1] if args[0] == 1 else args[0], self)
        return Traced(self.builder.emit(prim, args, self.stage), self)

    def var(self, name: str) -> Traced:
        return Traced(self.builder.vars[name], self)

    # --- the protocol -------------------------------------------------------------------------

    def input(self, name: str) -> Traced:
        return self.var(name)

    def const(self, value: Fraction) -> Traced:
        return Traced(Fraction(value), self)

    def sum(self, v) -> Traced:
        v = self.lift(v)
        if kind_of(v.atom) != ROW:  # Σ_i c = N·c
            return self.N * v
        return self.apply(sum_p, (v.atom,))

    def shard_sum(self, v) -> Traced:
        return self.apply(shard_sum_p, (self.lift(v).atom,))

    def allreduce(self, v) -> Traced:
        return self.apply(allreduce_p, (self.lift(v).atom,))

    @property
    def Nk(self) -> Traced:
        return self.var("Nk")

    def sqrt(self, v) -> Traced:
        return self.apply(sqrt_p, (self.lift(v).atom,))

    def exp(self, v) -> Traced:
        return self.apply(exp_p, (self.lift(v).atom,))

    def log(self, v) -> Traced:
        return self.apply(log_p, (self.lift(v).atom,))

    def seed(self, kind: str):
        raise NotSymbolic("a traced program has no free index; seed its inputs with variables")

    def at_j(self, value):
        raise NotSymbolic("a traced program has no free index")

    def diff(self, f, name: str):
        raise NotSymbolic("a traced program is differentiated by running the engines on it")

    def zero(self, value, name: str):
        raise NotSymbolic("only a realisation of symbols sets an input to 0 afterwards")

    def substitution(self, point: Point) -> dict:
        raise NotSymbolic("a traced program has no values")

    def atoms(self, name: str) -> tuple:
        raise NotSymbolic("a traced program has no symbols")

    @property
    def moments(self) -> dict:
        return {}


def atom(value) -> Atom:
    """The atom a traced value (or an exact number) stands for."""
    return value.atom if isinstance(value, Traced) else Fraction(value)


__all__ = ["Traced", "Tracer", "atom"]
