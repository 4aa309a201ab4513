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
from symbn.emit.centring import Unfoldable, centrings
from symbn.emit.certify import NotCertified, certify
from symbn.emit.common import constants, helpers, signature
from symbn.emit.gradients import gradients
from symbn.emit.plan import RESERVED, Plan
from symbn.emit.printer import Printer
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Layer

# --- the module -----------------------------------------------------------------------------


def emit_module(layer: Layer, time_limit: float | None = 60.0) -> str:
    """The NumPy module's source.  Raises :class:`NotCertified` before printing
    anything if a formula is not proved."""
    return _emit(layer, time_limit)[0]


def _emit(layer: Layer, time_limit: float | None) -> tuple[str, types.CodeType]:
    """The module's source and its compiled code: a printer bug fails here, not in the user's import."""
    certified = certify(layer, time_limit)
    plan = Plan(layer, {w: t for w, (t, _) in certified.items()})
    try:
        backward, folded = _backward(plan, fold=True)
    except Unfoldable:
        backward, folded = _backward(plan, fold=False)
    parts = [
        _docstring(layer, plan, certified, folded),
        "import numpy as np",
        constants(layer, plan),
        helpers(emit_runtime),
        _forward(plan),
        backward,
    ]
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


def _docstring(layer: Layer, plan: Plan, certified, folded: bool) -> str:
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

The slice is the reduced ``axis`` (int or tuple) of {plan.data}.  Scalar-kind inputs
are per-slice values: an array of the kept axes' shape is put on the kept axes,
e.g. shape (C,) for (N, C, H, W) with axis=(0, 2, 3).  Row-kind inputs other than
{plan.data} of the reduced axes' shape are put on the reduced axes.  Any other shape
broadcasts by NumPy's rules.  Each gradient has its input's shape, summed over
the axes that input was broadcast along.
"""'''


def _preamble(p: Printer, plan: Plan, backward: bool) -> dict[str, str]:
    """Common dtype, the data's shape and axes, inputs placed for broadcasting.
    Returns, for the backward pass, each input's original-shape variable."""
    layer = plan.layer
    arrays = (["dy"] if backward else []) + [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    p.emit(f"result = _result({', '.join(arrays)})")
    p.emit("dtype = _work(result)")
    p.emit(f"{plan.data} = np.asarray({plan.data}, dtype)")
    p.emit(f"shape = {plan.data}.shape")
    p.emit(f"axes = _axes({plan.data}.ndim, axis)")
    p.emit(f"kept = tuple(k for k in range({plan.data}.ndim) if k not in axes)")
    p.emit("n = int(np.prod([shape[k] for k in axes]))")
    if backward:
        p.emit("kshape = tuple(1 if k in axes else s for k, s in enumerate(shape))")
        p.emit("dy = np.asarray(dy, dtype)")
        if layer.output_kind == ROW:
            p.emit("if dy.shape != shape:")
            p.emit(f"    raise ValueError(f'dy has shape {{dy.shape}}; it must have the shape of {plan.data}, {{shape}}')")
    shapes = {}
    for name, i in layer.inputs.items():
        if i.kind == CONSTANT or name == plan.data:
            continue
        if backward:
            shapes[name] = p.fresh(f"{name}_shape")
            p.emit(f"{shapes[name]} = np.shape({name})")
        home, per_slice = ("kept", True) if i.kind != ROW else ("axes", False)
        p.emit(f"{name} = _place(np.asarray({name}, dtype), shape, {home}, {name!r}, {plan.data!r}, {per_slice})")
    return shapes


def _printer(plan: Plan, fold: bool = False) -> Printer:
    layer = plan.layer
    kinds = {**{e.out: e.out.kind for e in layer.graph.eqns}, **layer.graph.kinds, "dy": layer.output_kind}
    rows = [n for n, i in layer.inputs.items() if i.kind == ROW]
    return Printer(kinds, plan.data, rows, RESERVED | set(layer.inputs), fold=fold)


def _forward(plan: Plan) -> str:
    layer, graph = plan.layer, plan.graph
    p = _printer(plan)
    _preamble(p, plan, backward=False)
    stages = plan.closure({graph.output} | plan.saved)
    p.equations(plan.eqns(stages), {graph.output} | plan.saved)
    given = p.centring.given
    saved = ", ".join(f"{s!r}: _exact({s}, {given[s]})" if s in given else f"{s!r}: {s}" for s in plan.saved_order)
    p.emit("if return_saved:")
    p.emit(f"    return _as(result, {graph.output}), {{{saved}}}")
    p.emit(f"return _as(result, {graph.output})")
    doc = [f'"""{layer.title or layer.name}, forward: returns {graph.output}, or ({graph.output}, saved) with',
           f"saved = {{{', '.join(repr(s) + ': ...' for s in plan.saved_order)}}}, the per-slice stages",
           "backward needs (keepdims arrays).  A mean the data are centred by is saved",
           "exact: in float64 for float16/float32 data.", "", *[f"    {layer.stage_text[s]}" for s in graph.stages], '"""']
    head = f"def forward({signature(layer, '', 'axis=0, return_saved=False')}):"
    return "\n".join([head, *("    " + d if d else "" for d in doc), *p.lines])


def _backward(plan: Plan, fold: bool) -> tuple[str, set[str]]:
    """The backward function, and the centred stages whose offset it folds.
    ``fold``: centring offsets are folded into what reads the centred stage
    (raises :class:`Unfoldable` when a read is not covered)."""
    layer = plan.layer
    p = _printer(plan, fold)
    shapes = _preamble(p, plan, backward=True)
    keep = plan.rows | plan.saved | {"dy"}
    p.emit("if saved is None:")
    p.depth += 1
    start = len(p.lines)
    p.equations(plan.eqns(plan.closure(plan.rows | plan.saved)), keep)
    if len(p.lines) == start:  # nothing to compute: the gradients read the inputs only
        p.emit("pass")
    p.depth -= 1
    p.emit("else:")
    p.depth += 1
    first = p.buffers.other_branch()
    centring = p.centring
    for s in plan.saved_order:  # a centring mean comes split: the data's dtype and its offset
        if s in centring.given:
            p.emit(f"{s}, {centring.given[s]} = _split(_saved(saved, {s!r}, kshape), dtype)")
            centring.unmeasured.add(s)
        else:
            p.emit(f"{s} = np.asarray(_saved(saved, {s!r}, kshape), dtype)")
    p.equations(plan.eqns(plan.rows), keep)
    if not plan.saved_order and not plan.rows and not centring.offsets:
        p.emit("pass")
    p.depth -= 1
    p.buffers.join(first)
    gradients(p, plan, shapes)
    doc = [(f'"""{layer.title or layer.name}, backward: returns '
            f"{', '.join('d' + w for w in layer.differentiable)} (the gradients of the"),
           "differentiable inputs, in file order), computed as",
           "", *[f"    d{w} = {t}" for w, t in plan.texts().items()], "",
           "saved: the dict forward(..., return_saved=True) returns, or None to recompute",
           "the statistics.  out: an array for the first gradient, or a tuple with an",
           'array or None per gradient."""']
    head = f"def backward({signature(layer, 'dy', 'axis=0, saved=None, out=None')}):"
    return "\n".join([head, *("    " + d if d else "" for d in doc), *p.lines]), set(centring.offsets)


__all__ = ["NotCertified", "emit_module", "load_module"]  # NotCertified: what emit_module raises
