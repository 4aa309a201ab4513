"""The forward's statistics as sums that devices add: one all-reduce for all of them.

With ``reduce=`` each device holds part of the slice.  A statistic whose body
reads an earlier statistic (the variance reads the mean) cannot be summed per
device before that statistic is known, which would cost one all-reduce per
level.  So each reduction's body is written as a polynomial in the earlier
statistics whose coefficients are sums over the slice of the inputs alone:

    Σ (x - mu)²  =  Σ x² - 2·mu·Σ x + N·mu²

Every device computes those sums over its rows (the *slots*), one all-reduce adds
them together with the count, and each statistic is then evaluated from them in
float64.  Powers of the data are summed around the device's own mean and moved
to zero in float64 (``_powers``), so only the whole-batch sums cancel, in float64.
A body that is not a polynomial in the earlier statistics (exp(x - mean(x)))
raises :class:`NotSplittable`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import sympy as sp
from sympy.printing.numpy import NumPyPrinter

from symbn.emit.centring import centrings
from symbn.emit.printer import Printer
from symbn.ir.graph import Eqn
from symbn.ir.primitives import FUNCTIONS, ROW, mean_p
from symbn.lang.expr import BinOp, Call, Expr, Name, Neg, parse, parse_assignment, to_text

COUNT = sp.Symbol("N")


class NotSplittable(Exception):
    """A statistic that devices cannot sum in one message."""


class _Sym:
    """The realisation the stage equations are evaluated on: SymPy's functions."""

    sqrt, exp, log = staticmethod(sp.sqrt), staticmethod(sp.exp), staticmethod(sp.log)


@dataclass
class Statistics:
    """The slots every device sums, and each reduction's value from them."""

    rows: set[sp.Symbol]
    slots: list[sp.Expr] = field(default_factory=list)  # row bodies, in the inputs' symbols
    values: dict[str, sp.Expr] = field(default_factory=dict)  # reduction output -> value in S<k>, N, inputs, stats
    rest: tuple[Eqn, ...] = ()  # the equations still to print: no reduction, nothing only a reduction reads

    def slot(self, body: sp.Expr) -> sp.Symbol:
        if body not in self.slots:
            self.slots.append(body)
        return sp.Symbol(f"S{self.slots.index(body)}")


def statistics(eqns: tuple[Eqn, ...], row_inputs: set[str], wanted: set[str]) -> Statistics:
    """Split the reductions of ``eqns`` (the forward, in order) into slots.
    ``wanted``: what the forward returns or saves."""
    out = Statistics({sp.Symbol(r) for r in row_inputs})
    env: dict = {}

    def value(a):
        if not isinstance(a, str):
            return sp.Rational(a.numerator, a.denominator)
        return env.setdefault(a, sp.Symbol(a))  # an input, or N

    for e in eqns:
        args = [value(a) for a in e.args]
        if not e.prim.reduction:
            env[e.out] = e.prim.impl(_Sym, *args)
            continue
        total = _sum(args[0], out, {sp.Symbol(s) for s in out.values})
        out.values[e.out] = total / COUNT if e.prim is mean_p else total
        env[e.out] = sp.Symbol(e.out)
    out.rest = _needed(eqns, wanted)
    return out


def _sum(body: sp.Expr, out: Statistics, stats: set[sp.Symbol]) -> sp.Expr:
    """Σ body over the slice, as a polynomial in the statistics with slots as coefficients."""
    present = sorted(body.free_symbols & stats, key=str)
    try:
        terms = sp.Poly(body, *present).terms() if present else [((), body)]
    except sp.PolynomialError as error:
        raise NotSplittable(f"{body} is not a polynomial in the statistics {[str(s) for s in present]}") from error
    total = sp.Integer(0)
    for powers, coefficient in terms:
        if coefficient.free_symbols & stats:
            raise NotSplittable(f"{coefficient} reads a statistic outside a polynomial")
        total += sp.Mul(*(s**k for s, k in zip(present, powers))) * _slots(coefficient, out)
    return total


