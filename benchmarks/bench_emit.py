"""Speed and memory of the emitted BatchNorm backward against its baselines.

    python3 benchmarks/bench_emit.py [--quick] [--json PATH] [--glibc-default]

Variants, timed interleaved (every repetition runs each once, in a new random order,
so that drifts of the machine, and the cores torch's threads keep busy for a while
after a call, hit all alike), median milliseconds per call:

- emitted:        the module ``symbn emit derivations/batchnorm.toml`` prints, saved=None
                  (recomputes mean and variance from x);
- emitted+saved:  the same, given forward's saved mean and inverse std;
- seeds staged:   the staged NumPy backward of seed 003 (steps 9 to 0), from its cache;
- closed form:    the file's closed forms written by hand in NumPy, statistics from x;
- torch:          ``torch.ops.aten.native_batch_norm_backward`` on CPU with the saved mean
                  and invstd (only when torch is installed: ``pip install torch==2.13.0``);
- torch out=:     the same into preallocated outputs (its ``.out`` overload);
- numpy floor:    not a usable backward (one-pass sums; it divides by gamma and by x's
                  coefficient, so a column where either is 0 gives nan): the fewest NumPy
                  calls that give dx, dgamma, dbeta from the saved mean and invstd, into a given
                  buffer: two reductions (Σdy, Σdy·x) and four element-wise passes (dx = P·dy + Q·x + K
                  takes three per-column constants and one array sum, one ufunc call each).  What
                  any NumPy backward costs at least, on this machine;
- copy:           ``np.copyto`` of one array of the input's size: the memory-bandwidth unit;
- numba:          ``symbn emit --target numba``'s backward, saved=None: one reduce kernel that
                  reads x and dy once (statistics summed in float64 in blocks centred on their own
                  mean, merged exactly) and one element-wise kernel, or for data of at most 1 MB
                  (256 × 256 float32) one serial kernel that does both (only when numba is installed);
- numba+saved:    the same given its forward's saved statistics.

The memory floor is 2.5 × copy: a backward reads x and dy for its sums and x and dy again and
writes dx, 5 passes over the data, where a copy is 2 (one read, one write).  Compiling the
numba kernels is measured apart (``--compile``): the first call in a new cache directory, and
the first call of a new process that finds numba's cache.

Each size and dtype is measured in a new process, in which glibc's malloc keeps freed memory
(``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``; ``--glibc-default`` leaves them unset).
With glibc's defaults, a 16 MB array a call allocates comes back from the kernel as 4096 new
pages to fault in and zero, every call, for torch (even its ``.out`` overload, which
allocates a temporary) and for the closed form; the arrays of the emitted code were reused.
At 4096 × 1024 that cost torch 4.6 ms (float32) and 12.5 ms (float64) a call, and the closed
form 6 and 18 ms, varying with the process's history, so the default table compared
allocators, not kernels.  With these settings no variant faults.  It is what PyTorch's
advice for CPU speed (a caching malloc: jemalloc, tcmalloc) achieves, and it only makes
the baselines faster.

Peak extra memory is NumPy's allocations during one call, from ``tracemalloc``, in units
of one input-sized array (outputs included; torch's allocator is not traced).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from machine import cpu_model  # benchmarks/machine.py, beside this script

import symbn
from symbn.emit.module import load_module
from symbn.emit.targets import load as load_target

try:
    import torch
except ImportError:  # optional: the benchmark runs without it
    torch = None
try:
    import numba
except ImportError:  # optional too
    numba = None

SIZES = [(256, 256), (4096, 1024), (65536, 64)]
KEEP_FREED_MEMORY = {"MALLOC_MMAP_THRESHOLD_": str(1 << 27), "MALLOC_TRIM_THRESHOLD_": str(1 << 32)}
DTYPES = [np.float32, np.float64]
EPS = 1e-5


# --- baselines ------------------------------------------------------------------------


def seeds_forward(x, gamma, beta, eps):
    """Seed 003's staged forward pass (its cache feeds the staged backward)."""
    N, D = x.shape  # noqa: RUF059 - as published
    mean = x.mean(axis=0)
    dev_from_mean = x - mean
    dev_from_mean_sq = dev_from_mean**2
    var = 1.0 / N * np.sum(dev_from_mean_sq, axis=0)
    stddev = np.sqrt(var + eps)
    inverted_stddev = 1.0 / stddev
    x_norm = dev_from_mean * inverted_stddev
    out = gamma * x_norm + beta
    cache = {"mean": mean, "stddev": stddev, "var": var, "gamma": gamma, "beta": beta, "eps": eps, "x_norm": x_norm,
             "dev_from_mean": dev_from_mean, "inverted_stddev": inverted_stddev, "x": x, "axis": 0}
    return out, cache


