"""Where each equation of a fused kernel runs: per element, per block of a slice, or per slice.

A compiled kernel reads the data once for the per-slice values (statistics,
sums the gradient formulas need) and once more for the row values (y, dx).  The
first read is split into blocks of rows that fit in cache.  A reduction whose
body reads no statistic is summed in the block's first pass; one that reads a
statistic of *level* p (computed from reductions of level p) is summed in pass
p + 1, with the block's own estimate of that statistic (``mu`` of the block for
``x - mu``), and the blocks are merged exactly by :mod:`.shift`.  So a centred
variance is two passes over a block in cache and one over memory, and stable
(:mod:`.loops` may take two passes in one sweep where that costs no accuracy).

The equations are the layer's stages and the certified formulas, lowered
(:func:`ops`); nothing here is specific to a layer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction

from symbn.emit.certify import NotCertified
from symbn.emit.targets import shift
from symbn.ir.graph import Eqn, Var
from symbn.ir.primitives import CONSTANT, ROW, Primitive, id_p, mean_p
from symbn.lang.derivation import Formula, Layer


@dataclass(frozen=True)
class Op:
    """One equation with printable names: ``out = prim(args)``; ``kind`` is out's."""

    out: str
    prim: Primitive
    args: tuple[str | Fraction, ...]
    kind: str

    @property
    def reads(self) -> tuple[str, ...]:
        return tuple(a for a in self.args if isinstance(a, str))


def ops(layer: Layer, formulas: Mapping[str, Formula] = {}) -> list[Op]:
    """The layer's stage equations, then each formula's as ``d<input> = ...``.
    Temporaries get names no file can use (a leading underscore)."""
    out = [_op(e, {}) for e in layer.graph.eqns]
    for wrt, formula in formulas.items():
        grad = "d" + wrt
        names = {e.out: f"_{grad}{e.out[1:]}" for e in formula.eqns if e.out.temp}
        if formula.eqns and formula.eqns[-1].out == formula.result:
            names[formula.result] = grad
        out += [_op(e, names) for e in formula.eqns]
        if grad not in names.values():  # the formula is a name or a number: d<input> = it
            arg = _name(formula.result, names) if isinstance(formula.result, Var) else formula.result
            out.append(Op(grad, id_p, (arg,), formula.result.kind if isinstance(formula.result, Var) else "constant"))
    return _shared(out)


def _shared(every: list[Op]) -> list[Op]:
    """A temporary that repeats an earlier op (``dy*xmu`` in two formulas) is that op's result."""
    seen: dict[tuple, str] = {}
    alias: dict[str, str] = {}
    out = []
    for op in every:
        op = Op(op.out, op.prim, tuple(alias.get(a, a) if isinstance(a, str) else a for a in op.args), op.kind)
        key = (op.prim.name, op.args)
        if key in seen and op.out.startswith("_"):
            alias[op.out] = seen[key]
            continue
        seen.setdefault(key, op.out)
        out.append(op)
    return out


def _name(v: Var, names: Mapping[str, str]) -> str:
    return names.get(v, f"_t{v[1:]}" if v.temp else str(v))


def _op(e: Eqn, names: Mapping[str, str]) -> Op:
    args = tuple(_name(a, names) if isinstance(a, Var) else a for a in e.args)
    return Op(_name(e.out, names), e.prim, args, e.out.kind)


@dataclass
class Pass:
    """One pass over a block: the row ops it evaluates per element, the reductions
    it sums, and for each reduction the shift terms (:mod:`.shift`)."""

    level: int
    rows: list[Op]
    reductions: list[Op]
    shifted: list[str]  # statistics the row ops read at the block's own estimate
    terms: dict[str, list[shift.Term]] = field(default_factory=dict)  # by body

    @property
    def bodies(self) -> list[str]:
        """The distinct bodies summed (``mean(dy)`` and ``sum(dy)`` share one sum)."""
        return list(dict.fromkeys(r.args[0] for r in self.reductions))