def _slots(coefficient: sp.Expr, out: Statistics) -> sp.Expr:
    """Σ coefficient over the slice: each term's per-slice factors times a slot (or N)."""
    total = sp.Integer(0)
    for term in sp.Add.make_args(sp.expand(coefficient, power_exp=False, log=False)):
        per_slice, row = [], []
        for factor in sp.Mul.make_args(term):
            (row if factor.free_symbols & out.rows else per_slice).append(factor)
        total += sp.Mul(*per_slice) * (out.slot(sp.Mul(*row)) if row else COUNT)
    return total


def _needed(eqns: tuple[Eqn, ...], wanted: set[str]) -> tuple[Eqn, ...]:
    """The equations that compute ``wanted`` from the inputs and the reductions' values."""
    live, keep = set(wanted), []
    for e in reversed(eqns):
        if e.out in live:
            keep.append(e)
            if not e.prim.reduction:
                live |= set(e.vars)
    return tuple(e for e in reversed(keep) if not e.prim.reduction)


# --- the split as a derivation file's [shards]: what the prover checks ---------------------------


def shards_table(layer, formulas: Mapping[str, str]) -> dict[str, list[str]]:
    """The split the emitted code computes, as a ``[shards]`` table (``symbn prove
    --shards K`` checks it for shard sizes N_1 … N_K): each stage holding a reduction
    from the all-reduced slots, and each gradient (``formulas``: the module's FORMULAS,
    d<input> -> text) with its sums all-reduced."""
    graph = layer.graph
    rows = {n for n, i in layer.inputs.items() if i.kind == ROW}
    stats = statistics(graph.eqns, rows, {graph.output} | set(graph.stages))
    total = "allreduce(Nk)"

    def text(e: sp.Expr) -> str:
        out = str(e)
        for k, body in enumerate(stats.slots):
            out = re.sub(rf"\bS{k}\b", f"allreduce(shard_sum({body}))", out)
        return re.sub(r"\bN\b", total, out)

    env: dict[str, sp.Expr] = {}
    stages = []
    for name in graph.stages:
        eqns = graph.stage_eqns(name)
        if not any(e.prim.reduction for e in eqns):
            continue
        for e in eqns:  # the stage's value: its reductions from the slots, earlier stages by name
            args = [sp.Rational(a.numerator, a.denominator) if not isinstance(a, str) else
                    env.get(a, sp.Symbol(a)) for a in e.args]
            env[e.out] = stats.values[e.out] if e.prim.reduction else e.prim.impl(_Sym, *args)
        stages.append(f"{name} = {text(env[name])}")
    if not stages:  # no statistics: the forward is the layer's, stage by stage (a table needs a stage)
        stages.append(layer.stage_text[graph.stages[0]])
    backward = [f"{grad} = {to_text(_all_reduced(parse(t), total))}" for grad, t in formulas.items()]
    return {"stages": stages, "backward": backward}


def prove_split(layer, formulas: Mapping[str, str], time_limit: float | None = 60.0) -> str | None:
    """Prove the emitted split (:func:`shards_table`) equal to the layer for K = 2 and 3
    devices of any sizes (the merge is a sum over devices, so any K follows).  None
    when proved, else what was not."""
    from dataclasses import replace

    from symbn.lang.derivation import SpecError, _Reader  # the [shards] reader, on a table we wrote
    from symbn.proof.shards import prove_shards

    stages = {n: (t, parse_assignment(t)[1]) for n, t in layer.stage_text.items()}
    try:
        split = replace(layer, split=_Reader(layer.path).split(shards_table(layer, formulas), layer, stages))
    except SpecError as err:  # a statistic without a name of its own (x - mean(x) inline) cannot be written yet
        return f"the split could not be written as a [shards] table ({err.message}); name each statistic as a stage"
    for devices in (2, 3):
        for result in prove_shards(split, devices, time_limit).results:
            if result.verdict != "proved":
                return f"{result.wrt} on {devices} devices: {result.verdict}"
    return None


