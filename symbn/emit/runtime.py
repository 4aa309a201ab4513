"""Helpers that every emitted module carries (copied verbatim below its docstring).

They import NumPy only and are written for speed: reductions keep their axes
(``keepdims``) so per-slice values broadcast against the data, and a sum of a
product is one ``einsum`` pass with no temporary array.  Kept here as a real
module so that they are linted and tested once, not as text.
"""

import numpy as np

_WIDE = (np.dtype(np.float16), np.dtype(np.float32))
_LONG = 4096  # a float16/32 sum along a longer axis is split in two levels


def _result(*arrays):
    """The results' dtype: the inputs' common floating dtype; integers and bools give
    float64 (lists are read as arrays, Python numbers keep their weak type)."""
    dtype = np.result_type(*(a if isinstance(a, (np.ndarray, np.generic, int, float, complex)) else np.asarray(a)
                             for a in arrays))
    return dtype if dtype.kind in "fc" else np.dtype(np.float64)


def _axes(ndim, axis):
    """The reduced axes (the slice) as a sorted tuple of non-negative ints."""
    axes = (axis,) if np.ndim(axis) == 0 else tuple(axis)
    if not axes or not all(isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"axis must be an int or a non-empty tuple of ints, got {axis!r}")
    out = tuple(sorted({int(a) + ndim if int(a) < 0 else int(a) for a in axes}))
    if len(out) != len(axes) or any(not 0 <= a < ndim for a in out):
        raise ValueError(f"axis {axis!r} is not a set of distinct axes of an array with {ndim} dimensions")
    return out


def _place(a, shape, home, name="the input", data="x", per_slice=True):
    """An input as an array that broadcasts against data of ``shape``, or a ValueError in words.

    An array whose shape is the data's shape on ``home`` (the kept axes for a
    per-slice input such as BatchNorm's gamma, the reduced axes for a row-kind one
    such as LayerNorm's) is put on those axes, e.g. gamma of shape (C,) for
    (N, C, H, W) with axis=(0, 2, 3); anything else is used as it is, by NumPy's
    broadcasting rules.  It must then broadcast to the data's shape, and a
    per-slice input must hold one value per slice (size 1 on the reduced axes).
    """
    a = np.asarray(a)
    given = a.shape
    wanted = tuple(shape[k] for k in home)
    if a.ndim < len(shape) and a.shape == wanted and wanted:
        a = a.reshape([n if k in home else 1 for k, n in enumerate(shape)])
    full = (1,) * (len(shape) - a.ndim) + a.shape
    fits = a.ndim <= len(shape) and all(m in (1, n) for m, n in zip(full, shape))
    if fits and (not per_slice or all(full[k] == 1 for k in range(len(shape)) if k not in home)):
        return a
    if per_slice:
        reduced = tuple(k for k in range(len(shape)) if k not in home)
        per = tuple(1 if k in reduced else n for k, n in enumerate(shape))
        raise ValueError(f"{name} has shape {given}, but it is one value per slice: for {data} of shape {shape} "
                         f"with axis={_axis_text(reduced)} it must have shape {wanted} (the kept axes) or broadcast "
                         f"to {per}")
    raise ValueError(f"{name} has shape {given}, which does not fit {data} of shape {shape}: give shape {wanted} "
                     f"(the reduced axes, axis={_axis_text(home)}) or a shape that broadcasts to {shape}")


def _axis_text(axes):
    """axis as the caller writes it: 0, or (0, 2, 3)."""
    return str(axes[0]) if len(axes) == 1 else str(tuple(axes))


def _sum(axes, *factors, wide=False):
    """Σ over ``axes`` (keepdims) of the product of ``factors``, in one pass.

    ``wide``: a float16/float32 sum of the caller's raw data accumulates in
    float64, because NumPy sums along a non-contiguous axis one element after the
    other, and a mean with a large offset would lose the data's spread.
    """
    a = factors[0]
    if len(factors) == 1 and (wide or a.dtype not in _WIDE or max(a.shape[k] for k in axes) <= _LONG):
        dtype = np.float64 if wide and a.dtype in _WIDE else None
        return np.add.reduce(a, axis=axes, keepdims=True, dtype=dtype).astype(a.dtype, copy=False)
    return _contract(factors, tuple(k for k in range(max(np.ndim(f) for f in factors)) if k not in axes))


