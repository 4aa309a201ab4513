"""The PyTorch target: ``symbn::<layer>``, a ``torch.library.custom_op`` whose backward is the proved formula.

``symbn::<layer>`` computes the stages and returns y with the per-slice values
the backward reads (and the offsets of the means, see :mod:`.arrays`);
``symbn::<layer>_backward`` computes the certified fast forms
(:func:`~symbn.emit.certify.certify`, as the NumPy module does) and sums each
gradient to its input's shape.  For a file with ``[second_order]``,
``symbn::<layer>_double_backward`` computes its certified fast forms
(:func:`~symbn.emit.second.certify_second`, as the NumPy module's
``double_backward``): given directions dd<k> (the gradients flowing into the
backward's outputs), the gradients of h = Σ_k <dd<k>, g_k> for the differentiable
inputs and dy.  They are total derivatives (the statistics' dependence on the
inputs included), so the backward's autograd gives nothing to the saved
statistics it reads: that path is already counted.  ``register_autograd`` joins
the operators, and ``register_fake`` gives their shapes, so ``torch.compile`` and
``opcheck`` see through them without running them.  Third order is not proved, so
differentiating the double backward raises an error that says so; so does
differentiating the backward of a file without ``[second_order]``.
``forward(...)`` returns y as a tensor with autograd.
"""

from __future__ import annotations

import textwrap

from symbn.emit.certify import NotCertified, certify
from symbn.emit.common import constants, helpers, signature
from symbn.emit.plan import Plan
from symbn.emit.second import certify_second, targets
from symbn.emit.targets import torch_runtime
from symbn.emit.targets.arrays import Arrays
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Layer
from symbn.lang.expr import names, parse
from symbn.proof.second import directions

SECOND_ORDER = ("symbn: double backward of {op} is not available: {path} has no [second_order] closed forms, and "
                "symbn emits only formulas it has proved.  To have one, add a [second_order] table to the file (a "
                "closed form for each differentiable input and dy), prove it with `symbn prove {path} --order 2`, "
                "and emit again; this module computes only the proved first-order backward")
THIRD_ORDER = ("symbn: {op} cannot be differentiated again: third order is not available (symbn proves and emits "
               "first- and second-order formulas only)")


