"""Emit a self-contained NumPy module that computes exactly the proved gradient.

Certification comes first (:mod:`.certify`, of the closed forms and the fast
forms :mod:`.rearrange` makes of them): nothing is printed that is not proved,
and :func:`emit_module` raises :class:`~.certify.NotCertified` instead.  Then the plan (:mod:`.plan`: what the backward reads, saves, recomputes), and the
text: the stages (:mod:`.printer`), the gradients (:mod:`.gradients`), the
helpers every module carries (:mod:`.runtime`).  This module assembles it.

The module has ``forward(<inputs>, *, <constants>, axis=0, return_saved=False)``
and ``backward(dy, <inputs>, *, <constants>, axis=0, saved=None, out=None)``.
Shapes: the slice is the reduced ``axis`` (an int or a tuple) of the data (the
first row input).  Scalar-kind inputs are per-slice values: an array of the kept
axes' shape is put on the kept axes (BatchNorm gamma (C,) for (N, C, H, W) with
``axis=(0, 2, 3)``); row-kind inputs other than the data live on the reduced axes
(LayerNorm gamma (D,) with ``axis=-1``); any other shape broadcasts by NumPy's
rules.  A gradient has its input's shape: it is summed over every axis the input
was broadcast along (the reduced axes for BatchNorm gamma, the batch for
LayerNorm gamma), the frameworks' convention.
"""

from __future__ import annotations

import textwrap
import types

from symbn.emit import runtime as emit_runtime
from symbn.emit import second
from symbn.emit.body import body, preamble, printer, signature
from symbn.emit.centring import Unfoldable, centrings
from symbn.emit.certify import NotCertified, certify
from symbn.emit.common import constants, helpers
from symbn.emit.gradients import gradients
from symbn.emit.plan import Plan
from symbn.emit.printer import Printer
from symbn.emit.split import NotSplittable, emit_statistics, prove_split
from symbn.ir.primitives import CONSTANT, FUNCTIONS, ROW
from symbn.lang.derivation import Layer
from symbn.lang.expr import BinOp, Call, Expr, Neg

# --- the module -----------------------------------------------------------------------------


def emit_module(layer: Layer, time_limit: float | None = 60.0) -> str:
    """The NumPy module's source.  Raises :class:`NotCertified` before printing
    anything if a formula is not proved."""
    return _emit(layer, time_limit)[0]


def _emit(layer: Layer, time_limit: float | None) -> tuple[str, types.CodeType]:
    """The module's source and its compiled code: a printer bug fails here, not in the user's import."""
    certified = certify(layer, time_limit)
    twice = second.certify_second(layer, time_limit)
    plan = Plan(layer, {w: t for w, (t, _) in certified.items()})
    messages: dict[str, list[int] | None] = {}
    split = _split_functions(plan, messages, time_limit)
    try:
        backward, folded = _backward(plan, fold=True, messages=messages)
    except Unfoldable:
        backward, folded = _backward(plan, fold=False, messages=messages)
    parts = [
        _docstring(layer, plan, certified, folded, messages, second.docstring(layer, twice)),
        "import numpy as np",
        constants(layer, plan, twice),
        helpers(emit_runtime),
        *split,
        _forward(plan, messages=messages),
        backward,
    ]
    if twice:
        parts.append(second.double_backward(layer, twice, plan.saved_order))
    source = "\n\n\n".join(p.strip("\n") for p in parts) + "\n"
    return source, compile(source, f"<symbn emit {layer.path}>", "exec")


def load_module(layer: Layer, time_limit: float | None = 60.0) -> types.ModuleType:
    """The emitted module, executed into a fresh module object (our own code)."""
    source, code = _emit(layer, time_limit)
    module = types.ModuleType(f"symbn_emitted_{layer.name}")
    module.__file__ = code.co_filename
    exec(code, module.__dict__)  # noqa: S102 - our own printed code
    module.SOURCE = source
    return module


