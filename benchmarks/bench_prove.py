"""Proof time, side by side with plain SymPy (and tensorgrad where installed), in one run.

    python benchmarks/bench_prove.py                 # everything (several minutes: the baselines are slow)
    python benchmarks/bench_prove.py --sizes 8 16    # fewer concrete sizes
    python benchmarks/bench_prove.py --baseline-cap 120

Tables:
1. every file in derivations/: ``prove(layer)`` for every N (all routes, all inputs), the whole
   ``symbn prove FILE`` command (wall clock, a new process), and the median time to refute a
   wrong claim (the file's wrong claims and changed closed forms, one obligation each);
2. BatchNorm at concrete N (explicit symbols, 18 obligations, proved at j = 1, which by
   permutation equivariance is every j) against plain SymPy at the same N: explicit symbols,
   ``sympy.diff`` and ``cancel(together(forward - closed))`` for one j only;
3. second order (``prove --order 2``) for every file that has ``[second_order]``, every N and
   N = 8, 16; and tensorgrad's time for BatchNorm's second derivative when it is installed.

SymPy's cache is cleared before each measurement; each symbn measurement is the best of
``--repeat`` cold runs in this process (imports excluded; the CLI column includes them).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import sympy as sp
from sympy.core.cache import clear_cache

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from machine import cpu_model  # benchmarks/machine.py, beside this script

import symbn
from symbn.proof.claims import check_claims
from symbn.proof.prover import Prover, check_formula
from symbn.proof.second import prove_second

FILES = sorted((ROOT / "derivations").glob("*.toml"))


def machine() -> str:
    import flint

    return (f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}, SymPy {sp.__version__}, "
            f"python-flint {flint.__version__}")


def best_of(f, k: int) -> float:
    """Best of k cold runs: SymPy's cache is cleared first, so nothing is reused."""
    times = []
    for _ in range(k):
        clear_cache()
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def changed(text: str) -> list[str]:
    """Wrong versions of a closed form: a constant changed, a term's sign flipped, scaled."""
    out = [f"2*({text})", f"({text})*N/(N + 1)"]
    if "mean(" in text:
        out.append(text.replace("mean(", "sum(", 1))
    if " - " in text:
        out.append(text.replace(" - ", " + ", 1))
    return out


def refute_times(layer) -> list[float]:
    """Seconds to refute each wrong claim of the file, and each changed closed form."""
    prover = Prover(layer)
    times = []
    for item in check_claims(layer, time_limit=None).items:
        if item.expect == "wrong" and item.result.verdict == "refuted":
            times.append(item.result.seconds)
    for wrt, closed in layer.closed_form.items():
        for text in changed(closed.text):
            formula = layer.formula(text, "changed", adjoints=True)
            result = check_formula(layer, wrt, formula, time_limit=None, prover=prover)
            if result.verdict == "refuted":
                times.append(result.seconds)
    return times


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


def capped(f, cap: float, *args) -> str:
    """f(*args) in a child process, or "> cap s" when it runs over."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    child = ctx.Process(target=lambda: queue.put(f(*args)), daemon=True)
    child.start()
    child.join(cap)
    if child.is_alive():
        child.kill()
        child.join()
        return f"> {cap:.0f}"
    return f"{queue.get():.2f}"


def tensorgrad_second_derivative(python: str | None) -> str:
    """tensorgrad (symbolic tensors, symbolic sizes) on BatchNorm's second derivative d<ddx, dx>/dx, run by
    benchmarks/tensorgrad_bn.py in ``python`` (an interpreter that has tensorgrad; by default this one)."""
    python = python or sys.executable
    probe = subprocess.run([python, "-c", "import tensorgrad"], capture_output=True, check=False)
    if probe.returncode:
        return "not installed (pip install tensorgrad, or --tensorgrad-python PATH)"
    run = subprocess.run([python, str(HERE / "tensorgrad_bn.py")], capture_output=True, text=True, check=False, timeout=900)
    if run.returncode:
        last = (run.stderr.strip().splitlines() or ["?"])[-1]
        return f"not measured: tensorgrad failed ({last[:160]})"
    return run.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="*", default=[8, 16, 32, 64])
    parser.add_argument("--second-sizes", type=int, nargs="*", default=[8, 16])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--tensorgrad-python", help="a Python that has tensorgrad installed (optional)")
    parser.add_argument("--baseline-cap", type=float, default=300.0, help="seconds before plain SymPy is stopped")
    args = parser.parse_args()
    print(f"machine: {machine()}\n")

    print("| file | every N (s) | obligations | `symbn prove FILE` wall clock (s) | refute a wrong claim, median (s) | wrong claims |")
    print("|---|---|---|---|---|---|")
    for path in FILES:
        layer = symbn.load(path)
        proof = symbn.prove(layer, time_limit=None)
        seconds = best_of(lambda layer=layer: symbn.prove(layer, time_limit=None), args.repeat)
        wall = best_of(lambda p=str(path): subprocess.run([sys.executable, "-m", "symbn", "prove", p], check=False,
                                                            capture_output=True), 2)
        refutes = refute_times(layer)
        median = f"{statistics.median(refutes):.3f}" if refutes else "–"
        print(f"| {path.stem} | {seconds:.3f} | {len(proof.results)} ({proof.verdict}) | {wall:.2f} | {median} | {len(refutes)} |",
              flush=True)

    print("\n| N | symbn `prove --n N`, BatchNorm, 18 obligations (s) | plain SymPy, 1 obligation: dx at j = 1 vs the closed form (s) |")
    print("|---|---|---|")
    layer = symbn.load(ROOT / "derivations" / "batchnorm.toml")
    for n in args.sizes:
        clear_cache()
        t = time.perf_counter()
        proof = symbn.prove(layer, n=n, time_limit=None)
        ours = time.perf_counter() - t
        assert proof.verdict == "proved", proof.table()
        clear_cache()
        print(f"| {n} | {ours:.2f} | {capped(plain_sympy, args.baseline_cap, n)} |", flush=True)

    print("\n| file | second order, every N (s) | obligations | " + " | ".join(f"N = {n} (s)" for n in args.second_sizes) + " |")
    print("|---|---|---|" + "---|" * len(args.second_sizes))
    for path in FILES:
        layer = symbn.load(path)
        if not layer.second_order:
            continue
        proof = prove_second(layer, time_limit=None)
        seconds = best_of(lambda layer=layer: prove_second(layer, time_limit=None), args.repeat)
        concrete = [best_of(lambda layer=layer, n=n: prove_second(layer, n=n, time_limit=None), 1) for n in args.second_sizes]
        print(f"| {path.stem} | {seconds:.3f} | {len(proof.results)} ({proof.verdict}) | "
              + " | ".join(f"{c:.2f}" for c in concrete) + " |", flush=True)
    print(f"\ntensorgrad, BatchNorm's Hessian-vector product (s): {tensorgrad_second_derivative(args.tensorgrad_python)}")


if __name__ == "__main__":
    main()
