"""The numba element-wise pass, two rows at a time against one, beside kernels that only move the bytes.

    python3 benchmarks/numba_pairs.py [N D dtype [reps]]      (default 4096 1024 float32 150)

BatchNorm's backward with saved statistics: its element-wise kernel (dx from x, dy and the per-slice values of
the reduce kernel) called with ``_pairs_from`` = 640 (rows two at a time, as on AVX-512 hosts) and with no width
reached (one row at a time, as on others), against a numba kernel that only adds x and dy into dx, the same
formula written as one plain loop, and a NumPy copy.  Interleaved in a new random order every round, each call
after a 64 MB NumPy pass; median ms.  What the module's ``_PAIRS_FROM`` rule rests on (NOTES 59).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numba
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import symbn
from symbn.emit.targets import load


@numba.njit(parallel=True, fastmath={"contract"})
def add(x, y, out, rows):
    A, K = x.shape
    for t in numba.prange((A + rows - 1) // rows):
        for a in range(t * rows, min(A, t * rows + rows)):
            for j in range(K):
                out[a, j] = x[a, j] + y[a, j]


@numba.njit(parallel=True, fastmath={"contract"})
def plain(x, y, out, rows, c):
    A, K = x.shape
    for t in numba.prange((A + rows - 1) // rows):
        for a in range(t * rows, min(A, t * rows + rows)):
            for j in range(K):
                out[a, j] = c[0, j] * (np.float64(y[a, j]) - c[1, j] * (np.float64(x[a, j]) - c[2, j]) - c[3, j])


def main(argv: list[str]) -> int:
    n, d = (int(argv[0]), int(argv[1])) if len(argv) >= 2 else (4096, 1024)
    dtype = np.dtype(argv[2] if len(argv) >= 3 else "float32")
    reps = int(argv[3]) if len(argv) >= 4 else 150
    m = load(symbn.load(ROOT / "derivations/batchnorm.toml"), "numba")
    rng = np.random.default_rng(0)
    x = (3 + 2 * rng.standard_normal((n, d))).astype(dtype)
    dy = rng.standard_normal((n, d)).astype(dtype)
    g, b = rng.standard_normal(d).astype(dtype), rng.standard_normal(d).astype(dtype)
    _, saved = m.forward(x, g, b, eps=1e-5, return_saved=True)
    given = m._plain_saved(saved, ("mu", "ivar"), d)
    C = m._BACKWARD_SAVED[0][0](x, dy, g, b, *given, 1e-5, 256, d, m._narrow_of(x))
    ablock, kchunk, small = m._blocks(m._layout(x.shape, (0,)), dtype.itemsize, 3, False, False)
    assert not small, "small data run in the one-thread kernel: take a larger shape"
    dx, coefficients = np.empty_like(x), np.random.default_rng(1).random((4, d))
    rows = m._BACKWARD_SAVED[1][0]
    fns = {"two rows": lambda: rows(x, dy, 1e-5, C, dx, ablock, kchunk, 640),
           "one row": lambda: rows(x, dy, 1e-5, C, dx, ablock, kchunk, 1 << 62),
           "x + dy": lambda: add(x, dy, dx, ablock),
           "formula, plain loop": lambda: plain(x, dy, dx, ablock, coefficients),
           "copy": lambda: np.copyto(dx, x)}
    rows(x, dy, 1e-5, C, dx, ablock, kchunk, 640)
    pairs = dx.copy()
    rows(x, dy, 1e-5, C, dx, ablock, kchunk, 1 << 62)
    assert np.array_equal(pairs, dx), "two rows at a time and one give different bits"
    for fn in fns.values():
        fn()
        fn()
    big, times, order = np.ones(1 << 23), {k: [] for k in fns}, np.random.default_rng(2)
    for _ in range(reps):
        for name in order.permutation(list(fns)):
            big += 1  # 64 MB: the arrays leave the caches
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    print(f"BatchNorm {n} x {d} {dtype}, element-wise pass with saved statistics, {numba.get_num_threads()} threads, "
          f"median ms of {reps}:")
    for name, t in times.items():
        print(f"  {name:20s} {1e3 * float(np.median(t)):7.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