class Schedule:
    """One kernel pipeline: per-slice values ``wanted`` and the row ``outputs``.

    ``given``: names the caller provides (row inputs, per-slice inputs, saved
    statistics, constants).  After construction: ``passes`` over each block,
    ``merge`` (the per-slice ops, in order, reductions included), ``per_slice``
    (the values the reduce kernel returns: ``wanted``, then what the row ops read),
    ``rows`` (the element-wise ops of the outputs).  ``whole``: a reduction's body
    is not polynomial in the statistics it reads, so the blocks are whole slices.
    """

    def __init__(self, all_ops: Iterable[Op], given: Mapping[str, str], wanted: list[str], outputs: list[str]):
        self.ops = list(all_ops)
        self.by_out = {op.out: op for op in self.ops}
        self.given = dict(given)  # name -> kind
        self.rows = self._closure(outputs, through_scalars=False)
        reads = [a for op in self.rows for a in op.reads if self._kind(a) != ROW]
        reads += [o for o in outputs if self._kind(o) != ROW]  # an output constant along the slice
        # the row ops read per-slice values from the reduce kernel's result; given constants are arguments
        self.per_slice = list(dict.fromkeys([*wanted, *(a for a in reads if self._kind(a) != CONSTANT or a not in self.given)]))
        needed = self._closure(self.per_slice, through_scalars=True)
        self.level = self._levels(needed)
        self.merge = [op for op in needed if op.kind != ROW]
        top = max((self.level[op.out] for op in self.merge if op.prim.reduction), default=0)
        self.passes = [self._pass(p, needed) for p in range(1, top + 1)]
        self._defer()
        self.whole = False
        try:
            for p in self.passes:
                p.terms = shift.terms(p.rows, p.bodies, p.shifted, self._kind)
        except shift.NotPolynomial:
            self.whole = True
            for p in self.passes:
                p.terms = {b: [] for b in p.bodies}

    def _kind(self, name: str) -> str:
        op = self.by_out.get(name)
        return op.kind if op is not None else self.given[name]

    def _closure(self, names: Iterable[str], through_scalars: bool) -> list[Op]:
        """The ops that compute ``names``, in order; without ``through_scalars`` the
        walk stops at per-slice values (the reduce kernel provides them)."""
        seen, todo = set(), list(names)
        while todo:
            name = todo.pop()
            op = self.by_out.get(name)
            if name in seen or name in self.given or op is None:
                continue
            if not through_scalars and op.kind != ROW:
                continue
            seen.add(name)
            todo.extend(op.reads)
        missing = [n for n in names if n not in self.by_out and n not in self.given]
        if missing:
            raise NotCertified(f"the kernel needs {missing[0]!r}, which nothing computes")
        return [op for op in self.ops if op.out in seen]

    def _levels(self, needed: list[Op]) -> dict[str, int]:
        """0 for what depends on no reduction; a reduction is one more than the
        statistics its body reads; any other op, the most of its arguments."""
        level: dict[str, int] = {}
        for op in needed:
            if op.prim.reduction:
                body = self._closure([op.args[0]], through_scalars=False)
                stats = {a for o in body for a in o.reads if self._kind(a) != ROW} | {
                    a for a in op.reads if self._kind(a) != ROW}
                level[op.out] = 1 + max((level.get(s, 0) for s in stats), default=0)
            else:
                level[op.out] = max((level.get(a, 0) for a in op.reads), default=0)
        return level

    def _pass(self, p: int, needed: list[Op]) -> Pass:
        reductions = [op for op in needed if op.prim.reduction and self.level[op.out] == p]
        rows = self._closure([r.args[0] for r in reductions if isinstance(r.args[0], str)], through_scalars=False)
        reads = {a for op in rows for a in op.reads} | {r.args[0] for r in reductions}
        shifted = [op.out for op in needed if op.kind != ROW and op.out in reads and self.level[op.out] >= 1]
        return Pass(p, rows, reductions, shifted)

    def _defer(self) -> None:
        """A sum of the first pass that no block estimate needs (Σ dy) is summed in the
        last pass instead: the first pass then reads less, the last reads it anyway."""
        if len(self.passes) < 2:
            return
        first, last = self.passes[0], self.passes[-1]
        needed = {op.out for q in self.passes[1:] for op in self._closure(q.shifted, through_scalars=True)}
        later = [r for r in first.reductions if r.out not in needed and r.args[0] not in
                 {b.args[0] for b in first.reductions if b.out in needed}]
        first.reductions = [r for r in first.reductions if r not in later]
        last.reductions = last.reductions + later
        first.rows = self._closure([r.args[0] for r in first.reductions if isinstance(r.args[0], str)], False)
        last.rows = self._closure([r.args[0] for r in last.reductions if isinstance(r.args[0], str)], False)

    def block_ops(self, p: int) -> list[Op]:
        """The per-slice ops a block evaluates after its pass p (its own estimates),
        for the statistics later passes read."""
        later = {s for q in self.passes[p:] for s in q.shifted}
        if not later:
            return []
        chain = {op.out for op in self._closure(later, through_scalars=True)}
        return [op for op in self.merge if op.out in chain and not op.prim.reduction and self.level[op.out] == p]

    def level0(self) -> list[Op]:
        """Per-slice ops that depend on no reduction (from inputs and constants)."""
        return [op for op in self.merge if self.level[op.out] == 0]

    def mean_of(self, reduction: Op) -> bool:
        return reduction.prim is mean_p


__all__ = ["Op", "Pass", "Schedule", "ops"]
