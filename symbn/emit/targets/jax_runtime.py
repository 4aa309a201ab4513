"""Helpers every JAX module carries (copied below its docstring): shapes, sums, dtypes.

The rules are the NumPy module's (:mod:`symbn.emit.runtime`); float16 and
bfloat16 are computed in float32.  float64 needs JAX's x64 mode
(``jax.config.update("jax_enable_x64", True)``), as everywhere in JAX.  Tested
as a module (tests/emit/targets/test_jax.py).
"""

import jax.numpy as jnp

_NARROW = (jnp.dtype(jnp.float16), jnp.dtype(jnp.bfloat16))
_ROUNDED = (*_NARROW, jnp.dtype(jnp.float32))  # a mean has an offset worth taking


def _axes(ndim, axis):
    """The reduced axes as a sorted tuple of non-negative ints."""
    axes = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)  # a float or None: refused below, in words
    if not axes or not all(isinstance(a, int) and not isinstance(a, bool) for a in axes):
        raise ValueError(f"axis must be an int or a non-empty tuple of ints, got {axis!r}")
    out = tuple(sorted({a + ndim if a < 0 else a for a in axes}))
    if len(out) != len(axes) or any(not 0 <= a < ndim for a in out):
        raise ValueError(f"axis {axis!r} is not a set of distinct axes of an array with {ndim} dimensions")
    return out


def _types(*arrays):
    """(result dtype, work dtype): the inputs' floating dtype, and float32 for a narrow one."""
    result = jnp.result_type(*arrays)
    if not jnp.issubdtype(result, jnp.inexact):
        result = jnp.result_type(float)
    return result, (jnp.dtype(jnp.float32) if result in _NARROW else result)


def _place(a, shape, home):
    """``a`` put on the axes ``home`` of data of ``shape`` when it has their shape, else as it is."""
    want = tuple(shape[k] for k in home)
    if a.ndim < len(shape) and tuple(a.shape) == want and want:
        return a.reshape([n if k in home else 1 for k, n in enumerate(shape)])
    return a


def _sum(a, axes):
    """Σ over the reduced axes, kept as size-1 axes."""
    return jnp.sum(a, axis=axes, keepdims=True)


def _offset(d, axes, n):
    """The mean left in ``d = x - mean(x)`` by the mean's rounding: 0 in float64."""
    if d.dtype in _ROUNDED:
        return jnp.sum(d, axis=axes, keepdims=True) / n
    return jnp.zeros([1 if k in axes else s for k, s in enumerate(d.shape)], d.dtype)


def _count(shape, axes):
    """N, the size of a slice."""
    n = 1
    for k in axes:
        n *= shape[k]
    return n