def seeds_backward(dout, cache):
    """Seed 003's staged backward pass, steps (9) to (1), as published."""
    gamma, x_norm, var, eps = cache["gamma"], cache["x_norm"], cache["var"], cache["eps"]
    stddev, dev_from_mean, inverted_stddev, axis = cache["stddev"], cache["dev_from_mean"], cache["inverted_stddev"], cache["axis"]
    N, D = dout.shape
    dbeta = np.sum(dout, axis=axis)  # (9)
    dscaled_x = dout
    dgamma = np.sum(x_norm * dscaled_x, axis=axis)  # (8)
    dx_norm = gamma * dscaled_x
    dinverted_stddev = np.sum(dev_from_mean * dx_norm, axis=0)  # (7)
    ddev_from_mean = inverted_stddev * dx_norm
    dstddev = -1 / (stddev**2) * dinverted_stddev  # (6)
    dvar = 0.5 * 1 / np.sqrt(var + eps) * dstddev  # (5)
    ddev_from_mean_sq = 1 / N * np.ones((N, D), dtype=dout.dtype) * dvar  # (4)
    ddev_from_mean += 2 * dev_from_mean * ddev_from_mean_sq  # (3)
    dx = 1 * ddev_from_mean  # (2)
    dmean = -1 * np.sum(ddev_from_mean, axis=0)
    dx += 1.0 / N * np.ones((N, D), dtype=dout.dtype) * dmean  # (1)
    return dx, dgamma, dbeta


def closed_form_backward(dy, x, gamma, beta, eps=EPS):
    """The closed forms of derivations/batchnorm.toml, written by hand in NumPy."""
    mu = x.mean(axis=0)
    xmu = x - mu
    var = (xmu**2).mean(axis=0)
    ivar = 1 / np.sqrt(var + eps)
    xhat = xmu * ivar
    dx = gamma * ivar * (dy - dy.mean(axis=0) - xhat * (dy * xhat).mean(axis=0))
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)


def numpy_floor(dy, x, gamma, mean, invstd, out):
    """dx = P*dy + Q*x + K per column, as P*(dy + (Q/P)*(x + K/Q)): four passes."""
    n = x.shape[0]
    sum_dy = np.add.reduce(dy, axis=0)
    sum_dy_xmu = np.einsum("ij,ij->j", dy, x) - mean * sum_dy
    p = gamma * invstd
    q = -p * invstd**2 * sum_dy_xmu / n
    k = -p * sum_dy / n - q * mean
    np.add(x, k / q, out=out)
    np.multiply(out, q / p, out=out)
    np.add(out, dy, out=out)
    np.multiply(out, p, out=out)
    return out, invstd * sum_dy_xmu, sum_dy


# --- measuring ----------------------------------------------------------------------------


def variants(module, dy, x, gamma, beta, kernels=None):
    _, saved = module.forward(x, gamma, beta, eps=EPS, return_saved=True)
    _, cache = seeds_forward(x, gamma, beta, EPS)
    dst, floor_out = np.empty_like(x), np.empty_like(x)
    mean, invstd = (saved[k].reshape(-1).astype(x.dtype) for k in ("mu", "ivar"))
    out = {
        "emitted": lambda: module.backward(dy, x, gamma, beta, eps=EPS),
        "emitted+saved": lambda: module.backward(dy, x, gamma, beta, eps=EPS, saved=saved),
        "seeds staged": lambda: seeds_backward(dy, cache),
        "closed form": lambda: closed_form_backward(dy, x, gamma, beta),
        "numpy floor": lambda: numpy_floor(dy, x, gamma, mean, invstd, floor_out),
        "copy": lambda: np.copyto(dst, x),
    }
    if kernels is not None:
        _, fused = kernels.forward(x, gamma, beta, eps=EPS, return_saved=True)
        out["numba"] = lambda: kernels.backward(dy, x, gamma, beta, eps=EPS)
        out["numba+saved"] = lambda: kernels.backward(dy, x, gamma, beta, eps=EPS, saved=fused)
    if torch is not None:
        t = {k: torch.from_numpy(v) for k, v in {"dy": dy, "x": x, "gamma": gamma}.items()}
        t_mean, t_invstd = torch.from_numpy(mean), torch.from_numpy(invstd)
        out["torch"] = lambda: torch.ops.aten.native_batch_norm_backward(
            t["dy"], t["x"], t["gamma"], None, None, t_mean, t_invstd, True, EPS, [True, True, True])
        bufs = [torch.empty_like(t["x"]), torch.empty_like(t["gamma"]), torch.empty_like(t["gamma"])]
        out["torch out="] = lambda: torch.ops.aten.native_batch_norm_backward.out(
            t["dy"], t["x"], t["gamma"], None, None, t_mean, t_invstd, True, EPS, [True, True, True],
            out0=bufs[0], out1=bufs[1], out2=bufs[2])
    return out


