"""Rounding of BatchNorm split across devices (reduce=), against one device.

    python3 benchmarks/bench_split.py

Devices are threads of one process (symbn.distributed.Threads); the whole batch
(N rows, C = 4 channels, mean m, spread 1) is cut into shards of 700, 1 and
1300 rows.  Errors are max relative errors against the same module in float64
on one device, the data being exact in float32.  Rows:

- one device:  the emitted module without reduce= (two-pass, re-centred);
- split:       reduce= on three devices: one float64 message of [n, Σx, Σx²]
               per channel, each device summing its powers around its own mean;
- split, f32 message (not symbn's): what the same sums would give if the
               message were in the data's dtype (float32): var = Σx²/n - mean².
"""

from __future__ import annotations

import numpy as np

import symbn
from symbn.distributed import Threads
from symbn.emit.module import load_module

SIZES = (700, 1, 1300)


def relative(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - b)) / np.max(np.abs(b)))


def case(module, mean, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = (mean + rng.standard_normal((sum(SIZES), 4))).astype(np.float32).astype(np.float64)
    dy, gamma, beta = rng.standard_normal(x.shape), rng.standard_normal(4), rng.standard_normal(4)
    y64, saved = module.forward(x, gamma, beta, return_saved=True)
    dx64 = module.backward(dy, x, gamma, beta, saved=saved)[0]
    args = [a.astype(dtype) for a in (x, gamma, beta)]
    one_y = module.forward(*args)
    one_dx = module.backward(dy.astype(dtype), *args)[0]
    cuts = np.cumsum(SIZES)[:-1]

    def device(xk, dyk, reduce):
        y, s = module.forward(xk, args[1], args[2], return_saved=True, reduce=reduce)
        return y, module.backward(dyk, xk, args[1], args[2], saved=s, reduce=reduce)[0]

    out = Threads(len(SIZES)).run(device, np.split(args[0], cuts), np.split(dy.astype(dtype), cuts))
    split_y, split_dx = np.concatenate([o[0] for o in out]), np.concatenate([o[1] for o in out])
    # the same sums, but a float32 message (what symbn does not do): var = Σx²/n - mean², all in float32
    xs = args[0].astype(np.float32)
    s1, s2 = xs.sum(0, dtype=np.float32), (xs * xs).sum(0, dtype=np.float32)
    var32 = s2 / np.float32(len(xs)) - (s1 / np.float32(len(xs))) ** 2
    naive_y = (xs - s1 / len(xs)) / np.sqrt(np.maximum(var32, 0) + np.float32(1e-5)) * args[1] + args[2]
    return {"one device y": relative(one_y, y64), "one device dx": relative(one_dx, dx64),
            "split y": relative(split_y, y64), "split dx": relative(split_dx, dx64),
            "f32 message y": relative(naive_y, y64) if dtype == np.float32 else float("nan")}


def main() -> None:
    module = load_module(symbn.load("derivations/batchnorm.toml"))
    print(f"shards {SIZES}, C = 4, spread 1; max relative error against float64 on one device")
    print(f"{'dtype':8} {'mean':>6}  {'one device y':>12} {'dx':>8}  {'split y':>8} {'dx':>8}  {'f32 msg y':>9}")
    for dtype in (np.float32, np.float64):
        for mean in (0.0, 1e2, 1e4):
            e = case(module, mean, dtype)
            print(f"{np.dtype(dtype).name:8} {mean:6.0e}  {e['one device y']:12.1e} {e['one device dx']:8.1e}  "
                  f"{e['split y']:8.1e} {e['split dx']:8.1e}  {e['f32 message y']:9.1e}")


if __name__ == "__main__":
    main()
