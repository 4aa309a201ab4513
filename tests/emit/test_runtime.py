"""The helpers every emitted module carries (symbn/emit/runtime.py), one by one."""

from __future__ import annotations

import math

import numpy as np
import pytest

from symbn.emit import runtime as rt

# --- axes and shapes -------------------------------------------------------------------------


@pytest.mark.parametrize(("axis", "axes"), [(0, (0,)), (-1, (3,)), ((0, 2, 3), (0, 2, 3)), ((-1, 0), (0, 3))])
def test_axes_are_sorted_and_non_negative(axis, axes):
    assert rt._axes(4, axis) == axes


@pytest.mark.parametrize("axis", [4, -5, (0, 0), (1, -3)])
def test_bad_axes_are_refused(axis):
    with pytest.raises(ValueError, match="distinct axes of an array with 4 dimensions"):
        rt._axes(4, axis)


def test_place_puts_a_per_channel_array_on_the_kept_axes():
    shape = (2, 3, 4, 5)
    assert rt._place(np.ones(3), shape, (1,)).shape == (1, 3, 1, 1)
    assert rt._place(np.ones((4, 5)), shape, (2, 3)).shape == (1, 1, 4, 5)
    assert rt._place(np.ones((1, 3, 1, 1)), shape, (1,)).shape == (1, 3, 1, 1)  # already placed
    assert rt._place(np.float64(2.0), shape, (1,)).shape == ()  # broadcasts as it is


def test_place_says_in_words_what_shape_an_input_needs():
    shape = (8, 4)
    with pytest.raises(ValueError) as err:
        rt._place(np.ones(8), shape, (1,), "gamma", "x", True)
    assert str(err.value) == ("gamma has shape (8,), but it is one value per slice: for x of shape (8, 4) with "
                              "axis=0 it must have shape (4,) (the kept axes) or broadcast to (1, 4)")
    with pytest.raises(ValueError, match=r"gamma has shape \(8, 4\), but it is one value per slice"):
        rt._place(np.ones((8, 4)), shape, (1,), "gamma", "x", True)  # a value per element, not per slice
    with pytest.raises(ValueError) as err:
        rt._place(np.ones(3), shape, (1,), "gamma", "x", False)
    assert str(err.value) == ("gamma has shape (3,), which does not fit x of shape (8, 4): give shape (4,) "
                              "(the reduced axes, axis=1) or a shape that broadcasts to (8, 4)")
    assert rt._place(np.ones((8, 4)), shape, (1,), "gamma", "x", False).shape == (8, 4)  # a row input may vary


# --- sums over the slice ----------------------------------------------------------------------