def _docstring(layer: Layer, plan: Plan, certified, folded: bool, messages: dict, twice: str) -> str:
    from symbn.version import __version__

    stages = "\n".join(f"    {layer.stage_text[s]}" for s in layer.graph.stages)
    centred = centrings(plan.graph.eqns, {n for n, i in layer.inputs.items() if i.kind == ROW})
    rounding = ""
    if centred:
        d, m = next(iter(centred.items()))
        x = next(e.args[0] for e in plan.graph.eqns if e.out == m)
        mean = m if not m.temp else f"mean({x})"
        how = ("The forward subtracts c from the centred values in place; the backward keeps them as computed and "
               "subtracts c where they are read (in the sums over the slice and the gradients' constant terms)."
               if d in folded else "The forward and the backward subtract c from the centred values in place.")
        saved = ("" if m not in plan.saved else
                 f" The forward saves {m} + c exactly (float64). The backward given it splits it into {m} in the "
                 "data's dtype and c again; given a mean no wider than the data (a framework's float32 mean), it "
                 "measures c itself.")
        text = (f"In float16/float32 a mean such as {mean} is rounded, by a few units in its last place after a "
                f"long sum, and that is much of the spread of data with a large mean. So the code also takes c, "
                f"the small mean left in {x} - {mean}: {mean} + c is the mean to rounding, and other reads of "
                f"{mean} use it. {how}{saved} This changes rounding only, not the formulas.")
        rounding = "\n" + textwrap.fill(text, 84) + "\n"
    grads = "\n".join(f"    d{w} = {t}" for w, (t, _) in certified.items())
    closed = "\n".join(f"    d{w} = {f.text}" for w, f in layer.closed_form.items())
    return f'''"""{layer.title or layer.name}: forward and backward in NumPy.

Emitted by symbn {__version__} from {layer.path}.  Do not edit: re-emit.

Forward (the stages of the file; statistics are two-pass as written):

{stages}
{rounding}
Backward: these formulas are what the code computes; each was proved equal to
reverse mode for every slice size N before this module was written, as was the
closed form of the file it was rearranged from.

{grads}

Closed forms of the file:

{closed}

{twice}

The slice is the reduced ``axis`` (int or tuple) of {plan.data}.  Scalar-kind inputs
are per-slice values: an array of the kept axes' shape is put on the kept axes,
e.g. shape (C,) for (N, C, H, W) with axis=(0, 2, 3).  Row-kind inputs other than
{plan.data} of the reduced axes' shape are put on the reduced axes.  Any other shape
broadcasts by NumPy's rules.  Each gradient has its input's shape, summed over
the axes that input was broadcast along.

{_many_devices(messages)}
"""'''


def _many_devices(messages: dict) -> str:
    """The module docstring's paragraph on reduce=."""
    forward, backward = messages.get("forward"), messages.get("backward")
    if forward is None:
        return "Many devices: reduce= is refused (ValueError): see forward's docstring."
    send = (lambda sizes: " and ".join(f"{'1 + ' if k == 0 else ''}{m}·C" for k, m in enumerate(sizes)))
    count = "one all-reduce" if len(backward or ()) == 1 else f"{len(backward or ())} all-reduces"
    text = (f"Many devices: forward and backward take reduce=, a callable that sums an array across devices "
            f"(symbn.distributed.torch_all_reduce()); each device passes its part of the slice. "
            f"Forward: {'one all-reduce of 1 + ' + str(forward[0] - 1) + '·C' if forward[0] else 'no all-reduce'}"
            f"{' float64 values' if forward[0] else ''}; backward: "
            f"{count + ' of ' + send(backward) + ' float64 values' if backward else 'no all-reduce'} "
            f"(C slices). The split was proved equal to the layer for 2 and 3 devices of any sizes.")
    return textwrap.fill(text, 84, break_on_hyphens=False)


def _forward(plan: Plan, split: bool = False, messages: dict | None = None) -> str:
    """``forward``, or with ``split`` ``_forward_split``: the statistics from one all-reduce."""
    layer, graph = plan.layer, plan.graph
    p = printer(plan)
    preamble(p, plan, backward=False)
    wanted = {graph.output} | plan.saved
    eqns = plan.eqns(plan.closure(wanted))
    if split:
        rows = {n for n, i in layer.inputs.items() if i.kind == ROW}
        try:
            eqns, size = emit_statistics(p, eqns, plan.data, rows, wanted)
            messages["forward"] = [size]
        except NotSplittable as error:
            messages["forward"] = None
            tail = "axis=0, return_saved=False, reduce=None"
            return _refuse("_forward_split", signature(layer, "", tail), ONE_MESSAGE + str(error))
    p.equations(eqns, wanted)
    given = p.centring.given
    saved = ", ".join(f"{s!r}: _exact({s}, {given[s]})" if s in given else f"{s!r}: {s}" for s in plan.saved_order)
    p.emit("if return_saved:")
    p.emit(f"    return _as(result, {graph.output}), {{{saved}}}")
    p.emit(f"return _as(result, {graph.output})")
    tail = "axis=0, return_saved=False, reduce=None"
    if split:
        return "\n".join([f"def _forward_split({signature(layer, '', tail)}):",
                          '    """forward with reduce= (see forward)."""', *p.lines])
    doc = [f'"""{layer.title or layer.name}, forward: returns {graph.output}, or ({graph.output}, saved) with',
           f"saved = {{{', '.join(repr(s) + ': ...' for s in plan.saved_order)}}}, the per-slice stages",
           "backward needs (keepdims arrays).  A mean the data are centred by is saved",
           "exact: in float64 for float16/float32 data.", "", *[f"    {layer.stage_text[s]}" for s in graph.stages],
           "", *_reduce_doc(messages, "forward"), '"""']
    head = f"def forward({signature(layer, '', tail)}):"
    return "\n".join([head, *("    " + d if d else "" for d in doc), _dispatch(layer, "_forward_split", tail), *p.lines])