def emit(layer: Layer, time_limit: float | None = 60.0) -> str:
    """The PyTorch module's source; raises :class:`NotCertified` before printing anything."""
    if not layer.name.isidentifier():
        raise NotCertified(f"{layer.path}: layer.name {layer.name!r} is not an identifier, which a torch "
                           "operator's name must be")
    certified = certify(layer, time_limit)
    twice = certify_second(layer, time_limit)
    plan = Plan(layer, {w: t for w, (t, _) in certified.items()})
    second = Plan(layer, {w: t for w, (t, _) in twice.items()}) if twice else None
    a = Arrays(layer, "torch")
    inputs = [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    consts = [n for n, i in layer.inputs.items() if i.kind == CONSTANT]
    # the statistics either backward reads, saved by the forward (the first-order ones, in every file so far)
    read = plan.saved | (second.saved if second else set())
    stats = [s for s in layer.graph.stages if s in read]
    saved = [*stats, *a.offsets(stats)]
    parts = [
        _docstring(layer, plan, twice),
        "import torch",
        constants(layer, plan, twice),
        helpers(torch_runtime, ("import torch\n",)),
        _forward(layer, plan, a, inputs, consts, saved, stats),
        _backward(layer, plan, a, inputs, consts, saved),
        *([_double_backward(layer, second, a, inputs, consts, saved)] if second else []),
        _operators(layer, inputs, consts, saved, bool(twice)),
        _public(layer, inputs, consts, bool(twice)),
    ]
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"


def _setup(layer: Layer, inputs: list[str], consts: list[str], first: list[str]) -> list[str]:
    """Shapes, dtypes, constants as tensors, inputs placed for broadcasting (a direction dd<k> as its k)."""
    data = next(n for n in inputs if layer.inputs[n].kind == ROW)
    lines = [f"result, work = _types({', '.join(first + inputs)})",
             *(f"{n} = {n}.to(work)" for n in first + inputs),
             f"shape = tuple({data}.shape)", "kept = tuple(k for k in range(len(shape)) if k not in axes)",
             "kshape = _kshape(shape, axes)", f"n = torch.tensor(float(_count(shape, axes)), dtype=work, device={data}.device)"]
    lines += [f"{c} = torch.tensor({c}, dtype=work, device={data}.device)" for c in consts]
    home_of = {d: k for k, d in directions(layer).items()}
    for name in first + inputs:
        k = home_of.get(name, name)
        if k != data and k in layer.inputs:
            home = "axes" if layer.inputs[k].kind == ROW else "kept"
            lines.append(f"{name} = _place({name}, shape, {home})")
    return lines


def _forward(layer: Layer, plan: Plan, a: Arrays, inputs, consts, saved, stats) -> str:
    out = layer.graph.output
    lines = _setup(layer, inputs, consts, [])
    lines += a.stages(plan.closure({out} | set(stats)))
    values = ", ".join(f"torch.broadcast_to({s}, kshape).contiguous()" for s in saved)
    lines.append(f"return ({out}.to(result).contiguous(), {values}{',' if len(saved) == 0 else ''})")
    head = f"def _forward({', '.join(inputs + consts)}, axes):"
    doc = '    """The stages as the file writes them: y, then the per-slice values the backward reads."""'
    return "\n".join([head, doc, *("    " + line for line in lines)])


def _gradients(layer: Layer, plan: Plan, a: Arrays, arrays: list[str], fresh: str) -> tuple[list[str], list[str]]:
    """Each formula of ``plan`` as an assignment, and its value summed to the shape of
    its input (dy: the output's) among ``arrays`` (the ``originals``) in that dtype."""
    data = next(n for n, i in layer.inputs.items() if i.kind == ROW)
    lines, grads = [], []
    for w, text in plan.texts().items():
        e = parse(text)
        value = a.expr(e)
        if not names(e):  # a number (beta's 0): a tensor to sum to the input's shape
            value = f"torch.full((), {value}, dtype=work, device={data}.device)"
        lines.append(f"d{w} = {value}")
        row = (layer.output_kind if w == "dy" else layer.inputs[w].kind) == ROW
        home, full = ("axes", "shape") if row else ("kept", "kshape")
        k = arrays.index(w)
        grads.append(f"_fresh(_sum_to(d{w}, originals[{k}], shape, {home}, {full}).to(originals[{k}].dtype), {fresh})")
    return lines, grads


def _backward(layer: Layer, plan: Plan, a: Arrays, inputs, consts, saved) -> str:
    lines = [f"originals = ({', '.join(inputs)},)", *_setup(layer, inputs, consts, ["dy"])]
    lines += a.stages(plan.rows, given_offsets=True)
    assignments, grads = _gradients(layer, plan, a, inputs, "dy, *originals")
    lines += [*assignments, f"return ({', '.join(grads)},)"]
    head = f"def _backward(dy, {', '.join(inputs + saved + consts)}, axes):"
    doc = '    """The certified formulas, each summed to its input\'s shape."""'
    return "\n".join([head, doc, *("    " + line for line in lines)])


def _double_backward(layer: Layer, plan: Plan, a: Arrays, inputs, consts, saved) -> str:
    """The certified second-order formulas: the gradients of h = Σ_k <dd<k>, g_k> for
    the differentiable inputs and dy, each summed to its shape."""
    first = [*directions(layer).values(), "dy"]
    arrays = [*first, *inputs, *saved]
    lines = [f"originals = ({', '.join(arrays)},)", *_setup(layer, inputs, consts, first)]
    lines += a.stages(plan.rows, given_offsets=True)
    assignments, grads = _gradients(layer, plan, a, arrays, "*originals")
    lines += [*assignments, f"return ({', '.join(grads)},)"]
    head = f"def _double_backward({', '.join(first + inputs + saved + consts)}, axes):"
    doc = ['    """The certified second-order formulas: with g_k what _backward returns,',
           f"    h = {' + '.join(f'<{d}, d{k}>' for k, d in directions(layer).items())}; returns the gradients of h for",
           f"    {', '.join(targets(layer))} (total derivatives: the statistics' dependence on the inputs included),",
           "    each summed to its shape (dy's: the data's)." + '"""']
    return "\n".join([head, *doc, *("    " + line for line in lines)])


def _operators(layer: Layer, inputs, consts, saved, twice: bool) -> str:
    name = layer.name
    tensors = ", ".join(f"{n}: torch.Tensor" for n in inputs)
    numbers = "".join(f", {c}: float" for c in consts)
    outs = ", ".join(["torch.Tensor"] * (1 + len(saved)))
    bouts = ", ".join(["torch.Tensor"] * len(inputs))
    saved_params = "".join(f", {s}: torch.Tensor" for s in saved)
    args, cargs = ", ".join(inputs), "".join(f", {c}" for c in consts)
    sargs = "".join(f", {s}" for s in saved)
    first = f'''@torch.library.custom_op("symbn::{name}", mutates_args=())
def _op({tensors}{numbers}, axis: list[int]) -> tuple[{outs}]:
    return _forward({args}{cargs}, tuple(axis))


@_op.register_fake
def _op_fake({args}{cargs}, axis):
    result, work = _types({args})
    kshape = _kshape({inputs[0]}.shape, axis)
    return ({inputs[0]}.new_empty({inputs[0]}.shape, dtype=result),{"".join(" " + inputs[0] + ".new_empty(kshape, dtype=work)," for _ in saved)})


@torch.library.custom_op("symbn::{name}_backward", mutates_args=())
def _op_backward(dy: torch.Tensor, {tensors}{saved_params}{numbers}, axis: list[int]) -> tuple[{bouts},]:
    return _backward(dy, {args}{sargs}{cargs}, tuple(axis))


@_op_backward.register_fake
def _op_backward_fake(dy, {args}{sargs}{cargs}, axis):
    return ({"".join(f"{n}.new_empty({n}.shape), " for n in inputs).rstrip()})


def _keep(ctx, inputs, output):
    {args}{cargs}, axis = inputs
    ctx.save_for_backward({args}, *output[1:])
    ctx.constants, ctx.axis = ({", ".join(consts)}{"," if consts else ""}), axis


def _vjp(ctx, dy, *_):
    return (*_op_backward(dy, *ctx.saved_tensors, *ctx.constants, ctx.axis),{" None," * len(consts)} None)


def _keep_nothing(ctx, inputs, output):
    pass


_op.register_autograd(_vjp, setup_context=_keep)'''
    if not twice:
        message = SECOND_ORDER.format(op=f"symbn::{name}", path=layer.path)
        return first + f'''


def _no_double_backward(ctx, *_):
    raise NotImplementedError({message!r})


_op_backward.register_autograd(_no_double_backward, setup_context=_keep_nothing)'''
    dirs = list(directions(layer).values())
    douts = ", ".join(["torch.Tensor"] * (len(inputs) + 1))
    dparams = "".join(f"{d}: torch.Tensor, " for d in dirs)
    dargs = "".join(f"{d}, " for d in dirs)
    fakes = " ".join(f"{n}.new_empty({n}.shape)," for n in [*inputs, "dy"])
    nones = " None," * (len(saved) + len(consts) + 1)
    return first + f'''


@torch.library.custom_op("symbn::{name}_double_backward", mutates_args=())
def _op_double_backward({dparams}dy: torch.Tensor, {tensors}{saved_params}{numbers}, axis: list[int]) -> tuple[{douts}]:
    return _double_backward({dargs}dy, {args}{sargs}{cargs}, tuple(axis))


@_op_double_backward.register_fake
def _op_double_backward_fake({dargs}dy, {args}{sargs}{cargs}, axis):
    return ({fakes})


def _keep_backward(ctx, inputs, output):
    dy, {args}{sargs}{cargs}, axis = inputs
    ctx.save_for_backward(dy, {args}{sargs})
    ctx.constants, ctx.axis = ({", ".join(consts)}{"," if consts else ""}), axis


def _vjp_backward(ctx, *grads):
    """The grads of the backward's outputs are the directions (None: zero); the proved
    second-order formulas give dy's and the inputs'.  They are total derivatives (the
    statistics' dependence on the inputs included): the saved statistics get None."""
    dy, *tensors = ctx.saved_tensors
    dirs = [torch.zeros_like(t) if g is None else g for g, t in zip(grads, tensors)]
    *gradients, ddy = _op_double_backward(*dirs, dy, *tensors, *ctx.constants, ctx.axis)
    return (ddy, *gradients,{nones})


def _no_third_order(ctx, *_):
    raise NotImplementedError({THIRD_ORDER.format(op=f"symbn::{name}_double_backward")!r})


_op_backward.register_autograd(_vjp_backward, setup_context=_keep_backward)
_op_double_backward.register_autograd(_no_third_order, setup_context=_keep_nothing)'''


def _public(layer: Layer, inputs, consts, twice: bool) -> str:
    data = next(n for n in inputs if layer.inputs[n].kind == ROW)
    others = [n for n in inputs if n != data]
    lines = [f"{data} = torch.as_tensor({data})",
             *(f"{n} = torch.as_tensor({n}, device={data}.device)" for n in others),
             f"axes = _axes({data}.dim(), axis)",
             f"return _op({', '.join(inputs)}{''.join(f', _constant({c}, {c!r})' for c in consts)}, list(axes))[0]"]
    doc = [f'"""{layer.title or layer.name}: y = symbn::{layer.name}(...), differentiable by autograd',
           "with the proved backward (GRADIENTS, FORMULAS)" + (", and its backward with the proved double"
                                                              if twice else ".")]
    if twice:
        doc.append("backward (SECOND_ORDER).")
    doc[-1] += '"""'
    head = f"def forward({signature(layer, '', 'axis=0')}):"
    return "\n".join([head, *("    " + d for d in doc), *("    " + line for line in lines)])


def _docstring(layer: Layer, plan: Plan, twice) -> str:
    from symbn.version import __version__

    stages = "\n".join(f"    {layer.stage_text[s]}" for s in layer.graph.stages)
    grads = "\n".join(f"    d{w} = {t}" for w, t in plan.texts().items())
    name = layer.name
    if twice:
        dirs = directions(layer)
        text = (f"Double backward (symbn::{name}_double_backward, registered as the backward of "
                f"symbn::{name}_backward): with g_k what the backward returns for k in "
                f"{', '.join(layer.differentiable)} and directions {', '.join(dirs.values())} (the gradients "
                f"flowing into g_k), h = sum_k <dd_k, g_k>; it returns dh/dw for w in {', '.join(targets(layer))}, "
                "computed as these formulas, each proved equal to reverse over reverse mode of the backward pass for "
                "every N before this module was written, as was the [second_order] closed form of the file it was "
                "rearranged from.  They are total derivatives (through the statistics too), so the saved statistics "
                "the backward reads get no gradient.  Third order is not available: differentiating the double "
                "backward raises NotImplementedError.")
        formulas = "\n".join(f"    d{w} = {t}" for w, (t, _) in twice.items())
        second = f"{textwrap.fill(text, 84)}\n\n{formulas}"
        ops = f"symbn::{name}, symbn::{name}_backward and symbn::{name}_double_backward"
    else:
        second = textwrap.fill(f"No double backward: {layer.path} has no [second_order] closed forms, and symbn "
                               "emits only formulas it has proved; differentiating the backward raises "
                               "NotImplementedError.", 84)
        ops = f"symbn::{name} and symbn::{name}_backward"
    return f'''"""{layer.title or layer.name}: the PyTorch operator symbn::{name}.

Emitted by symbn {__version__} from {layer.path}.  Do not edit: re-emit.

Forward (the stages of the file):

{stages}

Backward (registered with torch.library.register_autograd): these formulas, each
proved equal to reverse mode for every slice size N before this module was written.

{grads}

{second}

forward(...) returns y with autograd.  The slice is the reduced axis (an int or a
tuple); per-slice inputs of the kept axes' shape are put on the kept axes, row
inputs of the reduced axes' shape on the reduced axes, as in the NumPy module.
{textwrap.fill(f"Importing this module registers {ops}.", 84)}
"""'''


__all__ = ["SECOND_ORDER", "THIRD_ORDER", "emit"]
