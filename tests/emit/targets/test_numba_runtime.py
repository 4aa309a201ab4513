"""The numba modules' Python helpers, as a module: the kernels' view of the data, blocks, plain calls."""

from __future__ import annotations

import numpy as np
import pytest

from symbn.emit.targets.numba_runtime import (
    _blocks,
    _canon,
    _layout,
    _plain,
    _plain_saved,
    _reduce_blocks,
    _restore,
    _row_blocks,
    _slice_gradient,
)


@pytest.mark.parametrize(("shape", "axes", "lay"), [
    ((8, 3), (0,), (None, 8, 3, 1)),  # BatchNorm's columns
    ((4, 3, 5, 2), (0, 2, 3), (None, 4, 3, 10)),  # over (N, H, W): runs of H·W
    ((4, 6), (1,), (None, 1, 4, 6)),  # LayerNorm's rows
    ((4, 3, 5), (1,), ((0, 2, 1), 1, 20, 3)),  # kept axes apart: moved to the front
])
def test_layout_and_the_view_of_the_data(shape, axes, lay):
    assert _layout(shape, axes) == lay
    x = np.arange(np.prod(shape), dtype=float).reshape(shape)
    view = _canon(x, lay)
    assert view.flags.c_contiguous
    assert np.array_equal(_restore(view, shape, lay), x)
    if lay[0] is None:
        assert np.shares_memory(view, x)  # a view, no copy


def test_a_plain_call_is_contiguous_arrays_of_one_float_dtype_and_the_inputs_shapes():
    x, g = np.ones((8, 3), np.float32), np.ones(3, np.float32)
    assert _plain(x, 0, (x,), (g, g), (), None) == ((0,), (None, 8, 3, 1), (3,), (8,), (8, 3), True, True)
    image = np.ones((2, 3, 4, 5), np.float32)  # over (0, 2, 3): read as (2, 3, 20), gamma of (3,) as it is
    assert _plain(image, (0, 2, 3), (), (g,), (), None)[4:] == ((2, 3, 20), False, True)
    assert _plain(x, 1, (), (), (np.ones(3, np.float32),), None) is not None  # a row input of the reduced axes' shape
    refused = {
        "out given": (x, 0, (x,), (g,), (), (None,)),
        "data not C-contiguous": (np.asfortranarray(np.ones((8, 3), np.float32)), 0, (), (g,), (), None),
        "dy not C-contiguous": (x, 0, (x[:, ::-1],), (g,), (), None),
        "dy of another dtype": (x, 0, (x.astype(np.float64),), (g,), (), None),
        "float16": (x.astype(np.float16), 0, (), (), (), None),
        "a list": (x.tolist(), 0, (), (), (), None),
        "gamma of another dtype": (x, 0, (), (g.astype(np.float64),), (), None),
        "gamma keepdims": (x, 0, (), (g.reshape(1, 3),), (), None),
        "gamma not C-contiguous": (x, 0, (), (np.ones(6, np.float32)[::2],), (), None),
        "gamma a number": (x, 0, (), (np.float32(1),), (), None),
        "a row input of the data's shape": (x, 1, (), (), (x,), None),
        "kept axes apart": (np.ones((4, 3, 5)), 1, (), (), (), None),
        "axis a list": (x, [0], (), (g,), (), None),
        "an axis out of range": (x, 2, (), (), (), None),
        "axis a float": (x, 0.0, (), (g,), (), None),  # an equal key to 0 in the layouts' cache
        "axis a bool": (x, True, (), (), (), None),
        "axis a tuple of floats": (x, (0.0,), (), (g,), (), None),
        "axis an np.int64": (x, np.int64(0), (), (g,), (), None),
    }
    for why, args in refused.items():
        assert _plain(*args) is None, why
    assert _plain(x, 0, (x,), (g, g), (), None) is not None  # and after the refused keys, as before


def test_plain_saved_values_are_k_floats_or_the_general_path_reads_them():
    mu = np.arange(3.0).reshape(1, 3)
    got = _plain_saved({"mu": mu, "ivar": np.ones(3)}, ("mu", "ivar"), 3)
    assert [g.shape for g in got] == [(3,), (3,)] and np.array_equal(got[0], [0.0, 1.0, 2.0])
    assert np.shares_memory(got[0], mu)  # read as it is
    assert _plain_saved({"mu": mu, "ivar": np.ones(3, np.float32)}, ("mu", "ivar"), 3) is None  # converted there
    assert _plain_saved({"mu": np.ones((3, 2))[:, 0], "ivar": mu}, ("mu", "ivar"), 3) is None  # not contiguous
    assert _plain_saved({"mu": mu}, ("mu", "ivar"), 3) is None  # missing: the general path says so
    assert _plain_saved({"mu": np.float64(1.0), "ivar": mu}, ("mu", "ivar"), 3) is None  # one number for all
    assert _plain_saved({"mu": mu, "ivar": np.ones(4)}, ("mu", "ivar"), 3) is None  # other data's
    assert _plain_saved([mu, mu], ("mu", "ivar"), 3) is None