def _offset(d, axes, n):
    """The per-slice mean c of ``d = x - mean(x)`` (keepdims), or 0.

    In float16/float32 the mean of data with a large offset is off by up to half
    a unit in its last place (5e-4 at 1e4), which is much of the spread; d's own
    mean is small and exact enough, so ``d - c`` is centred to rounding.  The
    caller folds c into what reads d instead of touching d (one pass, no write).
    Other dtypes (float64, complex) give 0.
    """
    if d.dtype not in _WIDE:
        return 0
    return np.add.reduce(d, axis=axes, keepdims=True) / n


def _recentre(d, axes, n):
    """Centre ``d = x - mean(x)`` once more, in place (``d -= _offset(d)``), and
    return the correction c."""
    c = _offset(d, axes, n)
    if d.dtype in _WIDE:
        np.subtract(d, c, out=d)
    return c


def _exact(m, c):
    """The mean ``m + c`` (``c`` from ``_recentre``) to save for the backward: in
    float64 when m is float16/float32, whose rounding of the sum would otherwise
    come back in every centred value the backward recomputes."""
    return m.astype(np.float64) + c if m.dtype in _WIDE else m + c


def _split(m, dtype):
    """A saved mean as (m in ``dtype``, its offset c): ``x - m`` computed with the
    first is centred once c is taken off, which is what the backward's fold does.
    c = m - head for a wider m (forward's float64 mean); None, to be measured
    (``_measured``), for a float16/32 m as wide as the data (a framework's, say)
    or any m narrower than the data; 0 for a float64 m and float64 data."""
    m = np.asarray(m)
    head = m.astype(dtype, copy=False)
    if m.dtype.itemsize < head.dtype.itemsize or (m.dtype == head.dtype and head.dtype in _WIDE):
        return head, None
    if m.dtype == head.dtype or head.dtype not in _WIDE:
        return head, 0
    return head, (m - head).astype(dtype)


def _measured(c, d, axes, n):
    """The offset c from ``_split``, or, when it is unknown, the mean of
    ``d = x - m``: one reduction, only for a saved mean no wider than the data."""
    return np.add.reduce(d, axis=axes, keepdims=True) / n if c is None else c


def _shift(d, c):
    """``d - c`` in place (d is an array the caller owns), or d when c is 0."""
    if np.ndim(c) == 0 and c == 0:
        return d
    return np.subtract(d, c, out=d)