def check(fns, dtype) -> None:
    """Every variant computes the same gradients (before any timing)."""
    want = fns["closed form"]()
    tol = 2e-3 if dtype == np.float32 else 1e-8
    for name, fn in fns.items():
        if name == "copy":
            continue
        got = [np.asarray(g) for g in fn()]
        for g, w in zip(got, want):
            err = np.max(np.abs(g - w)) / max(np.max(np.abs(w)), 1e-30)
            assert err < tol, f"{name} disagrees with the closed form: relative error {err:.2e}"


def peak_arrays(fn, nbytes: int) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / nbytes


def measure(module, n: int, d: int, dtype, reps: int, kernels=None) -> dict:
    rng = np.random.default_rng(0)
    x = (3 + 2 * rng.standard_normal((n, d))).astype(dtype)
    dy = rng.standard_normal((n, d)).astype(dtype)
    gamma, beta = rng.standard_normal(d).astype(dtype), rng.standard_normal(d).astype(dtype)
    fns = variants(module, dy, x, gamma, beta, kernels)
    check(fns, dtype)
    times = {k: [] for k in fns}
    for _ in range(2):  # warm up: page in, first-call costs
        for fn in fns.values():
            fn()
    order = np.random.default_rng(1)
    for _ in range(reps):  # a new order each round: whatever follows torch (whose OpenMP threads
        for name in order.permutation(list(fns)):  # spin for a while) is not always the same variant
            fn = fns[name]
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    memory = {k: peak_arrays(fn, x.nbytes) for k, fn in fns.items() if not k.startswith(("torch", "numba"))}
    return {"n": n, "d": d, "dtype": np.dtype(dtype).name, "reps": reps,
            "ms": {k: 1e3 * float(np.median(v)) for k, v in times.items()}, "peak_arrays": memory}


# --- reporting ------------------------------------------------------------------------------


def machine() -> dict:
    model = cpu_model()
    blas = "unknown"
    try:
        config = np.show_config(mode="dicts")
        info = config["Build Dependencies"]["blas"]
        blas = f"{info.get('name')} {info.get('version', '')}".strip()
    except (KeyError, TypeError, ValueError):  # older NumPy: no dicts mode
        blas = "see numpy.show_config()"
    env = {k: os.environ[k] for k in sorted(os.environ) if k.startswith(("OPENBLAS", "OMP_", "MKL_"))}
    return {
        "cpu": model, "cores": os.cpu_count(), "python": platform.python_version(), "numpy": np.__version__,
        "blas": blas, "blas_env": env, "torch": torch.__version__ if torch else "not installed",
        "torch_threads": torch.get_num_threads() if torch else None,
    }


def fastest_torch(ms: dict) -> float | None:
    """The stronger torch baseline: with or without preallocated outputs."""
    return min(ms["torch"], ms["torch out="]) if "torch" in ms else None


def table(results: list[dict]) -> str:
    names = [k for k in results[0]["ms"]]
    head = "| N × D | dtype | " + " | ".join(names) + " | emitted / closed form | emitted+saved / faster torch | peak extra (arrays): emitted, +saved |"
    rule = "|" + "---|" * (len(names) + 5)
    rows = [head, rule]
    for r in results:
        ms = r["ms"]
        vs_torch = f"{ms['emitted+saved'] / fastest_torch(ms):.2f}" if "torch" in ms else "n/a"
        mem = r["peak_arrays"]
        rows.append(f"| {r['n']} × {r['d']} | {r['dtype']} | " + " | ".join(f"{ms[k]:.3f}" for k in names)
                    + f" | {ms['emitted'] / ms['closed form']:.2f} | {vs_torch} | {mem['emitted']:.2f}, {mem['emitted+saved']:.2f} |")
    return "\n".join(rows)


def fused_table(results: list[dict]) -> str:
    """The numba kernels against torch's and the memory floor (5 passes: 2.5 × copy)."""
    head = ("| N × D | dtype | numba | numba+saved | faster torch | floor (2.5 × copy) | numba / torch | "
            "numba+saved / torch | numba / floor | numba+saved / floor |")
    rows = [head, "|" + "---|" * 10]
    for r in results:
        ms = r["ms"]
        if "numba" not in ms or "torch" not in ms:
            continue
        t, floor = fastest_torch(ms), 2.5 * ms["copy"]
        rows.append(f"| {r['n']} × {r['d']} | {r['dtype']} | {ms['numba']:.3f} | {ms['numba+saved']:.3f} | {t:.3f} | "
                    f"{floor:.3f} | {ms['numba'] / t:.2f} | {ms['numba+saved'] / t:.2f} | {ms['numba'] / floor:.2f} | "
                    f"{ms['numba+saved'] / floor:.2f} |")
    return "\n".join(rows)