def _all_reduced(e: Expr, total: str) -> Expr:
    """A formula over one device's part of the slice: sums all-reduced, N the whole count."""
    if isinstance(e, Call) and FUNCTIONS[e.fn].reduction:
        summed = Call("allreduce", Call("shard_sum", _all_reduced(e.arg, total)))
        return BinOp("/", summed, parse(total)) if e.fn == "mean" else summed
    if isinstance(e, Call):
        return Call(e.fn, _all_reduced(e.arg, total))
    if isinstance(e, BinOp):
        return BinOp(e.op, _all_reduced(e.left, total), _all_reduced(e.right, total))
    if isinstance(e, Neg):
        return Neg(_all_reduced(e.arg, total))
    return parse(total) if isinstance(e, Name) and e.id == "N" else e


# --- the text ------------------------------------------------------------------------------


def emit_statistics(p: Printer, eqns: tuple[Eqn, ...], data: str, row_inputs: set[str], wanted: set[str]) -> \
        tuple[tuple[Eqn, ...], int]:
    """Print the device sums, the one all-reduce and the reductions' values; a
    centring mean is split into the data's dtype and its offset (read as m + c,
    as in the backward given a saved mean).  Returns the equations still to print
    and the number of values the message holds."""
    stats = statistics(eqns, row_inputs, wanted)
    names = {s: p.fresh(f"sum_{_label(s)}") for s in stats.slots}
    powers = {s: int(s.exp) if s.is_Pow else 1 for s in stats.slots
              if s == sp.Symbol(data) or (s.is_Pow and s.base == sp.Symbol(data) and s.exp.is_Integer and s.exp > 0)}
    if powers:
        degree = max(powers.values())
        by_power = {k: names[s] for s, k in powers.items()}
        got = ", ".join(by_power.get(k, "_") for k in range(1, degree + 1))
        p.emit(f"{got}{',' if degree == 1 else ''} = _powers({data}, axes, {degree})")
    for s in stats.slots:
        if s not in powers:
            wide = {r: sp.Symbol(f"_wide({r})") for r in s.free_symbols & stats.rows}
            p.emit(f"{names[s]} = np.add.reduce(np.broadcast_to({_text(s.xreplace(wide))}, shape), axis=axes, "
                   "keepdims=True)")
    if not stats.values:  # no statistics: nothing to send
        return stats.rest, 0
    message = ", ".join(["n", *names.values()])
    p.emit(f"{message} = _allreduce(reduce, {message})" if stats.slots else "n = _allreduce(reduce, n)[0]")
    centred = set(centrings(eqns, row_inputs).values())
    wide: dict[sp.Symbol, sp.Symbol] = {sp.Symbol(f"S{k}"): sp.Symbol(names[s]) for k, s in enumerate(stats.slots)}
    wide[COUNT] = sp.Symbol("n")
    for e in eqns:
        if e.out not in stats.values:
            continue
        name = p.name_of(e)
        w = p.fresh(f"{name}_w")
        p.emit(f"{w} = {_text(stats.values[e.out].xreplace(wide))}")
        wide[sp.Symbol(e.out)] = sp.Symbol(w)
        if e.out in centred:
            c = p.fresh(f"{name}_c")
            p.emit(f"{name}, {c} = _split({w}, dtype)")
            p.centring.given[name], p.centring.mean_of[name] = c, e.args[0]
        else:
            p.emit(f"{name} = np.asarray({w}, dtype)")
    return stats.rest, 1 + len(stats.slots)


def _label(body: sp.Expr) -> str:
    text = "".join(ch if ch.isalnum() else "_" for ch in str(body).replace("**", ""))
    return "_".join(filter(None, text.split("_")))[:24] or "t"


def _text(e: sp.Expr) -> str:
    return NumPyPrinter().doprint(e).replace("numpy.", "np.")


__all__ = ["NotSplittable", "Statistics", "emit_statistics", "shards_table", "statistics"]