def _contract(factors, keep):
    """Σ over every axis not in ``keep`` of the product of broadcasting
    ``factors``, keepdims, as one einsum (size-1 axes are squeezed away).

    A long summed axis (> 4096) is split into blocks of about √n, summed as
    (blocks, √n) and then over the blocks: einsum adds one term after the other,
    whose float32 error grows like n·ε; two levels make it about 2·√n·ε.
    """
    ndim = max(np.ndim(f) for f in factors)
    factors = [np.asarray(f).reshape((1,) * (ndim - np.ndim(f)) + np.shape(f)) for f in factors]
    shape = np.broadcast_shapes(*(f.shape for f in factors))
    letters = [chr(97 + k) for k in range(ndim)]
    out = "".join(letters[k] for k in keep if shape[k] != 1)
    summed = [k for k in range(ndim) if k not in keep and shape[k] > _LONG]
    if summed and factors[0].dtype in _WIDE:
        k = summed[0]
        size = shape[k]
        block = 1 << ((size.bit_length() + 1) // 2)
        head = size - size % block
        cut = [(slice(None),) * k + (slice(0, head) if f.shape[k] != 1 else slice(None),) for f in factors]
        split = [f[c].reshape(f.shape[:k] + ((head // block, block) if f.shape[k] != 1 else (1, 1)) + f.shape[k + 1:])
                 for f, c in zip(factors, cut)]
        total = _einsum(split, letters[:k] + ["A"] + letters[k:], "A" + out).sum(axis=0)
        if head < size:
            tail = [f[(slice(None),) * k + (slice(head, None) if f.shape[k] != 1 else slice(None),)] for f in factors]
            total = total + _einsum(tail, letters, out)
    else:
        total = _einsum(factors, letters, out)
    return total.reshape([shape[k] if k in keep else 1 for k in range(ndim)])


def _einsum(factors, letters, out):
    """einsum over broadcasting factors, their size-1 axes squeezed away."""
    operands, subscripts = [], []
    for f in factors:
        live = [k for k in range(f.ndim) if f.shape[k] != 1]
        operands.append(f.reshape([f.shape[k] for k in live]))
        subscripts.append("".join(letters[k] for k in live))
    return np.einsum(",".join(subscripts) + "->" + out, *operands)


def _sum_to(shape, *factors):
    """The product of ``factors`` summed down to ``shape`` (a gradient of an input
    that was broadcast): over leading axes and axes where ``shape`` has size 1."""
    ndim = max(np.ndim(f) for f in factors)
    full = (1,) * (ndim - len(shape)) + tuple(shape)
    full_shape = np.broadcast_shapes(*(np.shape(f) for f in factors))
    if len(factors) == 1 and full_shape == full:
        return np.array(np.reshape(factors[0], shape))  # a copy: never hand back the caller's dy
    keep = tuple(k for k in range(ndim) if full[k] != 1)
    return _contract(factors, keep).reshape(shape)


def _sum_to_offset(shape, c, *factors):
    """``_sum_to(shape, *factors, c)`` for a mean's offset c; 0 when c is 0 (float64
    data, or a float64 mean given for float64 data): no pass over the data for nothing."""
    if np.ndim(c) == 0 and c == 0:
        return 0
    return _sum_to(shape, *factors, c)


def _out(out, k, count):
    """The k-th of ``count`` output buffers given as ``out`` (an array is the first);
    buffers that overlap one another are refused."""
    if out is None:
        return None
    if isinstance(out, np.ndarray):
        out = (out,) + (None,) * (count - 1)
    if len(out) != count:
        raise ValueError(f"out must be an array or a tuple of {count} arrays or None, got {len(out)} entries")
    given = [b for b in out if b is not None]
    if any(np.may_share_memory(a, b) for i, a in enumerate(given) for b in given[i + 1:]):
        raise ValueError("out: two output buffers share memory; give each gradient its own array")
    return out[k]


def _saved(saved, name, kshape):
    """A saved per-slice value with this call's per-slice shape: a keepdims array,
    or one with the same values flat (a framework's (C,) mean, say)."""
    a = np.asarray(saved[name])
    if a.shape != tuple(kshape):
        if a.size != int(np.prod(kshape)):
            raise ValueError(f"saved[{name!r}] has shape {a.shape}, but this call's per-slice values have shape "
                             f"{tuple(kshape)}: was it saved with another axis or other data?")
        a = a.reshape(kshape)
    return a


def _store(value, out, result):
    """``value``, written into ``out`` when one was given (unless it is ``out``),
    else as ``result``."""
    if out is None:
        return _as(result, value)
    _fits(out, np.shape(value))
    if value is not out:
        np.copyto(out, value)
    return out


def _fits(out, shape):
    """Refuse an output buffer of another shape (NumPy would fill it by broadcasting)."""
    if out.shape != tuple(shape):
        raise ValueError(f"out: a buffer of shape {out.shape} for a gradient of shape {tuple(shape)}")


def _usable(out, dtype, shape, *inputs):
    """An output buffer to compute in, if it has the work dtype and shares no memory
    with an input still to be read; else None (the result is computed in an array of
    ours and copied into it).  A buffer of another shape is refused."""
    if out is None:
        return None
    _fits(out, shape)
    if out.dtype != dtype or any(np.may_share_memory(out, a) for a in inputs):
        return None
    return out


def _work(result):
    """The dtype to compute in: float16 data are computed in float32 (a sum over
    the slice overflows float16's 65504 soon), and the results cast back."""
    return np.dtype(np.float32) if result == np.float16 else result


def _as(result, a):
    """``a`` as ``result``: itself unless the work dtype was wider (float16)."""
    return a.astype(result, copy=False)
