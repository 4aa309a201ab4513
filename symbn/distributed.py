"""Callables for the emitted modules' ``reduce=``: the elementwise sum of an array across devices.

An emitted ``forward(..., reduce=r)`` and ``backward(..., reduce=r)`` call
``r(array)`` on every device with arrays of the same shape and dtype, and need
back their elementwise sum over the devices, same shape and dtype (BatchNorm:
one call each way).  Two are here:

- :func:`torch_all_reduce`: ``torch.distributed.all_reduce`` (any backend: gloo
  on CPU, NCCL for CUDA tensors is not used, the arrays are NumPy's).  torch is
  imported when it is called, so symbn itself does not need it.
- :class:`Threads`: K devices as K threads of one process, for trying a split
  and for tests without torch.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

Reduce = Callable[[np.ndarray], np.ndarray]


def torch_all_reduce(group: Any = None) -> Reduce:
    """A ``reduce`` that sums across the processes of ``group`` (None: the default
    group) with ``torch.distributed.all_reduce``.  The process group must be
    initialised first (``torch.distributed.init_process_group("gloo", ...)``).

    The callable counts what it sends: ``reduce.calls`` (all-reduces so far) and
    ``reduce.values`` (array elements sent so far)."""
    try:
        import torch
        import torch.distributed as dist
    except ImportError as error:  # pragma: no cover - torch is an optional extra
        raise ImportError("symbn.distributed.torch_all_reduce needs torch: pip install torch") from error
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("torch.distributed is not initialised: call torch.distributed.init_process_group "
                           "(for example with backend='gloo') before torch_all_reduce()")

    def reduce(array: np.ndarray) -> np.ndarray:
        a = np.array(array, copy=True, order="C")  # torch sums in place: never into the caller's array
        dist.all_reduce(torch.from_numpy(a), op=dist.ReduceOp.SUM, group=group)
        reduce.calls += 1
        reduce.values += a.size
        return a

    reduce.calls, reduce.values = 0, 0
    return reduce


class Threads:
    """``size`` devices as threads of this process; ``reduce(rank)`` is device
    rank's callable.  Every device must call it the same number of times with
    arrays of one shape; the sum is taken in rank order."""

    def __init__(self, size: int):
        if size < 1:
            raise ValueError(f"Threads needs at least one device, got {size}")
        self.size = size
        self.calls, self.values = 0, 0  # all-reduces and elements per device, counted on rank 0
        self._barrier = threading.Barrier(size)
        self._box: list[np.ndarray | None] = [None] * size

    def reduce(self, rank: int) -> Reduce:
        def reduce(array: np.ndarray) -> np.ndarray:
            self._box[rank] = np.asarray(array)
            self._barrier.wait()
            parts = list(self._box)
            if any(p.shape != parts[0].shape or p.dtype != parts[0].dtype for p in parts):
                self._barrier.abort()
                raise ValueError(f"devices sent arrays of different shapes or dtypes: "
                                 f"{[(p.shape, str(p.dtype)) for p in parts]}")
            total = parts[0].copy()
            for p in parts[1:]:
                total += p
            self._barrier.wait()  # nobody overwrites its slot before all have read
            if rank == 0:
                self.calls, self.values = self.calls + 1, self.values + total.size
            return total

        return reduce

    def run(self, function: Callable[..., Any], *per_rank: Sequence[Any]) -> list[Any]:
        """``function(*args, reduce=...)`` on every device in its own thread, args
        the rank's entries of ``per_rank``; the results in rank order.  An error on
        one device is raised here (the others are released)."""
        results: list[Any] = [None] * self.size
        errors: list[BaseException] = []

        def device(rank: int) -> None:
            try:
                results[rank] = function(*(p[rank] for p in per_rank), reduce=self.reduce(rank))
            except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                errors.append(error)
                self._barrier.abort()

        threads = [threading.Thread(target=device, args=(k,)) for k in range(self.size)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            first = next((e for e in errors if not isinstance(e, threading.BrokenBarrierError)), errors[0])
            raise first
        return results


__all__ = ["Reduce", "Threads", "torch_all_reduce"]