def test_slice_gradients_have_their_inputs_shape():
    values = np.array([1.0, 2.0, 3.0])
    each = _slice_gradient(values, np.ones(3, np.float32), (8, 3), (0,), None, np.dtype(np.float32))
    assert each.dtype == np.float32 and np.array_equal(each, values)
    summed = _slice_gradient(values, np.float64(1.0), (8, 3), (0,), None, np.dtype(np.float64))
    assert summed.shape == () and summed == 6.0  # a gain shared by every slice gets the sum


def test_reduce_blocks_give_the_threads_tasks_and_are_fixed_by_the_shape():
    assert _reduce_blocks((None, 4096, 1024, 1), 4, 2, False) == (256, 1024)
    assert _reduce_blocks((None, 256, 256, 1), 4, 2, False) == (64, 256)  # four tasks, not one
    assert _reduce_blocks((None, 40, 3, 1), 4, 2, False) == (16, 3)  # no block under 16 rows
    assert _reduce_blocks((None, 7, 3, 1), 8, 2, False) == (7, 3)
    assert _reduce_blocks((None, 4096, 8, 1), 8, 2, True) == (4096, 4)  # whole slices when the statistics need them


def test_row_blocks_never_give_a_chunk_of_no_slices():
    assert _row_blocks((None, 100000, 0, 1), 8, 3, False)[1] == 1  # the kernel divides by it


def test_small_data_run_on_one_thread_in_blocks_of_every_slice():
    """(rows per block, slices per chunk, small): the call's arrays of at most 1 MB go to the small kernel, in
    blocks of every slice: whole slices when the statistics need them or in the runs layout, else (cols) at most
    256 rows, as the reduce kernel's; larger data to the two kernels."""
    assert _blocks((None, 256, 256, 1), 4, 3, False, False) == (256, 256, True)  # BatchNorm 256 x 256 float32: 768 kB
    assert _blocks((None, 7, 3, 1), 8, 3, False, False) == (7, 3, True)
    assert _blocks((None, 1, 256, 256), 4, 3, False, False) == (1, 256, True)  # LayerNorm's rows
    assert _blocks((None, 4, 0, 1), 8, 3, False, False) == (4, 1, True)  # no slices: one chunk of none, never of 0
    assert _blocks((None, 1 << 15, 4, 1), 2, 4, False, False) == (256, 4, True)  # 1 MB exactly; a sweep of 256 rows
    assert _blocks((None, 1 << 15, 4, 1), 2, 4, False, True) == (1 << 15, 4, True)  # whole slices
    assert _blocks((None, 1000, 3, 20), 4, 3, False, False) == (1000, 3, True)  # runs: whole slices
    for lay, itemsize in [((None, 0, 4, 1), 8),  # empty slices: the merge of no blocks gives their values
                          ((None, (1 << 15) + 1, 4, 1), 2),
                          ((None, 4096, 1024, 1), 4), ((None, 65536, 64, 1), 4)]:
        arrays = 3 if itemsize != 2 else 4
        assert _blocks(lay, itemsize, arrays, False, False) == (*_row_blocks(lay, itemsize, arrays, False), False)


def test_wide_rows_are_small_up_to_2_mb():
    """Cols data whose rows have 2 kB or more go to the small kernel up to 2 MB (NOTES 56: the one thread's long
    loops beat two threads there); narrower rows, the runs layout and more than 2 MB do not."""
    assert _blocks((None, 256, 256, 1), 8, 3, False, False) == (256, 256, True)  # BatchNorm 256 x 256 float64: 1.5 MB
    assert _blocks((None, 256, 512, 1), 4, 3, False, False) == (256, 512, True)  # float32, a row of 2 kB
    assert _blocks((None, 341, 256, 1), 8, 3, False, False) == (256, 256, True)  # 2 MB less 2 kB
    assert _blocks((None, 341, 256, 1), 8, 3, False, True) == (341, 256, True)  # whole slices
    for lay, itemsize in [((None, 342, 256, 1), 8),  # 2 MB and 4 kB
                          ((None, 512, 128, 1), 8), ((None, 512, 255, 1), 8),  # rows of 1 kB, and 8 bytes short of 2 kB
                          ((None, 2048, 64, 1), 4),
                          ((None, 16, 2, 4096), 8), ((None, 4, 256, 64), 8)]:  # runs: 1.5 MB
        assert _blocks(lay, itemsize, 3, False, False) == (*_row_blocks(lay, itemsize, 3, False), False), lay
