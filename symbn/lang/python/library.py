"""The NumPy and torch functions and array methods symbn reads, as registration data.

Each entry is a signature (parameter names, defaults) and a small function that
maps the call onto the interpreter's operations (:class:`~.interpret.Interpreter`):
elementwise primitives, reductions over axes, and constant arrays of a shape.  A call
outside this table is an error that names it.  NumPy and torch differ where it
matters: ``var`` is ``ddof=0`` in NumPy and ``unbiased=True`` (1/(N−1)) in torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from symbn.ir.primitives import add_p, div_p, exp_p, log_p, mul_p, neg_p, pow_p, sqrt_p, sub_p

NUMPY, TORCH = "numpy", "torch"
MISSING = object()


@dataclass(frozen=True)
class Entry:
    params: tuple[str, ...]
    run: Callable[..., Any]  # run(ctx, node, **arguments)
    defaults: dict[str, Any] = field(default_factory=dict)
    varargs: bool = False  # torch.ones(N, D): the positional arguments are one tuple


def _e(params: str, run, varargs: bool = False, **defaults) -> Entry:
    return Entry(tuple(params.split()), run, defaults, varargs)


# --- the operations, in terms of the interpreter ------------------------------------------


def _unary(prim):
    return lambda ctx, node, x: ctx.apply(prim, [x], node)


def _binary(prim):
    return lambda ctx, node, x, y: ctx.apply(prim, [x, y], node)


def _square(ctx, node, x):
    return ctx.apply(pow_p, [x, ctx.const(2)], node)


def _reciprocal(ctx, node, x):
    return ctx.apply(div_p, [ctx.const(1), x], node)


def _rsqrt(ctx, node, x):
    return ctx.apply(div_p, [ctx.const(1), ctx.apply(sqrt_p, [x], node)], node)


def _sum(ctx, node, a, axis=None, dtype=None, out=None, keepdims=False):
    ctx.no_out(out, node)
    return ctx.reduce(a, axis, keepdims, "sum", 0, node)


def _mean(ctx, node, a, axis=None, dtype=None, out=None, keepdims=False):
    ctx.no_out(out, node)
    return ctx.reduce(a, axis, keepdims, "mean", 0, node)


def _np_var(ctx, node, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    ctx.no_out(out, node)
    return ctx.reduce(a, axis, keepdims, "var", ctx.integer(ddof, "ddof", node), node)


def _np_std(ctx, node, a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    return ctx.apply(sqrt_p, [_np_var(ctx, node, a, axis, dtype, out, ddof, keepdims)], node)


def _torch_var(ctx, node, a, dim=None, unbiased=True, keepdim=False, correction=None):
    ddof = ctx.integer(correction, "correction", node) if correction is not None else int(ctx.flag(unbiased, "unbiased", node))
    return ctx.reduce(a, dim, keepdim, "var", ddof, node)


def _torch_std(ctx, node, a, dim=None, unbiased=True, keepdim=False, correction=None):
    return ctx.apply(sqrt_p, [_torch_var(ctx, node, a, dim, unbiased, keepdim, correction)], node)


def _torch_sum(ctx, node, a, dim=None, keepdim=False, dtype=None):
    return ctx.reduce(a, dim, keepdim, "sum", 0, node)


def _torch_mean(ctx, node, a, dim=None, keepdim=False, dtype=None):
    return ctx.reduce(a, dim, keepdim, "mean", 0, node)


def _full(value: int):
    def run(ctx, node, shape, dtype=None):
        return ctx.filled(Fraction(value), ctx.shape_of(shape, node))

    return run


def _full_like(value: int):
    def run(ctx, node, a, dtype=None):
        return ctx.filled(Fraction(value), ctx.array(a, node).layout)

    return run


def _same(ctx, node, x, *rest):
    return ctx.array(x, node)


def _copy(ctx, node, x, *rest):
    return ctx.copy(ctx.array(x, node))


def _size(ctx, node, a, dim=None):
    shape = ctx.shape(ctx.array(a, node))
    return shape if dim is None else ctx.index(shape, dim, node)


ELEMENTWISE = {
    "sqrt": _e("x", _unary(sqrt_p)),
    "exp": _e("x", _unary(exp_p)),
    "log": _e("x", _unary(log_p)),
    "square": _e("x", _square),
    "reciprocal": _e("x", _reciprocal),
    "negative": _e("x", _unary(neg_p)),
}

FUNCTIONS: dict[tuple[str, str], Entry] = {
    **{(NUMPY, k): v for k, v in ELEMENTWISE.items()},
    **{(TORCH, k): v for k, v in ELEMENTWISE.items()},
    (NUMPY, "sum"): _e("a axis dtype out keepdims", _sum),
    (NUMPY, "mean"): _e("a axis dtype out keepdims", _mean),
    (NUMPY, "var"): _e("a axis dtype out ddof keepdims", _np_var),
    (NUMPY, "std"): _e("a axis dtype out ddof keepdims", _np_std),
    (NUMPY, "power"): _e("x y", _binary(pow_p)),
    (NUMPY, "add"): _e("x y", _binary(add_p)),
    (NUMPY, "subtract"): _e("x y", _binary(sub_p)),
    (NUMPY, "multiply"): _e("x y", _binary(mul_p)),
    (NUMPY, "divide"): _e("x y", _binary(div_p)),
    (NUMPY, "true_divide"): _e("x y", _binary(div_p)),
    (NUMPY, "ones"): _e("shape dtype", _full(1)),
    (NUMPY, "zeros"): _e("shape dtype", _full(0)),
    (NUMPY, "ones_like"): _e("a dtype", _full_like(1)),
    (NUMPY, "zeros_like"): _e("a dtype", _full_like(0)),
    (TORCH, "sum"): _e("a dim keepdim dtype", _torch_sum),
    (TORCH, "mean"): _e("a dim keepdim dtype", _torch_mean),
    (TORCH, "var"): _e("a dim unbiased keepdim correction", _torch_var),
    (TORCH, "std"): _e("a dim unbiased keepdim correction", _torch_std),
    (TORCH, "rsqrt"): _e("x", _rsqrt),
    (TORCH, "neg"): _e("x", _unary(neg_p)),
    (TORCH, "pow"): _e("x y", _binary(pow_p)),
    (TORCH, "add"): _e("x y", _binary(add_p)),
    (TORCH, "sub"): _e("x y", _binary(sub_p)),
    (TORCH, "mul"): _e("x y", _binary(mul_p)),
    (TORCH, "div"): _e("x y", _binary(div_p)),
    (TORCH, "ones"): _e("shape dtype", _full(1), varargs=True),
    (TORCH, "zeros"): _e("shape dtype", _full(0), varargs=True),
    (TORCH, "ones_like"): _e("a dtype", _full_like(1)),
    (TORCH, "zeros_like"): _e("a dtype", _full_like(0)),
}

# array methods: those whose meaning is the same in NumPy and torch, then the two flavours
METHODS: dict[str, Entry] = {
    "sqrt": _e("x", _unary(sqrt_p)),
    "rsqrt": _e("x", _rsqrt),
    "exp": _e("x", _unary(exp_p)),
    "log": _e("x", _unary(log_p)),
    "square": _e("x", _square),
    "reciprocal": _e("x", _reciprocal),
    "neg": _e("x", _unary(neg_p)),
    "pow": _e("x y", _binary(pow_p)),
    "copy": _e("x", _copy),
    "clone": _e("x", _copy),
    "detach": _e("x", _same),
    "contiguous": _e("x", _same),
    "size": _e("a dim", _size),
}
FLAVOURED: dict[tuple[str, str], Entry] = {
    (NUMPY, "sum"): _e("a axis dtype out keepdims", _sum),
    (NUMPY, "mean"): _e("a axis dtype out keepdims", _mean),
    (NUMPY, "var"): _e("a axis dtype out ddof keepdims", _np_var),
    (NUMPY, "std"): _e("a axis dtype out ddof keepdims", _np_std),
    (TORCH, "sum"): _e("a dim keepdim dtype", _torch_sum),
    (TORCH, "mean"): _e("a dim keepdim dtype", _torch_mean),
    (TORCH, "var"): _e("a dim unbiased keepdim correction", _torch_var),
    (TORCH, "std"): _e("a dim unbiased keepdim correction", _torch_std),
}
TORCH_WORDS = {"dim", "keepdim", "unbiased", "correction"}
NUMPY_WORDS = {"axis", "keepdims", "ddof", "out"}


def method(name: str, keywords: set[str], libraries: set[str]) -> tuple[Entry | None, str]:
    """The entry for ``array.name(...)``, and why there is none ('' if there is)."""
    if name in METHODS:
        return METHODS[name], ""
    if (NUMPY, name) not in FLAVOURED:
        return None, f"the method .{name}() is not supported"
    if keywords & TORCH_WORDS:
        return FLAVOURED[(TORCH, name)], ""
    if keywords & NUMPY_WORDS or libraries == {NUMPY}:
        return FLAVOURED[(NUMPY, name)], ""
    if libraries == {TORCH}:
        return FLAVOURED[(TORCH, name)], ""
    if name in ("var", "std"):
        return None, (f".{name}() means ddof=0 on a NumPy array and unbiased=True (1/(N-1)) on a torch tensor, and "
                      f"this code uses both libraries: write the keyword (ddof=... or unbiased=...)")
    return FLAVOURED[(NUMPY, name)], ""  # sum and mean read the same in both


def arguments(entry: Entry, args: list, kwargs: dict, what: str) -> dict[str, Any]:
    """The call's arguments by parameter name (defaults filled in); raises ValueError."""
    params = entry.params
    if entry.varargs and len(args) > 1:
        from symbn.lang.python.values import Seq

        args = [Seq(tuple(args))]
    if len(args) > len(params):
        raise ValueError(f"{what} takes at most {len(params)} positional arguments, got {len(args)}")
    out = dict(zip(params, args))
    for key, value in kwargs.items():
        if key not in params or key == params[0]:
            raise ValueError(f"{what} has no keyword '{key}' that symbn reads (it reads {', '.join(params[1:]) or 'none'})")
        if key in out:
            raise ValueError(f"{what} got '{key}' twice")
        out[key] = value
    if params[0] not in out:
        raise ValueError(f"{what} needs its first argument")
    return out


__all__ = ["FLAVOURED", "FUNCTIONS", "METHODS", "NUMPY", "TORCH", "Entry", "arguments", "method"]
