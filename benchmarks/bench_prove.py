"""Proof time, side by side with plain SymPy, in one run.

    python benchmarks/bench_prove.py            # N = 8, 16, 32 (several minutes: the baseline is slow)
    python benchmarks/bench_prove.py --sizes 8 16

Columns:
- symbn, every N: ``prove(layer)`` in the moment algebra (all routes, all inputs);
- the whole ``symbn prove derivations/batchnorm.toml`` command, wall clock, in a subprocess;
- symbn at concrete N: ``prove(layer, n=N)`` (18 obligations, at j = 1: by permutation
  equivariance that is every j, see symbn/routes.py);
- plain SymPy at the same N: explicit symbols x_1..x_N, the forward derivative ∂f/∂x_1 by
  ``sympy.diff``, and ``cancel(together(forward - closed))`` for that one j only.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import sympy as sp
from sympy.core.cache import clear_cache

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from machine import cpu_model  # benchmarks/machine.py, beside this script

import symbn

FILES = ["batchnorm", "layernorm", "rmsnorm"]


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, SymPy {sp.__version__}"


def best_of(f, k: int) -> float:
    """Best of k cold runs: SymPy's cache is cleared first, so nothing is reused."""
    times = []
    for _ in range(k):
        clear_cache()
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def plain_sympy(n: int) -> float:
    """The baseline: what one would write with SymPy alone."""
    x = sp.symbols(f"x1:{n + 1}")
    dy = sp.symbols(f"dy1:{n + 1}")
    gamma, beta, eps = sp.symbols("gamma beta eps", positive=True)
    t = time.perf_counter()
    mu = sum(x) / n
    var = sum((xi - mu) ** 2 for xi in x) / n
    xhat = [(xi - mu) / sp.sqrt(var + eps) for xi in x]
    f = sum(d * (gamma * h + beta) for d, h in zip(dy, xhat))
    forward = sp.diff(f, x[0])
    closed = gamma / sp.sqrt(var + eps) * (dy[0] - sum(dy) / n - xhat[0] * sum(d * h for d, h in zip(dy, xhat)) / n)
    assert sp.cancel(sp.together(forward - closed)) == 0
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[8, 16, 32])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"machine: {machine()}\n")

    print("| file | symbn, every N (s) | obligations | `symbn prove FILE` wall clock (s) |")
    print("|---|---|---|---|")
    for name in FILES:
        layer = symbn.load(ROOT / "derivations" / f"{name}.toml")
        proof = symbn.prove(layer)
        assert proof.verdict == "proved", proof.table()
        path = str(ROOT / "derivations" / f"{name}.toml")
        seconds = best_of(lambda layer=layer: symbn.prove(layer), args.repeat)
        wall = best_of(
            lambda path=path: subprocess.run([sys.executable, "-m", "symbn.cli", "prove", path], check=True, capture_output=True),
            3,
        )
        print(f"| {name} | {seconds:.3f} | {len(proof.results)} | {wall:.2f} |")

    print("\n| N | symbn `prove --n N`, BatchNorm, 18 obligations (s) | plain SymPy, 1 obligation: dx at j = 1 vs the closed form (s) |")
    print("|---|---|---|")
    layer = symbn.load(ROOT / "derivations" / "batchnorm.toml")
    for n in args.sizes:
        clear_cache()
        t = time.perf_counter()
        proof = symbn.prove(layer, n=n, time_limit=None)
        ours = time.perf_counter() - t
        assert proof.verdict == "proved"
        clear_cache()
        theirs = plain_sympy(n)
        print(f"| {n} | {ours:.2f} | {theirs:.2f} |", flush=True)


if __name__ == "__main__":
    main()
