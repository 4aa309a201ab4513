"""Buffers: what the emitted functions write into (their own arrays, out=), and how much they allocate."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import symbn
from symbn.emit.buffers import Buffers
from symbn.emit.module import load_module
from symbn.numeric import relative_error

from ..files import BATCHNORM, ROOT
from .data import AXES, float16_case, make_inputs


@pytest.mark.parametrize("shape, axis", AXES)
def test_saved_and_out(case, shape, axis):
    layer, module = case
    args, dy = make_inputs(layer, shape, axis, seed=1)
    copies = [a.copy() for a in (dy, *args)]
    y, saved = module.forward(*args, axis=axis, return_saved=True)
    assert np.array_equal(y, module.forward(*args, axis=axis))
    assert set(saved) == set(module.SAVED)
    kept = [saved[k].copy() for k in module.SAVED]
    plain = module.backward(dy, *args, axis=axis)
    outs = tuple(np.full_like(a, np.nan) for a in args)
    given = module.backward(dy, *args, axis=axis, saved=saved, out=outs)
    for p, g, o in zip(plain, given, outs):
        assert g is o
        np.testing.assert_allclose(g, p, rtol=1e-12, atol=1e-12)
    first = np.empty_like(args[0])
    assert module.backward(dy, *args, axis=axis, out=first)[0] is first
    for a, c in zip((dy, *args), copies):  # inputs are never written
        assert np.array_equal(a, c)
    assert all(np.array_equal(saved[k], v) for k, v in zip(module.SAVED, kept))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_peak_memory_is_at_most_two_arrays(dtype):
    """float32 too: a float64 saved mean must not turn a pass into float64 arrays."""
    module = load_module(symbn.load(BATCHNORM))
    args, dy = make_inputs(symbn.load(BATCHNORM), (2048, 64), 0, dtype=dtype)
    _, saved = module.forward(*args, return_saved=True)
    out = np.empty_like(args[0])
    module.backward(dy, *args)  # warm up
    for kw, arrays in (({}, 2), ({"saved": saved}, 2), ({"saved": saved, "out": out}, 1)):
        tracemalloc.start()
        module.backward(dy, *args, **kw)
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        # small per-slice arrays and NumPy's iterator buffers: an eighth of an array at most
        assert peak <= (arrays + 0.125) * args[0].nbytes, (kw.keys(), peak / args[0].nbytes)


# --- what callers pass (found by an adversarial review) ---------------------------------------


@pytest.mark.parametrize("target", ["dy", "x"])
def test_out_may_be_an_input(case, target):
    """out=dy or out=x: the gradient is computed in an array of ours and written at
    the end (it was written into dy while dy was still being read: error up to 2.5)."""
    layer, module = case
    args, dy = make_inputs(layer, (6, 4), 0, seed=4)
    want = module.backward(dy, *args)
    buffer = (dy if target == "dy" else args[0]).copy()
    call = [buffer if target == "dy" else dy, *([buffer] if target == "x" else [args[0]]), *args[1:]]
    got = module.backward(*call, out=buffer)
    assert got[0] is buffer
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_out_buffers_are_checked():
    module = load_module(symbn.load(BATCHNORM))
    args, dy = make_inputs(symbn.load(BATCHNORM), (6, 5), 0)
    shared = np.empty(5)
    with pytest.raises(ValueError, match="share memory"):
        module.backward(dy, *args, out=(None, shared, shared))
    with pytest.raises(ValueError, match=r"a buffer of shape \(2, 6, 5\) for a gradient of shape \(6, 5\)"):
        module.backward(dy, *args, out=np.empty((2, 6, 5)))
    with pytest.raises(ValueError, match=r"a buffer of shape \(6, 5\) for a gradient of shape \(5,\)"):
        module.backward(dy, *args, out=(None, np.empty((6, 5)), None))


def test_out_buffers_of_another_dtype():
    """A buffer of the data's dtype is computed in; one of another dtype (float16
    data are computed in float32) is written at the end.  Either way it is returned."""
    module = load_module(symbn.load(BATCHNORM))
    args = float16_case()
    plain = module.backward(*args)
    want = module.backward(*(a.astype(np.float64) for a in args))
    for dtype in (np.float16, np.float32, np.float64):
        outs = tuple(np.empty(a.shape, dtype) for a in args[1:])
        grads = module.backward(*args, out=outs)
        assert all(g is o for g, o in zip(grads, outs))
        assert relative_error(grads[0], want[0]) <= 1.5 * relative_error(plain[0], want[0]) + 1e-6


def test_gradients_never_alias_dy():
    """LayerNorm's beta of the data's full shape: dbeta = dy, returned as a copy (it
    was a view of dy, so dbeta *= lr changed dy)."""
    module = load_module(symbn.load(ROOT / "derivations/layernorm.toml"))
    rng = np.random.default_rng(8)
    x, dy, gamma, beta = (rng.standard_normal((4, 5)) for _ in range(4))
    grads = module.backward(dy, x, gamma, beta, axis=1)
    assert not any(np.shares_memory(g, dy) for g in grads)



# --- the rules, by themselves ----------------------------------------------------------------------


def test_only_our_own_full_arrays_that_nothing_reads_later_are_written():
    b = Buffers("x")
    assert b.full == {"x", "dy"} and not b.owned  # the caller's arrays are never ours
    b.made("xmu", ["x"], owned=True)
    b.made("s", ["xmu"], owned=False)  # a copy of a name
    assert b.owned == {"xmu"} and b.full == {"x", "dy", "xmu", "s"}
    assert b.dead(["xmu", "dy"], later=set()) == "xmu"
    assert b.dead(["xmu", "dy"], later={"xmu"}) is None
    assert b.dead(["x", "dy"], later=set()) is None
    b.made("p", ["gamma"], owned=True)  # not of the data's shape
    assert b.dead(["p"], later=set()) is None and not b.free("p", set())


def test_the_other_branch_owns_nothing_and_after_both_only_what_both_do():
    b = Buffers("x")
    b.made("xmu", ["x"], owned=True)
    b.made("t", ["x"], owned=True)
    first = b.other_branch()
    assert not b.owned
    b.made("xmu", ["x"], owned=True)
    b.join(first)
    assert b.owned == {"xmu"} and b.full >= {"xmu", "t"}


def test_a_row_stage_is_written_into_a_dead_operand(bn):
    """xhat = xmu*ivar goes into xmu's array when xmu is not read again (the forward)."""
    forward = load_module(bn).SOURCE.split("def forward", 1)[1].split("def backward", 1)[0]
    assert "xhat = np.multiply(xmu, ivar, out=xmu)" in forward
