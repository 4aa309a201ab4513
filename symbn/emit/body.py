"""One emitted function's body: its signature, its preamble, the stages it recomputes, its gradients.

``forward`` uses the preamble; ``backward`` and ``double_backward`` the whole
body (:func:`body`): the common dtype, the data's shape and axes, every array
input placed for broadcasting (a direction dd<k> as its k), then the statistics
recomputed from the inputs or read from ``saved``, then the gradients
(:mod:`.gradients`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from symbn.emit.common import signature
from symbn.emit.gradients import gradients
from symbn.emit.plan import RESERVED, Plan
from symbn.emit.printer import Printer
from symbn.ir.primitives import CONSTANT, ROW


def preamble(p: Printer, plan: Plan, backward: bool, directions: Mapping[str, str] | None = None) -> dict[str, str]:
    """Common dtype, the data's shape and axes, inputs placed for broadcasting.
    ``directions``: dd<k> -> k for a double backward, each placed as its k.
    Returns, for the backward pass, each input's original-shape variable."""
    layer = plan.layer
    directions = directions or {}
    arrays = [*directions, *(["dy"] if backward else []), *(n for n, i in layer.inputs.items() if i.kind != CONSTANT)]
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
    placed = [(d, layer.inputs[k]) for d, k in directions.items()]
    for name, i in [*placed, *layer.inputs.items()]:
        if i.kind == CONSTANT or name == plan.data:
            continue
        if backward and name not in directions:
            shapes[name] = p.fresh(f"{name}_shape")
            p.emit(f"{shapes[name]} = np.shape({name})")
        home, per_slice = ("kept", True) if i.kind != ROW else ("axes", False)
        p.emit(f"{name} = _place(np.asarray({name}, dtype), shape, {home}, {name!r}, {plan.data!r}, {per_slice})")
    return shapes


def printer(plan: Plan, fold: bool = False, extra: Mapping[str, str] | None = None) -> Printer:
    """``extra``: kinds of the free names the formulas read besides dy (a double backward's dd<k>)."""
    layer = plan.layer
    kinds = {**{e.out: e.out.kind for e in layer.graph.eqns}, **layer.graph.kinds, "dy": layer.output_kind, **(extra or {})}
    rows = [n for n, i in layer.inputs.items() if i.kind == ROW] + [n for n, k in (extra or {}).items() if k == ROW]
    return Printer(kinds, plan.data, rows, RESERVED | set(layer.inputs) | set(extra or {}), fold=fold)


def body(plan: Plan, fold: bool, directions: Mapping[str, str] | None = None,
         given: Sequence[str] | None = None) -> tuple[Printer, set[str]]:
    """A backward function's body: the stages recomputed (from the inputs, or from the
    saved statistics), then the gradients.  ``directions``: dd<k> -> k, for a double
    backward (its outputs then end with dy); ``given``: the stages ``saved`` holds
    (default all the plan reads; a stage it lacks is recomputed from them)."""
    layer = plan.layer
    directions = directions or {}
    p = printer(plan, fold, {d: layer.inputs[k].kind for d, k in directions.items()})
    shapes = preamble(p, plan, backward=True, directions=directions)
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
    given = [s for s in plan.saved_order if given is None or s in given]
    start = len(p.lines)
    for s in given:  # a centring mean comes split: the data's dtype and its offset
        if s in centring.given:
            p.emit(f"{s}, {centring.given[s]} = _split(_saved(saved, {s!r}, kshape), dtype)")
            centring.unmeasured.add(s)
        else:
            p.emit(f"{s} = np.asarray(_saved(saved, {s!r}, kshape), dtype)")
    p.equations(plan.eqns(plan.closure(plan.rows | plan.saved, stop=set(given)) - set(given)), keep)
    if len(p.lines) == start:
        p.emit("pass")
    p.depth -= 1
    p.buffers.join(first)
    outputs = [*layer.differentiable, "dy"] if directions else None
    arrays = [*directions, "dy", *(n for n, i in layer.inputs.items() if i.kind != CONSTANT)]
    gradients(p, plan, shapes, outputs, arrays)
    return p, set(centring.offsets)


__all__ = ["body", "preamble", "printer", "signature"]
