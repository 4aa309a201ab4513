"""Accuracy of float32 BatchNorm backwards against float64 arithmetic on the same float32 data.

    python3 benchmarks/accuracy_float32.py

The numba target's backward (float32 data, sums in float64) and torch's
``native_batch_norm_backward`` (given the mean and invstd rounded to float32, as its
forward saves them), at (4096, 1024), data of mean 0 and of mean 100, std 1.  The
reference is the NumPy module on the same values in float64.  Relative error: the
largest absolute error over the largest absolute value, per gradient.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import symbn
from symbn.emit.module import load_module
from symbn.emit.targets import load

try:
    import torch
except ImportError:  # optional: the numba column alone
    torch = None


def error(got, want) -> float:
    return float(np.max(np.abs(np.asarray(got, np.float64) - want)) / np.max(np.abs(want)))


def main() -> int:
    layer = symbn.load(ROOT / "derivations/batchnorm.toml")
    kernels, reference = load(layer, "numba"), load_module(layer)
    rng = np.random.default_rng(0)
    print("| data | numba dx, dgamma, dbeta | torch dx, dgamma, dbeta |\n|---|---|---|")
    for offset in (0.0, 100.0):
        x = (offset + rng.standard_normal((4096, 1024))).astype(np.float32)
        dy = rng.standard_normal(x.shape).astype(np.float32)
        gamma, beta = rng.standard_normal(1024).astype(np.float32), rng.standard_normal(1024).astype(np.float32)
        want = reference.backward(*(a.astype(np.float64) for a in (dy, x, gamma, beta)))
        ours = ", ".join(f"{error(g, w):.1e}" for g, w in zip(kernels.backward(dy, x, gamma, beta), want))
        theirs = "not installed"
        if torch is not None:
            x64 = x.astype(np.float64)
            mean, invstd = x64.mean(0).astype(np.float32), (1 / np.sqrt(x64.var(0) + 1e-5)).astype(np.float32)
            t = [torch.from_numpy(a) for a in (dy, x, gamma, mean, invstd)]
            got = torch.ops.aten.native_batch_norm_backward(t[0], t[1], t[2], None, None, t[3], t[4], True, 1e-5,
                                                            [True] * 3)
            theirs = ", ".join(f"{error(g.numpy(), w):.1e}" for g, w in zip(got, want))
        print(f"| mean {offset:g}, std 1 | {ours} | {theirs} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