@pytest.mark.parametrize("axes", [(0,), (1, 2), (0, 2)])
def test_sum_of_a_product_is_the_plain_sum(axes):
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((5, 4, 3)), rng.standard_normal((5, 4, 3))
    c = rng.standard_normal([1 if k in axes else s for k, s in enumerate(a.shape)])
    np.testing.assert_allclose(rt._sum(axes, a), a.sum(axis=axes, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(rt._sum(axes, a, b), (a * b).sum(axis=axes, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(rt._sum(axes, a, b, c), (a * b * c).sum(axis=axes, keepdims=True), rtol=1e-12)


def test_long_float32_sums_take_two_levels():
    """Summed one term after the other, float32 loses 1.3e-5 over 2**20 terms; in
    blocks of about sqrt(n), 7e-7 (measured, this seed)."""
    rng = np.random.default_rng(0)
    x = (1 + rng.random((1 << 20, 2))).astype(np.float32)
    exact = np.array([math.fsum(x[:, k].astype(float)) for k in range(2)])

    def error(total):
        return np.max(np.abs(np.ravel(total).astype(float) - exact) / exact)

    assert rt._sum((0,), x).dtype == np.float32
    assert error(rt._sum((0,), x)) < 2e-6
    assert error(np.add.reduce(x, axis=0)) > 5e-6  # what the split is for


def test_wide_sum_accumulates_in_float64():
    """A wide sum is off by the float32 rounding of its result only (6e-8)."""
    rng = np.random.default_rng(4)
    x = (1 + rng.random((1 << 16, 2))).astype(np.float32)
    exact = np.array([math.fsum(x[:, k].astype(float)) for k in range(2)])
    total = rt._sum((0,), x, wide=True)
    assert total.dtype == np.float32 and total.shape == (1, 2)
    assert np.max(np.abs(total.ravel().astype(float) - exact) / exact) < 6e-8


def test_sum_to_a_broadcast_shape():
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((6, 3, 2)), rng.standard_normal((6, 3, 2))
    np.testing.assert_allclose(rt._sum_to((3, 1), a, b), (a * b).sum(axis=0).sum(axis=1, keepdims=True), rtol=1e-12)
    np.testing.assert_allclose(rt._sum_to((6, 3, 2), a), a)
    assert rt._sum_to_offset((3, 1), 0, a) == 0  # no pass for a zero offset
    np.testing.assert_allclose(rt._sum_to_offset((3, 1), np.full((1, 3, 1), 0.5), a),
                               0.5 * a.sum(axis=0).sum(axis=1, keepdims=True), rtol=1e-12)


# --- the mean's rounding in float16/float32 -----------------------------------------------------


def test_offset_is_zero_in_float64_and_the_mean_left_in_float32():
    d = np.arange(8.0).reshape(4, 2)
    assert rt._offset(d, (0,), 4) == 0
    d32 = d.astype(np.float32)
    np.testing.assert_array_equal(rt._offset(d32, (0,), 4), [[3.0, 4.0]])


def test_recentre_centres_in_place():
    x = (1e4 + np.random.default_rng(3).standard_normal((4096, 3))).astype(np.float32)
    d = x - x.mean(axis=0, keepdims=True)
    before = np.abs(d.astype(float).mean(axis=0)).max()
    c = rt._recentre(d, (0,), 4096)
    assert c.shape == (1, 3)
    assert np.abs(d.astype(float).mean(axis=0)).max() < before / 10


def test_exact_mean_and_its_split():
    m32 = np.array([[10000.0]], np.float32)
    c = np.array([[3e-4]], np.float32)
    exact = rt._exact(m32, c)
    assert exact.dtype == np.float64 and exact[0, 0] == 10000.0 + float(c[0, 0])
    head, offset = rt._split(exact, np.dtype(np.float32))
    assert head.dtype == np.float32 and offset.dtype == np.float32
    assert abs(float(head[0, 0]) + float(offset[0, 0]) - exact[0, 0]) < 1e-9
    # as narrow as float32 data: the offset is unknown until measured; in float64 there is none
    assert rt._split(m32, np.dtype(np.float32))[1] is None
    assert rt._split(m32.astype(np.float16), np.dtype(np.float32))[1] is None
    assert rt._split(exact, np.dtype(np.float64))[1] == 0
    d = np.array([[0.5], [1.5]], np.float32)
    assert rt._measured(None, d, (0,), 2) == 1.0 and rt._measured(0.25, d, (0,), 2) == 0.25
    np.testing.assert_array_equal(rt._exact(np.array([[2.0]]), 0), [[2.0]])


def test_shift_is_in_place_or_nothing():
    d = np.ones((2, 2))
    assert rt._shift(d, 0) is d and np.all(d == 1)
    assert rt._shift(d, np.array([[0.25, 0.5]])) is d
    np.testing.assert_array_equal(d, [[0.75, 0.5], [0.75, 0.5]])


# --- outputs ------------------------------------------------------------------------------------


def test_out_buffers():
    a = np.empty(3)
    assert rt._out(None, 1, 3) is None
    assert rt._out(a, 0, 3) is a and rt._out(a, 1, 3) is None
    assert rt._out((None, a, None), 1, 3) is a
    with pytest.raises(ValueError, match="a tuple of 3 arrays"):
        rt._out((a, a), 0, 3)
    value = np.arange(3.0)
    assert rt._store(value, None, value.dtype) is value
    assert rt._store(value, a, value.dtype) is a and np.array_equal(a, value)
    assert rt._store(value, None, np.dtype(np.float16)).dtype == np.float16


def test_float16_is_worked_in_float32():
    assert rt._work(np.dtype(np.float16)) == np.float32
    assert rt._work(np.dtype(np.float32)) == np.float32 and rt._work(np.dtype(np.complex128)) == np.complex128
    a = np.ones(2, np.float32)
    assert rt._as(np.dtype(np.float32), a) is a and rt._as(np.dtype(np.float16), a).dtype == np.float16
