"""The PyTorch target: ``symbn::<layer>``, a ``torch.library.custom_op`` whose backward is the proved formula.

Two operators: ``symbn::<layer>`` computes the stages and returns y with the
per-slice values the backward reads (and the offsets of the means, see
:mod:`.arrays`); ``symbn::<layer>_backward`` computes the certified fast forms
(:func:`~symbn.emit.certify.certify`, as the NumPy module does) and sums each
gradient to its input's shape.  ``register_autograd`` joins them, and
``register_fake`` gives their shapes, so ``torch.compile`` and ``opcheck`` see
through them without running them.  Differentiating the backward again needs the
layer's second-order formulas; symbn proves them but does not emit them yet, so
it raises an error that says so.  ``forward(...)`` returns y as a tensor with autograd.
"""

from __future__ import annotations

from symbn.emit.certify import NotCertified, certify
from symbn.emit.common import constants, helpers, signature
from symbn.emit.plan import Plan
from symbn.emit.targets import torch_runtime
from symbn.emit.targets.arrays import Arrays
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Layer
from symbn.lang.expr import parse

SECOND_ORDER = ("symbn: double backward of {op} is not available: it needs the layer's second-order formulas, "
                "which symbn proves (symbn prove --order 2) but does not emit yet; this module computes only the "
                "proved first-order backward")


