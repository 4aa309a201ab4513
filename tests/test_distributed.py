"""symbn.distributed, and reduce= on torch.distributed with the gloo backend: real processes on localhost.

The processes are started by examples/syncbn_gloo.py (the README's example): one group of
three processes holding 5, 1 and 9 rows, and two of them in a group of their own holding
1 and 6 rows (torch_all_reduce(group)).  Each passes its rows to the emitted BatchNorm
module's forward and backward with reduce=; the rows are joined and compared with one
process on the concatenated batch and with torch's F.batch_norm (training mode, autograd)
on it: torch.nn.SyncBatchNorm and its kernels do not run on CPU tensors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from symbn.distributed import Threads, torch_all_reduce

from .files import ROOT

CASES = [[5, 1, 9], [1, 6]]
TOLERANCE = {"float64": 1e-12, "float32": 1e-5}


def _example():
    spec = importlib.util.spec_from_file_location("syncbn_gloo", ROOT / "examples" / "syncbn_gloo.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _gloo_missing() -> str | None:
    try:
        import torch.distributed as dist
    except ImportError:
        return "torch is not installed (pip install torch): the gloo test needs torch.distributed"
    if not dist.is_available():
        return "this torch build has no torch.distributed"
    if not dist.is_gloo_available():
        return "this torch build has no gloo backend"
    return None


@pytest.fixture(scope="module")
def gloo():
    """Both cases, run once: (the example module, its results)."""
    missing = _gloo_missing()
    if missing:
        pytest.skip(missing)
    example = _example()
    return example, example.run(CASES)


@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("against", ["one_process", "torch"])
def test_gloo_split_equals_the_whole_batch(gloo, case, against):
    example, results = gloo
    result = results[case]
    assert result["sizes"] == tuple(CASES[case]) and len(result["ranks"]) == len(CASES[case])
    errors = example.errors(result, against)
    for (dtype, name), error in errors.items():
        assert error < TOLERANCE[dtype], (dtype, name, error)
    for r in result["ranks"]:  # each rank got its own rows back, in its dtype
        for dtype in TOLERANCE:
            assert r[f"{dtype}_dx"].dtype == np.dtype(dtype) and r[f"{dtype}_dgamma"].shape == (3,)


def test_gloo_one_all_reduce_each_way(gloo):
    """Per rank and dtype: forward and backward, one all-reduce each of 1 + 2·C float64 values."""
    _, results = gloo
    for result in results:
        C = result["inputs"][2].size
        for r in result["ranks"]:
            for dtype in TOLERANCE:
                assert r[f"{dtype}_messages"].tolist() == [2, 2 * (1 + 2 * C)]


def test_gloo_example_report(gloo):
    example, results = gloo
    text = example.report(results[0])
    assert "3 processes (gloo), rows per rank [5, 1, 9], 3 channels" in text
    assert "2 all-reduces, 14 float64 values (1 + 2·C = 7 each way)" in text


def test_torch_all_reduce_needs_a_process_group():
    if _gloo_missing():
        pytest.skip(_gloo_missing())
    import torch.distributed as dist

    if dist.is_initialized():  # pragma: no cover
        pytest.skip("a process group is already initialised in this process")
    with pytest.raises(RuntimeError, match="init_process_group"):
        torch_all_reduce()


# --- Threads: devices as threads (no torch) ---------------------------------------------------


def test_threads_sum_in_rank_order():
    group = Threads(3)
    out = group.run(lambda a, reduce: reduce(np.array([a, 1.0])), [1.0, 2.0, 4.0])
    assert [o.tolist() for o in out] == [[7.0, 3.0]] * 3
    assert (group.calls, group.values) == (1, 2)


def test_threads_refuse_shapes_that_differ():
    with pytest.raises(ValueError, match="different shapes"):
        Threads(2).run(lambda n, reduce: reduce(np.zeros(n)), [2, 3])


def test_threads_an_error_on_one_device_releases_the_others():
    def device(rank, reduce):
        if rank == 1:
            raise KeyError("device 1")
        return reduce(np.zeros(2))

    with pytest.raises(KeyError, match="device 1"):
        Threads(2).run(device, [0, 1])
