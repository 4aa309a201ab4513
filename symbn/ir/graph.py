"""The graph IR: a layer's stages as a flat list of primitive equations.

Like a Jaxpr, a program is a sequence of equations ``out = prim(args)`` over
variables.  A stage such as ``y = gamma*xhat + beta`` becomes two equations
(``%1 = mul(gamma, xhat)``, ``y = add(%1, beta)``) that both remember the stage they
came from, so every engine can report per stage while its rule tables stay per
primitive (:mod:`symbn.ir.primitives`).  Every variable is a :class:`Var`, a name
that knows its *kind* and whether it is a temporary:

- ``row``: varies along the slice (x, x - mu, xhat, y, dy);
- ``scalar``: constant along the slice (mu, var, BatchNorm's gamma);
- ``constant``: a scalar that is not differentiated (eps, N).

Graphs are built by a :class:`Builder`, which checks kinds as each equation is
added (a reduction reads a row); :mod:`symbn.lang.lower` builds them from formulas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fractions import Fraction
from functools import cached_property

from symbn.ir.primitives import CONSTANT, ROW, SHARD, Primitive, id_p, neg_p


class Var(str):
    """A variable: its name (a file's name, ``N``, ``dy``, ``d<stage>``, or ``%k`` for a
    temporary), its kind, and whether it is a temporary.  A Var *is* the string of its
    name, so tables keyed by names are keyed by Vars too (names are unique in a graph)."""

    __slots__ = ("kind", "temp")

    def __new__(cls, name: str, kind: str, temp: bool = False):
        var = super().__new__(cls, name)
        var.kind, var.temp = kind, temp
        return var

    def __repr__(self) -> str:
        return f"Var({str(self)!r}, {self.kind!r}{', temp' if self.temp else ''})"

    def __reduce__(self):
        return Var, (str(self), self.kind, self.temp)


Atom = Var | Fraction  # a variable or an exact constant


def kind_of(atom: Atom) -> str:
    return CONSTANT if isinstance(atom, Fraction) else atom.kind


@dataclass(frozen=True)
class Eqn:
    out: Var
    prim: Primitive
    args: tuple[Atom, ...]
    stage: str  # the stage (or formula) this equation belongs to

    @property
    def vars(self) -> tuple[Var, ...]:
        """The arguments that are variables (not constants)."""
        return tuple(a for a in self.args if isinstance(a, Var))


@dataclass(frozen=True)
class Graph:
    """A checked program over named inputs, computing named stages and an output."""

    inputs: tuple[Var, ...]
    eqns: tuple[Eqn, ...]
    stages: tuple[str, ...]  # stage names in computation order
    output: Var
    N: Var
    extra: tuple[Var, ...] = ()  # names the realisation provides besides N (a shard's size Nk)

    @cached_property
    def vars(self) -> dict[str, Var]:
        """Every named variable (inputs, N, extra names, stages) by name."""
        out = {v: v for v in (*self.inputs, self.N, *self.extra)}
        out.update({e.out: e.out for e in self.eqns if not e.out.temp})
        return out

    @cached_property
    def kinds(self) -> dict[str, str]:
        """Every named variable's kind, by name."""
        return {n: v.kind for n, v in self.vars.items()}

    def stage_eqns(self, stage: str) -> tuple[Eqn, ...]:
        return tuple(e for e in self.eqns if e.stage == stage)

    def stage_args(self, stage: str) -> tuple[Var, ...]:
        """The named variables a stage reads that are not constants, in order of first use."""
        seen: dict[Var, None] = {}
        for eqn in self.stage_eqns(stage):
            seen.update({a: None for a in eqn.vars if not a.temp and a.kind != CONSTANT})
        return tuple(seen)

    def restrict(self, eqns: Iterable[Eqn], output: Var) -> Graph:
        """A graph of some of these equations (one stage's, say) with the same inputs."""
        return Graph(self.inputs, tuple(eqns), self.stages, output, self.N, self.extra)

    def __str__(self) -> str:
        return format_graph(self)


class KindError(ValueError):
    """An equation whose arguments have the wrong kind (a reduction of a per-slice value)."""


class Builder:
    """A growing list of equations over a table of named variables, kind-checked as it grows."""

    def __init__(self, kinds: Mapping[str, str]):
        self.vars: dict[str, Var] = {n: Var(n, k) for n, k in kinds.items()}
        self.eqns: list[Eqn] = []
        self._count = 0

    def emit(self, prim: Primitive, args: tuple[Atom, ...], stage: str) -> Var:
        """Append ``%k = prim(args)`` and return the new temporary."""
        kinds = [kind_of(a) for a in args]
        if prim.reads == ROW and kinds[0] != ROW:
            raise KindError(f"{prim.name}() of a quantity that is constant over the slice; "
                            f"{prim.name} reduces a row quantity (x, dy, x - mu, ...)")
        if prim.reads == SHARD and kinds[0] != SHARD:
            raise KindError(f"{prim.name}() merges a value per device (shard_sum(...), shard_mean(...), Nk), "
                            f"not a {kinds[0]} value")
        self._count += 1
        out = Var(f"%{self._count}", prim.kind(kinds), temp=True)
        self.eqns.append(Eqn(out, prim, args, stage))
        return out

    def define(self, name: str, atom: Atom, stage: str) -> Var:
        """Name a value: the temporary just computed is renamed, anything else copied."""
        last = self.eqns[-1] if self.eqns else None
        if isinstance(atom, Var) and atom.temp and last is not None and last.out is atom:
            var = Var(name, atom.kind)
            self.eqns[-1] = Eqn(var, last.prim, last.args, stage)
        else:
            var = Var(name, kind_of(atom))
            self.eqns.append(Eqn(var, id_p, (atom,), stage))
        self.vars[name] = var
        return var

    def graph(self, inputs: Iterable[str], stages: Iterable[str], output: str, extra: Iterable[str] = ()) -> Graph:
        return Graph(tuple(self.vars[n] for n in inputs), tuple(self.eqns), tuple(stages), self.vars[output],
                     self.vars["N"], tuple(self.vars[n] for n in extra))


# --- printing --------------------------------------------------------------------


def format_eqn(e: Eqn) -> str:
    args = [str(a) for a in e.args]
    if e.prim.infix:
        rhs = f" {e.prim.infix} ".join(args)
    elif e.prim is neg_p:
        rhs = f"-{args[0]}"
    elif e.prim is id_p:
        rhs = args[0]
    else:
        rhs = f"{e.prim.name}({args[0]})"
    return f"{e.out} : {e.out.kind} = {rhs}"


def format_graph(g: Graph) -> str:
    ins = ", ".join(f"{n}: {n.kind}" for n in g.inputs)
    lines = [f"inputs  {ins}"]
    lines += ["  " + format_eqn(e) for e in g.eqns]
    lines.append(f"output  {g.output}")
    return "\n".join(lines)


__all__ = ["Atom", "Builder", "Eqn", "Graph", "KindError", "Var", "format_eqn", "format_graph", "kind_of"]
