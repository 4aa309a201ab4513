"""Helpers every numba module carries (copied below its docstring): the kernels' view of the data.

The kernels read the data as a C-contiguous (A, K, B) array: slice k is x[:, k, :].
When the kept axes of the data are consecutive (ignoring axes of size 1) this is
a reshape, a view of C-contiguous data: BatchNorm's (N, C) over axis 0 is
(N, C, 1), its (N, C, H, W) over (0, 2, 3) is (N, C, H·W), LayerNorm's (B, D)
over -1 is (1, B, D).  Otherwise the kept axes are moved to the front and the
data copied, once.  B = 1 is the ``cols`` layout, B > 1 ``runs``.

The work is split into tasks fixed by the shape and the dtype, never by the
number of threads, so results do not depend on it.  NumPy only; tested as a
module (tests/emit/targets/test_numba_runtime.py).
"""

import functools

import numpy as np

from symbn.emit.runtime import _axes, _fits, _place, _saved, _store, _sum_to  # beside these when emitted

_TASK_BYTES = 1 << 18  # data a reduce task reads: its passes after the first come from cache
_BLOCK_ROWS = 256  # rows of a cols block: its partial sums are a few % of what it reads
_MIN_TASKS, _MIN_BLOCK_ROWS = 4, 16  # a cols block of fewer rows when that makes the tasks for the threads
_ROW_TASK_BYTES = 1 << 16  # data an element-wise task reads
_MAX_SLABS = 8  # partial sums of a gradient summed over slices: one slab per chunk of slices
_SMALL_BYTES = 1 << 20  # the call's arrays at most: the small kernel, on one thread
_SMALL_WIDE_BYTES, _WIDE_ROW = 1 << 21, 2048  # or at most 2 MB when a cols row has 2 kB or more (NOTES 56)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@functools.lru_cache(maxsize=256)
def _layout(shape, axes):
    """(perm, A, K, B) for data of ``shape`` reduced over ``axes``: perm is None when
    the kept axes are consecutive, else the axes to transpose to (kept, reduced)."""
    ndim = len(shape)
    kept = [k for k in range(ndim) if k not in axes]
    live = [k for k in kept if shape[k] != 1]
    between = [k for k in axes if live and live[0] < k < live[-1] and shape[k] != 1]
    if not between:
        first, last = (live[0], live[-1]) if live else (ndim, ndim - 1)
        a = int(np.prod(shape[:first], dtype=np.int64))
        k = int(np.prod(shape[first:last + 1], dtype=np.int64))
        b = int(np.prod(shape[last + 1:], dtype=np.int64))
        if not live:  # one slice: read it as rows of the last axis
            a, k, b = (a // shape[-1], 1, shape[-1]) if ndim and shape[-1] > 1 else (a, 1, 1)
        return None, a, k, b
    perm = tuple(kept) + tuple(axes)
    k = int(np.prod([shape[i] for i in kept], dtype=np.int64))
    return perm, 1, k, int(np.prod([shape[i] for i in axes], dtype=np.int64))


@functools.lru_cache(maxsize=256)
def _plain_layout(shape, ndim, axis):
    """(axes, lay, kept shape, reduced shape, the kernels' shape of the data, whether
    that is the data's shape, whether the kept shape is 1-D) of a plain call, or None
    (see :func:`_plain`)."""
    try:
        axes = _axes(ndim, axis)
    except ValueError:  # the general path says what is wrong
        return None
    lay = _layout(shape, axes)
    if lay[0] is not None:
        return None
    kept = tuple(n for k, n in enumerate(shape) if k not in axes)
    rows = lay[1:3] if lay[3] == 1 else lay[1:]
    return axes, lay, kept, tuple(shape[k] for k in axes), rows, rows == tuple(shape), len(kept) == 1


def _plain(data, axis, rows, slices, others, out):
    """The layout of a call that can skip the general path's shape rules, else None.

    A plain call: no ``out``; the data and ``rows`` (dy) are C-contiguous float32 or
    float64 arrays of one dtype and shape, whose kept axes are consecutive (the
    kernels read them as they are); each per-slice input in ``slices`` is a
    C-contiguous array of that dtype with the kept axes' shape (the kernels read it
    as it is, flat), each row input in ``others`` one with the reduced axes' shape.  Such a call runs the same kernels on the same values as
    the general path, with little Python around them (a call of 256 × 256 takes
    about as long in Python as in the kernels otherwise)."""
    if out is not None or type(data) is not np.ndarray or data.dtype not in _FLOATS or not data.flags.c_contiguous:
        return None
    # an int or a tuple of ints only: the layouts are cached by axis, and 0.0 or True is an equal key to 0 or 1
    # that _axes refuses; anything else (a list, np.int64) the general path reads
    if type(axis) is not int and not (type(axis) is tuple and all(type(a) is int for a in axis)):
        return None
    found = _plain_layout(data.shape, data.ndim, axis)
    if found is None:
        return None
    shape, dtype = data.shape, data.dtype
    for a in rows:
        if type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous:
            return None
    for v in slices:
        if type(v) is not np.ndarray or v.dtype != dtype or v.shape != found[2] or not v.flags.c_contiguous:
            return None
    for g in others:
        if type(g) is not np.ndarray or g.dtype != dtype or g.shape != found[3]:
            return None
    return found


def _small(data, axis, arrays, whole):
    """What the small kernel takes for a plain call of small data that the kernels read as they are (2-D, the kept
    axis 1-D; see :func:`_plain`), from the data alone: (axes, rows a block, slices a chunk, ``_narrow``, the
    kernel (0 cols, 1 runs), the per-slice inputs' shape, K), else None.  The caller checks the other inputs
    inline, as :func:`_plain` does: about 1 µs less of a 256 × 256 call than through it (NOTES 55)."""
    if type(data) is not np.ndarray or not data.flags.c_contiguous:
        return None
    if type(axis) is not int and not (type(axis) is tuple and all(type(a) is int for a in axis)):  # as in _plain
        return None
    return _small_layout(data.shape, data.dtype, axis, arrays, whole)


@functools.lru_cache(maxsize=256)
def _small_layout(shape, dtype, axis, arrays, whole):
    found = _plain_layout(shape, len(shape), axis) if dtype in _FLOATS else None
    if found is None or not (found[5] and found[6]):
        return None
    blocks = _blocks(found[1], dtype.itemsize, arrays, False, whole)
    if not blocks[2]:
        return None
    return found[0], blocks[0], blocks[1], None if dtype.itemsize == 8 else True, 0 if found[1][3] == 1 else 1, found[2], found[1][2]


def _plain_saved(saved, names, k):
    """The saved per-slice values as the kernels read them, (K,) float64 arrays (views),
    or None when one is not a C-contiguous float64 array of K values (the general path
    converts it, or says what is wrong)."""
    if type(saved) is not dict:
        return None
    out = []
    for name in names:
        a = saved.get(name)
        if type(a) is not np.ndarray or a.size != k or a.dtype != _FLOATS[1] or not a.flags.c_contiguous:
            return None
        out.append(a if a.ndim == 1 else a.reshape(k))
    return tuple(out)


def _cols(lay):
    return lay[3] == 1


def _canon(a, lay):
    """Data-shaped ``a`` as the kernels read it: C-contiguous (A, K, B), or (A, K) in
    the cols layout; a view when that is possible, else a copy."""
    perm, A, K, B = lay
    a = a if perm is None else a.transpose(perm)
    a = np.ascontiguousarray(a.reshape(A, K, B))
    return a[:, :, 0] if B == 1 else a


def _rows_in(g, dtype, shape, axes, lay, name, data="x"):
    """A row input other than the data, broadcast against it (a read-only view):
    the kernels read it like the data."""
    kept = tuple(k for k in range(len(shape)) if k not in axes)
    placed = _place(np.asarray(g, dtype), shape, axes, name, data, per_slice=False)
    try:
        full = np.broadcast_to(placed, shape)
    except ValueError:
        raise ValueError(f"{name} has shape {np.shape(g)}, which does not broadcast against the data's {shape}") from None
    offset = len(shape) - placed.ndim
    varies = any(placed.shape[k - offset] != 1 for k in kept if k >= offset and shape[k] != 1)
    perm, A, K, B = lay
    view = (full if perm is None else full.transpose(perm)).reshape(A, K, B)
    return (view[:, :, 0] if B == 1 else view), varies


def _per_slice(v, shape, axes, name, dtype=np.float64, data="x"):
    """A per-slice (scalar-kind) input or saved value as the kernels read it: (K,) of
    ``dtype``, the data's for an input (as a plain call passes it; the kernels compute
    in float64), float64 for a saved value."""
    kept = tuple(k for k in range(len(shape)) if k not in axes)
    kshape = tuple(1 if k in axes else s for k, s in enumerate(shape))
    a = np.asarray(v)
    if a.dtype.kind == "c":
        raise TypeError(f"{name}: the numba target computes real data; use the numpy target for complex values")
    placed = _place(a, shape, kept, name, data)
    try:  # a copy: writeable, as a plain call's input is, so the kernels compile one signature for both
        return np.array(np.broadcast_to(placed, kshape), dtype=dtype).reshape(-1)
    except ValueError:
        raise ValueError(f"{name} has shape {a.shape}: a per-slice value must broadcast to {kshape} (one value per "
                         f"slice, constant along the reduced axes {axes})") from None


def _saved_slice(saved, name, shape, axes):
    """saved[name] (keepdims, or flat with one value per slice, or one number for every slice: the NumPy
    module saves a stage of constants only, BatchNorm eval's ivar, as one) as (K,) float64."""
    kshape = tuple(1 if k in axes else s for k, s in enumerate(shape))
    value = saved[name] if np.ndim(saved[name]) == 0 else _saved(saved, name, kshape)
    return _per_slice(value, shape, axes, f"saved[{name!r}]")


def _restore(a, shape, lay):
    """The kernels' (A, K, B) or (A, K) array as data of ``shape`` (a view)."""
    perm = lay[0]
    if perm is None:
        return a.reshape(shape)
    moved = a.reshape([shape[k] for k in perm])
    return moved.transpose(np.argsort(perm))


def _unslice(values, shape, axes):
    """A (K,) per-slice row of the reduce kernel as a keepdims array."""
    return values.reshape(tuple(1 if k in axes else s for k, s in enumerate(shape)))


def _to_input(value, like, shape, home):
    """A gradient of data shape (or broadcasting against it) summed to the input's shape,
    the input placed on its ``home`` axes as ``_place`` places it (its shape was checked
    when it was read: here only where it goes)."""
    placed = _place(np.empty(np.shape(like), dtype=np.bool_), shape, home, per_slice=False)
    return _sum_to(placed.shape, value).reshape(np.shape(like))


def _slice_gradient(values, like, shape, axes, out, result):
    """A per-slice gradient, one row of the reduce kernel's result, with the shape of
    its input ``like`` (summed to it when ``like`` broadcasts), written into ``out``."""
    kept = tuple(k for k in range(len(shape)) if k not in axes)
    return _store(_to_input(_unslice(values, shape, axes), like, shape, kept), out, result)


def _real(dtype):
    """The work dtype, if the kernels compute it: float32 or float64 (float16 arrives as float32)."""
    if dtype.kind == "c":
        raise TypeError("the numba target computes real data (float16/32/64); use the numpy target for complex values")
    if dtype not in _FLOATS:
        raise TypeError(f"the numba target computes float16, float32 and float64 data, not {dtype}; convert the "
                        f"inputs (a.astype(np.float64)) or use the numpy target")
    return dtype


def _constant(value, name):
    """A constant input (eps, a running mean) as the one number the kernels take."""
    if type(value) is float:
        return value
    a = np.asarray(value)
    if a.size != 1 or a.dtype.kind not in "biuf":
        raise TypeError(f"{name} must be one real number for the numba target, got "
                        f"{f'an array of shape {a.shape}' if a.size != 1 else repr(value)}; a value per slice or "
                        f"per element needs the numpy target")
    return float(a.reshape(()))


def _narrow_of(data):
    """The kernels' ``_narrow`` for ``data``: None for float64, True for float32 (float16 is
    computed as float32).  numba drops a branch on ``_narrow is not None`` that the argument's
    type decides before it compiles: each dtype compiles only its own sweeps (float32's one,
    float64's two passes), not both."""
    return None if data.dtype.itemsize == 8 else True


def _data(a, dtype, shape, name):
    a = np.asarray(a, dtype)
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}; it must have the shape of the data, {shape}")
    return a


