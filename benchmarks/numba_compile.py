"""How long the numba target takes to compile its kernels, and to load them from numba's cache.

    python3 benchmarks/numba_compile.py

Each measurement is a new process.  "first call" runs in a new, empty cache directory
(``SYMBN_CACHE``): emitting the module (certification included), importing it, and the
first ``backward`` call, which compiles the two kernels it needs (reduce and element-wise)
for the dtype and layout of its data.  "cached" is a second process on the same
directory: numba loads the compiled kernels from its cache beside the module.  Then a
call with saved statistics (its own reduce kernel) and a forward call (two kernels), and
last a float32 backward at (256, 256), small data: its one serial kernel.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, sys, time
import numpy as np
t0 = time.perf_counter()
import symbn
from symbn.emit.targets import load
layer = symbn.load(sys.argv[1])
module = load(layer, "numba")
t1 = time.perf_counter()
out = {"emit and import": t1 - t0}
rng = np.random.default_rng(0)
for dtype in ("float32", "float64"):
    x = rng.standard_normal((4096, 1024)).astype(dtype)
    dy, g, b = x.copy(), np.ones(1024, dtype), np.zeros(1024, dtype)
    t = time.perf_counter(); module.backward(dy, x, g, b); out[f"backward {dtype}"] = time.perf_counter() - t
    t = time.perf_counter(); _, saved = module.forward(x, g, b, return_saved=True); out[f"forward {dtype}"] = time.perf_counter() - t
    t = time.perf_counter(); module.backward(dy, x, g, b, saved=saved); out[f"backward+saved {dtype}"] = time.perf_counter() - t
x = rng.standard_normal((256, 256)).astype("float32")  # small data: the one serial kernel
dy, g, b = x.copy(), np.ones(256, "float32"), np.zeros(256, "float32")
t = time.perf_counter(); module.backward(dy, x, g, b); out["small backward float32"] = time.perf_counter() - t
print(json.dumps(out))
"""


def run(directory: str, layer: str) -> dict:
    env = dict(os.environ, SYMBN_CACHE=directory)
    child = subprocess.run([sys.executable, "-c", CHILD, layer], check=True, capture_output=True, text=True, env=env,
                           cwd=ROOT)
    return json.loads(child.stdout)


def main() -> int:
    layer = str(ROOT / "derivations" / "batchnorm.toml")
    with tempfile.TemporaryDirectory() as directory:
        first = run(directory, layer)
        cached = [run(directory, layer) for _ in range(3)]
    print("seconds (BatchNorm, (4096, 1024) but the last, the cols layout): first call in a new cache | cached (3 new processes)")
    for key in first:
        print(f"  {key:<24} {first[key]:8.2f} | " + "  ".join(f"{c[key]:.3f}" for c in cached))
    return 0


if __name__ == "__main__":
    started = time.perf_counter()
    code = main()
    print(f"({time.perf_counter() - started:.0f} s in all)")
    sys.exit(code)