def _dispatch(layer: Layer, target: str, tail: str) -> str:
    """The line that hands a call with reduce= to the split function."""
    names = [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    names = (["dy"] if target == "_backward_split" else []) + names
    keywords = [n for n, i in layer.inputs.items() if i.kind == CONSTANT] + [t.split("=")[0] for t in tail.split(", ")]
    return (f"    if reduce is not None:\n        return {target}({', '.join(names)}, "
            f"{', '.join(f'{k}={k}' for k in keywords)})")


ONE_MESSAGE = "reduce=: this layer's statistics cannot be summed across devices in one message: "


def _refuse(name: str, signature: str, message: str) -> str:
    return f"def {name}({signature}):\n    raise ValueError({message!r})"


def _split_functions(plan: Plan, messages: dict, time_limit: float | None = 60.0) -> list[str]:
    """``_forward_split`` and ``_backward_split``: forward and backward with reduce=, once
    the split they compute is proved equal to the layer for any shard sizes; else two
    functions that refuse reduce= and say why.  ``messages`` gets each one's message sizes."""
    try:
        unproved = prove_split(plan.layer, {"d" + w: t for w, t in plan.texts().items()}, time_limit)
        if unproved is not None:
            unproved = f"reduce=: the split this module would compute was not proved equal to the layer: {unproved}"
    except NotSplittable as error:
        unproved = ONE_MESSAGE + str(error)
    if unproved is not None:
        messages["forward"] = messages["backward"] = None
        tails = ("axis=0, return_saved=False, reduce=None", "axis=0, saved=None, out=None, reduce=None")
        return [_refuse(name, signature(plan.layer, first, tail), unproved)
                for name, first, tail in zip(("_forward_split", "_backward_split"), ("", "dy"), tails)]
    try:
        backward, _ = _backward(plan, fold=True, split=True, messages=messages)
    except Unfoldable:
        backward, _ = _backward(plan, fold=False, split=True, messages=messages)
    return [_forward(plan, split=True, messages=messages), backward]


def _reduce_doc(messages: dict, which: str) -> list[str]:
    """What reduce= does and costs, for a docstring."""
    sizes = messages.get(which)
    axis = "the reduced axis (the slice)"
    if sizes is None:
        return ["reduce=: refused (ValueError): this layer's statistics cannot be summed across",
                "devices in one message, or that split was not proved."]
    if which == "forward":
        sums = sizes[0] - 1
        cost = (f"one all-reduce of 1 + {sums}·C float64 values (the count, then {sums} sums per slice; "
                f"C = the number of slices)" if sums > 0 else "one all-reduce of the count only" if sums == 0
                else "no all-reduce (no statistics)")
    else:
        parts = [f"1 + {k}·C" if i == 0 else f"{k}·C" for i, k in enumerate(sizes)]
        many = "one all-reduce" if len(sizes) == 1 else f"{len(sizes)} all-reduces"
        cost = (f"{many} of {' and '.join(parts)} float64 values "
                "(the count, then the gradients' sums per slice), and with saved=None first the forward's"
                if sizes else "no all-reduce: no gradient sums over the slice")
    return textwrap.wrap(f"reduce: a callable that takes a NumPy array and returns its elementwise sum across "
                         f"devices, same shape and dtype (symbn.distributed.torch_all_reduce()), or None for one "
                         f"device.  With it {axis} is split across devices: each passes its own part of it (for "
                         f"BatchNorm its rows of the batch, for LayerNorm its features) and gets its own part of the "
                         f"result; the statistics and the sums over the slice are those of the whole slice.  Cost: "
                         f"{cost}.", 84, break_on_hyphens=False)


def _backward(plan: Plan, fold: bool, split: bool = False, messages: dict | None = None) -> tuple[str, set[str]]:
    """The backward function, and the centred stages whose offset it folds.
    ``fold``: centring offsets are folded into what reads the centred stage
    (raises :class:`Unfoldable` when a read is not covered).  ``split``:
    ``_backward_split``, its sums over the slice added across devices."""
    layer = plan.layer
    tail = "axis=0, saved=None, out=None, reduce=None"
    if not split:
        p, folded = body(plan, fold)
    else:
        p = printer(plan, fold)
        p.centring.split = True
        shapes = preamble(p, plan, backward=True)
        _split_saved(p, plan, plan.rows | plan.saved | {"dy"})
        messages["backward"] = _reduce_sums(p, plan)
        gradients(p, plan, shapes)
        head = [f"def _backward_split({signature(layer, 'dy', tail)}):", '    """backward with reduce= (see backward)."""']
        return "\n".join([*head, *p.lines]), set(p.centring.offsets)
    doc = [(f'"""{layer.title or layer.name}, backward: returns '
            f"{', '.join('d' + w for w in layer.differentiable)} (the gradients of the"),
           "differentiable inputs, in file order), computed as",
           "", *[f"    d{w} = {t}" for w, t in plan.texts().items()], "",
           "saved: the dict forward(..., return_saved=True) returns, or None to recompute",
           "the statistics.  out: an array for the first gradient, or a tuple with an",
           "array or None per gradient.  With reduce=, gradients of per-slice inputs",
           "(BatchNorm's dgamma, dbeta) are sums over the whole slice, the same on every",
           "device; saved should be the forward's (its mean is float64).", "",
           *_reduce_doc(messages, "backward"), '"""']
    head = f"def backward({signature(layer, 'dy', tail)}):"
    lines = [head, *("    " + d if d else "" for d in doc), _dispatch(layer, "_backward_split", tail), *p.lines]
    return "\n".join(lines), folded


def _split_saved(p: Printer, plan: Plan, keep: set[str]) -> None:
    """The statistics of the whole slice, from saved (the forward's, or computed by
    ``_forward_split`` with its all-reduce when saved is None).  A centring mean's
    offset cannot be measured on one device's rows: a saved mean no wider than the
    data gives offset 0."""
    layer = plan.layer
    args = ", ".join(n for n, i in layer.inputs.items() if i.kind != CONSTANT)
    consts = "".join(f"{n}={n}, " for n, i in layer.inputs.items() if i.kind == CONSTANT)
    p.emit("if saved is None:")
    p.emit(f"    _, saved = _forward_split({args}, {consts}axis=axis, return_saved=True, reduce=reduce)")
    rows = {n for n, i in layer.inputs.items() if i.kind == ROW}
    means = centrings(plan.graph.eqns, rows)
    for s in plan.saved_order:
        if s in means.values():
            c = p.fresh(f"{s}_c")
            p.centring.given[s] = c
            p.centring.mean_of[s] = next(e.args[0] for e in plan.graph.eqns if e.out == s)
            p.emit(f"{s}, {c} = _split(_saved(saved, {s!r}, kshape), dtype)")
            p.emit(f"{c} = 0 if {c} is None else {c}")
        else:
            p.emit(f"{s} = np.asarray(_saved(saved, {s!r}, kshape), dtype)")
    p.equations(plan.eqns(plan.rows), keep)


def _reduce_sums(p: Printer, plan: Plan) -> list[int]:
    """The gradients' sums over the slice, printed before anything reads them, and
    added across devices: one all-reduce per level of nesting (one for every file
    so far), the first with the count.  Returns each message's number of sums."""
    levels: dict[int, list[Expr]] = {}
    for e in plan.formulas.values():
        _levels(e, levels)
    sizes = []
    for level in sorted(levels):
        before = set(p.hoisted.values())
        for summand in levels[level]:
            p.reduction(summand)
        new = [v for v in p.hoisted.values() if v not in before]
        message = ", ".join(["n" if not sizes else "_", *new])
        p.emit(f"{message} = _allreduce(reduce, {'n' if not sizes else 0}, {', '.join(new)})")
        sizes.append(len(new))
    return sizes


def _levels(e: Expr, levels: dict[int, list[Expr]]) -> int:
    """The depth of e's reductions (0: none); each reduction's body filed by its depth."""
    if isinstance(e, Call):
        inner = _levels(e.arg, levels)
        if FUNCTIONS[e.fn].reduction:
            if e.arg not in levels.setdefault(inner + 1, []):
                levels[inner + 1].append(e.arg)
            return inner + 1
        return inner
    parts = (e.left, e.right) if isinstance(e, BinOp) else (e.arg,) if isinstance(e, Neg) else ()
    return max((_levels(c, levels) for c in parts), default=0)


__all__ = ["NotCertified", "emit_module", "load_module"]  # NotCertified: what emit_module raises