FUSED_TARGETS = {  # (size, variant): (at most × torch, at most × floor or None)
    ((4096, 1024), "numba+saved"): (1.0, 1.3),
    ((4096, 1024), "numba"): (1.2, 1.4),
    ((256, 256), "numba+saved"): (1.0, None),
    ((256, 256), "numba"): (1.0, None),
}


def fused_targets(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        ms = r["ms"]
        for ((n, d), name), (vs_torch, vs_floor) in FUSED_TARGETS.items():
            if (r["n"], r["d"]) != (n, d) or name not in ms or "torch" not in ms:
                continue
            ratio = ms[name] / fastest_torch(ms)
            line = f"{n} × {d} {r['dtype']}: {name} / torch = {ratio:.2f} (<= {vs_torch}: {'met' if ratio <= vs_torch else 'NOT met'})"
            if vs_floor is not None:
                floor = ms[name] / (2.5 * ms["copy"])
                line += f", / floor = {floor:.2f} (<= {vs_floor}: {'met' if floor <= vs_floor else 'NOT met'})"
            lines.append(line)
    return lines


def targets(results: list[dict]) -> list[str]:
    lines = []
    for r in results:
        if (r["n"], r["d"]) != (4096, 1024):
            continue
        ms, mem = r["ms"], r["peak_arrays"]
        for name in ("emitted", "emitted+saved"):
            ratio = ms[name] / ms["closed form"]
            lines.append(f"{r['dtype']}: {name} / closed form = {ratio:.2f} (target <= 0.5: {'met' if ratio <= 0.5 else 'NOT met'})")
            if "torch" in ms:
                ratio = ms[name] / fastest_torch(ms)
                lines.append(f"{r['dtype']}: {name} / faster torch = {ratio:.2f} (target <= 1.5: {'met' if ratio <= 1.5 else 'NOT met'})")
            lines.append(f"{r['dtype']}: {name} peak extra memory = {mem[name]:.2f} arrays (target <= 2: {'met' if mem[name] <= 2 else 'NOT met'})")
        if "torch" in ms:
            lines.append(f"{r['dtype']}: numpy floor / faster torch = {ms['numpy floor'] / fastest_torch(ms):.2f} "
                         "(no NumPy backward is faster than the floor)")
    return lines


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few repetitions (a smoke test)")
    parser.add_argument("--json", type=Path, help="also write the results as JSON")
    parser.add_argument("--glibc-default", action="store_true", help="leave glibc's malloc settings as they are")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # N,D,dtype,reps: one measurement, as JSON (child)
    args = parser.parse_args(argv)
    if args.one:
        n, d, dtype, reps = args.one.split(",")
        layer = symbn.load(ROOT / "derivations/batchnorm.toml")
        kernels = load_target(layer, "numba") if numba is not None else None
        print(json.dumps(measure(load_module(layer), int(n), int(d), np.dtype(dtype), int(reps), kernels)))
        return 0
    results = []
    for n, d in SIZES:
        for dtype in DTYPES:
            reps = 3 if args.quick else (300 if n * d < 10**6 else 40)
            one = f"{n},{d},{np.dtype(dtype).name},{reps}"
            env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
            env |= {} if args.glibc_default else KEEP_FREED_MEMORY
            child = subprocess.run([sys.executable, __file__, "--one", one], check=True, capture_output=True, text=True,
                                   env=env)
            results.append(json.loads(child.stdout))
            print(f"measured {n} x {d} {np.dtype(dtype).name}", file=sys.stderr)
    info = machine()
    info["malloc"] = "glibc defaults" if args.glibc_default else " ".join(f"{k}={v}" for k, v in KEEP_FREED_MEMORY.items())
    print("Median milliseconds per call, interleaved; peak extra memory in input-sized arrays.\n")
    print(table(results))
    print("\nMachine: " + ", ".join(f"{k} {v}" for k, v in info.items()))
    print("\nTargets at 4096 × 1024:")
    print("\n".join("  " + t for t in targets(results)))
    if numba is not None:
        print(f"\nThe numba kernels (numba {numba.__version__}, {numba.config.NUMBA_NUM_THREADS} threads), median ms:\n")
        print(fused_table(results))
        print("\nTargets of the numba kernels:")
        print("\n".join("  " + t for t in fused_targets(results)))
    if args.json:
        args.json.write_text(json.dumps({"machine": info, "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
