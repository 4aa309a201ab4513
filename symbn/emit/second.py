"""The double backward: the file's ``[second_order]`` closed forms, certified, printed as NumPy.

With g_k = ∂f/∂k what ``backward`` returns, directions dd<k> of k's shape and
h = Σ_k ⟨dd<k>, g_k⟩, ``double_backward`` returns ∂h/∂w for w in the
differentiable inputs and dy (PyTorch's gI, gG, ggO given ggI, ggG, ggB).

Nothing is printed that is not proved, as for the backward (:mod:`.certify`):
each closed form, and the fast form :mod:`.rearrange` makes of it, is checked
against reverse over reverse mode of the backward pass
(:func:`symbn.proof.second.second_order`), for every N, in one run of the
prover.  The text is then printed by the backward's own machinery
(:func:`symbn.emit.module.body`): the same preamble, shapes, saved statistics and
gradient printer, the directions placed like their inputs and dy's gradient of
the data's shape.  A file without ``[second_order]`` gets no double backward.
"""

from __future__ import annotations

import textwrap

from symbn.emit.body import body, signature
from symbn.emit.centring import Unfoldable
from symbn.emit.certify import NotCertified, require
from symbn.emit.plan import Plan
from symbn.emit.rearrange import fast_forms
from symbn.lang.derivation import Layer
from symbn.lang.expr import parse
from symbn.proof.prover import Result, claim_side, run, truth_side
from symbn.proof.second import directions, second_order


def targets(layer: Layer) -> tuple[str, ...]:
    """What double_backward returns the gradients of, in order: the differentiable inputs, then dy."""
    return (*layer.differentiable, "dy")


def certify_second(layer: Layer, time_limit: float | None = 60.0) -> dict[str, tuple[str, Result]]:
    """For each of :func:`targets`: the fast form of its ``[second_order]`` closed form
    and its proof, after the closed form itself was proved.  Empty for a file without
    ``[second_order]``.  Raises :class:`NotCertified`."""
    if not layer.second_order:
        return {}
    wanted = targets(layer)
    missing = [w for w in wanted if w not in layer.second_order]
    if missing:
        raise NotCertified(f"{layer.path}: [second_order] has no closed form for {', '.join(missing)}; a double "
                           "backward needs one for each differentiable input and dy, and the emitter prints only "
                           "proved formulas")
    problem = second_order(layer)
    forms = fast_forms(layer, {w: layer.second_order[w] for w in wanted}, layer.second_order_kinds())
    emitted = {w: layer.second_order_formula(parse(forms[w]), f"emitted.second_order.{w}", forms[w]) for w in wanted}
    obligations = [(w, (truth_side(w), claim_side("second_order", layer.second_order[w], w))) for w in wanted]
    obligations += [(w, (truth_side(w), claim_side("emitted", emitted[w], w))) for w in wanted]
    results = run(problem, None, obligations, time_limit)
    for w, result in zip(wanted, results):
        require(layer, w, layer.second_order[w].text, "second-order closed form", result, f"∂h/∂{w}")
    return {w: (forms[w], require(layer, w, forms[w], "emitted second-order formula", result, f"∂h/∂{w}"))
            for w, result in zip(wanted, results[len(wanted):])}


def double_backward(layer: Layer, certified: dict[str, tuple[str, Result]], saved: tuple[str, ...]) -> str:
    """The double_backward function's text.  ``saved``: the stages forward saves (a
    statistic the formulas read that forward does not save is recomputed)."""
    plan = Plan(layer, {w: t for w, (t, _) in certified.items()})
    dirs = {d: k for k, d in directions(layer).items()}
    try:
        p, _ = body(plan, True, dirs, saved)
    except Unfoldable:
        p, _ = body(plan, False, dirs, saved)
    names = ", ".join("d" + w for w in targets(layer))
    doc = [f'"""{layer.title or layer.name}, double backward.', "",
           f"Returns {names}: the gradients of", "h = " + " + ".join(f"<{d}, d{k}>" for d, k in dirs.items()) + ", where",
           f"{', '.join('d' + k for k in layer.differentiable)} are what backward returns for the same dy and inputs.",
           "The directions have the shapes of their inputs.  Computed as", "",
           *[f"    d{w} = {t}" for w, t in plan.texts().items()], "",
           "saved: the dict forward(..., return_saved=True) returns, or None to recompute",
           "the statistics.  out: an array for the first gradient, or a tuple with an",
           'array or None per gradient."""']
    head = f"def double_backward({signature(layer, ', '.join([*dirs, 'dy']), 'axis=0, saved=None, out=None')}):"
    return "\n".join([head, *("    " + d if d else "" for d in doc), *p.lines])


def docstring(layer: Layer, certified: dict[str, tuple[str, Result]]) -> str:
    """The module docstring's paragraph on the double backward (or on its absence)."""
    if not certified:
        return textwrap.fill(f"No double_backward: {layer.path} has no [second_order] closed forms, and symbn "
                             "emits only formulas it has proved.", 84)
    dirs = directions(layer)
    text = (f"Double backward: with g_k what backward returns for k in {', '.join(layer.differentiable)} and "
            f"directions {', '.join(dirs.values())}, h = sum_k <dd_k, g_k>; double_backward returns dh/dw for w in "
            f"{', '.join(targets(layer))} (dx, ..., ddy), computed as these formulas, each proved equal to reverse "
            "over reverse mode of the backward pass for every N before this module was written, as was the "
            "[second_order] closed form of the file it was rearranged from.")
    grads = "\n".join(f"    d{w} = {t}" for w, (t, _) in certified.items())
    closed = "\n".join(f"    d{w} = {layer.second_order[w].text}" for w in certified)
    return f"{textwrap.fill(text, 84)}\n\n{grads}\n\n[second_order] of the file:\n\n{closed}"


__all__ = ["certify_second", "docstring", "double_backward", "targets"]
