"""Helpers every PyTorch module carries (copied below its docstring): shapes, sums, dtypes.

The rules are the NumPy module's (:mod:`symbn.emit.runtime`): the reduced axes
are the slice; a per-slice input of the kept axes' shape is put on the kept axes,
a row input of the reduced axes' shape on the reduced axes; float16 and bfloat16
are computed in float32.  Tested as a module (tests/emit/targets/test_torch.py).
"""

import torch

_NARROW = (torch.float16, torch.bfloat16)
_ROUNDED = (torch.float16, torch.bfloat16, torch.float32)  # a mean has an offset worth taking


def _axes(ndim, axis):
    """The reduced axes as a sorted tuple of non-negative ints."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)  # a float or None: refused below, in words
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"axis must be an int or a non-empty tuple of ints, got {axis!r}")
    out = tuple(sorted({a + ndim if a < 0 else a for a in axes}))
    if len(out) != len(axes) or any(not 0 <= a < ndim for a in out):
        raise ValueError(f"axis {axis!r} is not a set of distinct axes of a tensor with {ndim} dimensions")
    return out


def _types(*tensors):
    """(result dtype, work dtype): the inputs' promoted floating dtype, and float32 for a narrow one."""
    result = tensors[0].dtype
    for t in tensors[1:]:
        result = torch.promote_types(result, t.dtype)
    if not (result.is_floating_point or result.is_complex):
        result = torch.float64
    return result, (torch.float32 if result in _NARROW else result)


def _place(t, shape, home):
    """``t`` put on the axes ``home`` of data of ``shape`` when it has their shape, else as it is."""
    want = tuple(shape[k] for k in home)
    if t.dim() < len(shape) and tuple(t.shape) == want and want:
        return t.reshape([n if k in home else 1 for k, n in enumerate(shape)])
    return t


def _sum(t, axes):
    """Σ over the reduced axes, kept as size-1 axes."""
    return t.sum(dim=axes, keepdim=True)


def _offset(d, axes, n):
    """The mean left in ``d = x - mean(x)`` by the mean's rounding: 0 in float64."""
    if d.dtype in _ROUNDED:
        return d.sum(dim=axes, keepdim=True) / n
    return torch.zeros([1 if k in axes else s for k, s in enumerate(d.shape)], dtype=d.dtype, device=d.device)


def _sum_to(value, like, shape, home, full):
    """A gradient summed to the shape of ``like``: ``value`` broadcast to ``full`` (the
    data's shape for a row input, the per-slice shape for a per-slice one) and summed
    over the axes along which ``like``, placed on ``home`` as the forward placed it,
    was broadcast."""
    placed = _place(like, shape, home).shape
    value = value.expand(full)
    lead = len(full) - len(placed)
    dims = [k for k in range(len(full)) if k < lead or (placed[k - lead] == 1 and full[k] != 1)]
    total = value.sum(dim=dims, keepdim=True) if dims else value
    return total.reshape(like.shape)


def _fresh(t, *inputs):
    """``t``, or a copy if it is (a view of) an input: an operator's outputs never alias its inputs."""
    ptr = t.untyped_storage().data_ptr()
    if any(ptr == i.untyped_storage().data_ptr() for i in inputs):
        return t.clone(memory_format=torch.contiguous_format)
    return t.contiguous()


def _constant(value, name):
    """A constant input (eps) as the one number the operator's schema takes."""
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be one real number, got {type(value).__name__} "
                        f"{tuple(getattr(value, 'shape', ()))}; a value per slice or per element needs the numpy "
                        f"target") from None


def _count(shape, axes):
    """N, the size of a slice."""
    n = 1
    for k in axes:
        n *= shape[k]
    return n


def _kshape(shape, axes):
    return [1 if k in axes else s for k, s in enumerate(shape)]