def emit(layer: Layer, time_limit: float | None = 60.0) -> str:
    """The PyTorch module's source; raises :class:`NotCertified` before printing anything."""
    if not layer.name.isidentifier():
        raise NotCertified(f"{layer.path}: layer.name {layer.name!r} is not an identifier, which a torch "
                           "operator's name must be")
    certified = certify(layer, time_limit)
    plan = Plan(layer, {w: t for w, (t, _) in certified.items()})
    a = Arrays(layer, "torch")
    inputs = [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    consts = [n for n, i in layer.inputs.items() if i.kind == CONSTANT]
    saved = [*plan.saved_order, *a.offsets(plan.saved_order)]
    parts = [
        _docstring(layer, plan),
        "import torch",
        constants(layer, plan),
        helpers(torch_runtime, ("import torch\n",)),
        _forward(layer, plan, a, inputs, consts, saved),
        _backward(layer, plan, a, inputs, consts, saved),
        _operators(layer, inputs, consts, saved),
        _public(layer, inputs, consts),
    ]
    return "\n\n\n".join(p.strip("\n") for p in parts) + "\n"


def _setup(layer: Layer, inputs: list[str], consts: list[str], first: str) -> list[str]:
    """Shapes, dtypes, constants as tensors, inputs placed for broadcasting."""
    data = next(n for n in inputs if layer.inputs[n].kind == ROW)
    lines = [f"result, work = _types({', '.join(([first] if first else []) + inputs)})",
             *(f"{n} = {n}.to(work)" for n in ([first] if first else []) + inputs),
             f"shape = tuple({data}.shape)", "kept = tuple(k for k in range(len(shape)) if k not in axes)",
             "kshape = _kshape(shape, axes)", f"n = torch.tensor(float(_count(shape, axes)), dtype=work, device={data}.device)"]
    lines += [f"{c} = torch.tensor({c}, dtype=work, device={data}.device)" for c in consts]
    for name in inputs:
        if name != data:
            home = "axes" if layer.inputs[name].kind == ROW else "kept"
            lines.append(f"{name} = _place({name}, shape, {home})")
    return lines


def _forward(layer: Layer, plan: Plan, a: Arrays, inputs, consts, saved) -> str:
    out = layer.graph.output
    lines = _setup(layer, inputs, consts, "")
    lines += a.stages(plan.closure({out} | set(plan.saved)))
    values = ", ".join(f"torch.broadcast_to({s}, kshape).contiguous()" for s in saved)
    lines.append(f"return ({out}.to(result).contiguous(), {values}{',' if len(saved) == 0 else ''})")
    head = f"def _forward({', '.join(inputs + consts)}, axes):"
    doc = '    """The stages as the file writes them: y, then the per-slice values the backward reads."""'
    return "\n".join([head, doc, *("    " + line for line in lines)])


def _backward(layer: Layer, plan: Plan, a: Arrays, inputs, consts, saved) -> str:
    lines = [f"originals = ({', '.join(inputs)},)", *_setup(layer, inputs, consts, "dy")]
    lines += a.stages(plan.rows, given_offsets=True)
    grads = []
    for w, text in plan.texts().items():
        lines.append(f"d{w} = {a.expr(parse(text))}")
        row = layer.inputs[w].kind == ROW
        home = "axes" if row else "kept"
        full = "shape" if row else "kshape"
        k = inputs.index(w)
        grads.append(f"_fresh(_sum_to(d{w}, originals[{k}], shape, {home}, {full}).to(originals[{k}].dtype), dy, *originals)")
    lines.append(f"return ({', '.join(grads)},)")
    head = f"def _backward(dy, {', '.join(inputs + saved + consts)}, axes):"
    doc = '    """The certified formulas, each summed to its input\'s shape."""'
    return "\n".join([head, doc, *("    " + line for line in lines)])


def _operators(layer: Layer, inputs, consts, saved) -> str:
    name = layer.name
    tensors = ", ".join(f"{n}: torch.Tensor" for n in inputs)
    numbers = "".join(f", {c}: float" for c in consts)
    outs = ", ".join(["torch.Tensor"] * (1 + len(saved)))
    bouts = ", ".join(["torch.Tensor"] * len(inputs))
    saved_params = "".join(f", {s}: torch.Tensor" for s in saved)
    args, cargs = ", ".join(inputs), "".join(f", {c}" for c in consts)
    sargs = "".join(f", {s}" for s in saved)
    return f'''@torch.library.custom_op("symbn::{name}", mutates_args=())
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


def _no_double_backward(ctx, *_):
    raise NotImplementedError({SECOND_ORDER.format(op=f"symbn::{name}")!r})


def _keep_nothing(ctx, inputs, output):
    pass


_op.register_autograd(_vjp, setup_context=_keep)
_op_backward.register_autograd(_no_double_backward, setup_context=_keep_nothing)'''


def _public(layer: Layer, inputs, consts) -> str:
    data = next(n for n in inputs if layer.inputs[n].kind == ROW)
    others = [n for n in inputs if n != data]
    lines = [f"{data} = torch.as_tensor({data})",
             *(f"{n} = torch.as_tensor({n}, device={data}.device)" for n in others),
             f"axes = _axes({data}.dim(), axis)",
             f"return _op({', '.join(inputs)}{''.join(f', float({c})' for c in consts)}, list(axes))[0]"]
    doc = [f'"""{layer.title or layer.name}: y = symbn::{layer.name}(...), differentiable by autograd',
           "with the proved backward (GRADIENTS, FORMULAS)."]
    doc[-1] += '"""'
    head = f"def forward({signature(layer, '', 'axis=0')}):"
    return "\n".join([head, *("    " + d for d in doc), *("    " + line for line in lines)])


def _docstring(layer: Layer, plan: Plan) -> str:
    from symbn.version import __version__

    stages = "\n".join(f"    {layer.stage_text[s]}" for s in layer.graph.stages)
    grads = "\n".join(f"    d{w} = {t}" for w, t in plan.texts().items())
    return f'''"""{layer.title or layer.name}: the PyTorch operator symbn::{layer.name}.

Emitted by symbn {__version__} from {layer.path}.  Do not edit: re-emit.

Forward (the stages of the file):

{stages}

Backward (registered with torch.library.register_autograd): these formulas, each
proved equal to reverse mode for every slice size N before this module was written.

{grads}

forward(...) returns y with autograd.  The slice is the reduced axis (an int or a
tuple); per-slice inputs of the kept axes' shape are put on the kept axes, row
inputs of the reduced axes' shape on the reduced axes, as in the NumPy module.
Importing this module registers symbn::{layer.name} and symbn::{layer.name}_backward.
"""'''


__all__ = ["SECOND_ORDER", "emit"]