@functools.lru_cache(maxsize=256)
def _reduce_blocks(lay, itemsize, arrays, whole):
    """(rows per block, slices per chunk) of the reduce kernel: a task reads about
    _TASK_BYTES; ``whole``: a block is a whole slice (its statistics need it)."""
    _, A, K, B = lay
    run = max(1, B * itemsize * arrays)  # one row of one slice, every array
    if whole:
        ablock = max(A, 1)
    elif B == 1:  # cols: blocks of whole rows (a part of each row, strided, reads slowly), at least _MIN_TASKS
        return max(1, min(A, _BLOCK_ROWS, max(_MIN_BLOCK_ROWS, -(-A // _MIN_TASKS)))), max(K, 1)
    else:
        ablock = max(1, min(A, _TASK_BYTES // run))
    return ablock, max(1, min(K, _TASK_BYTES // max(1, ablock * run)))


@functools.lru_cache(maxsize=256)
def _row_blocks(lay, itemsize, arrays, slabs):
    """(rows per task, slices per chunk) of the element-wise kernel; ``slabs``: a
    gradient is summed over slices, with one partial sum per chunk (at most _MAX_SLABS)."""
    _, A, K, B = lay
    run = max(1, B * itemsize * arrays)
    if B == 1:  # (no slices, K = 0: one chunk of none, never a chunk of 0)
        return max(1, min(A, _ROW_TASK_BYTES // max(1, K * run))), max(K, 1)
    ablock = max(1, min(A, _ROW_TASK_BYTES // run))
    kchunk = max(1, min(K, _ROW_TASK_BYTES // max(1, ablock * run)))
    if slabs:
        kchunk = max(kchunk, -(-K // _MAX_SLABS))
    return ablock, kchunk


@functools.lru_cache(maxsize=256)
def _blocks(lay, itemsize, arrays, slabs, whole):
    """(rows per block, slices per chunk, small) of a call.  Small data (the call's
    ``arrays`` of data shape fit in _SMALL_BYTES, about a core's L2 cache; not empty)
    run in the small kernel, on one thread, in blocks of every slice: whole slices
    when ``whole`` (the statistics need them) or in the runs layout, else (cols) at
    most _BLOCK_ROWS rows, as the reduce kernel's, so that a float32 sweep centred on
    a block's first row loses as little (NOTES 43).  Other data run in the reduce and
    element-wise kernels (``_row_blocks``).  Up to _SMALL_WIDE_BYTES, cols data whose rows have _WIDE_ROW bytes or
    more are small too: there the one thread's long loops beat two threads woken for three parallel regions, and
    narrower rows lose (NOTES 56)."""
    _, A, K, B = lay
    size = K * A * B * itemsize * arrays
    wide = B == 1 and K * itemsize >= _WIDE_ROW and size <= _SMALL_WIDE_BYTES
    if A * B and (size <= _SMALL_BYTES or wide):  # empty slices: the merge of no blocks
        return (A if whole or B != 1 else min(A, _BLOCK_ROWS)), max(K, 1), True
    return (*_row_blocks(lay, itemsize, arrays, slabs), False)


def _gradient_buffer(lay, varies, kchunk):
    """Where the element-wise kernel sums a row input's gradient: (slabs, A, K or 1, B)."""
    _, A, K, B = lay
    return np.zeros((1, A, K, B) if varies else (-(-K // kchunk), A, 1, B))


def _gradient(buffer, shape, axes, lay, like):
    """The gradient summed in ``buffer`` (slabs in order) with the shape of ``like``."""
    perm, _, K, _ = lay
    total = buffer.sum(axis=0)
    if total.shape[1] == K and K != 1:
        full = _restore(total, shape, lay)
    else:
        inner = [1 if k not in axes else s for k, s in enumerate(shape)]
        full = total.reshape(inner if perm is None else [inner[k] for k in perm])
        full = full if perm is None else full.transpose(np.argsort(perm))
    return _to_input(full, like, shape, axes)


def _usable_out(out, dtype, shape, lay, inputs):
    """An output buffer the kernel can write into as it is, or None."""
    if out is None:
        return None
    _fits(out, shape)
    if out.dtype != dtype or lay[0] is not None or not out.flags.c_contiguous:
        return None
    if any(np.may_share_memory(out, a) for a in inputs):
        return None
    return out
