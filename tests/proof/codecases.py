"""The backward passes of derivations/claims/ as test cases, and a way to run them for real.

symbn never runs the code it checks.  These tests do, on purpose, as an independent
oracle: the code (the seeds', and mutants of it, all of them ours) is executed by
NumPy in float64 on arrays built from the oracle's own exact stages (tests/oracle.py),
and its value at a counterexample must be the claim's side symbn reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import sympy as sp

from ..files import ROOT
from ..oracle import stages

CLAIMS = ROOT / "derivations" / "claims"


@dataclass(frozen=True)
class Case:
    file: str
    function: str
    bind: dict
    cache: object  # a tuple of layer names, or a dict key -> layer name (or a number)
    axis: int = 0
    layer: str = "batchnorm"
    returns: tuple = ("x", "gamma", "beta")
    extra: dict = field(default_factory=dict)

    @property
    def path(self):
        return CLAIMS / self.file

    def source(self) -> str:
        return self.path.read_text()


SEED003 = Case(
    "seed003_backward.py", "batchnorm_backward",
    {"dout": "dy", "x_norm": "xhat", "stddev": "sqrtvar", "dev_from_mean": "xmu", "inverted_stddev": "ivar",
     "mean": "mu", "axis": 0, "dev_from_mean_sq": "sq", "dscaled_x": "dy"},
    {"beta": "beta", "gamma": "gamma", "x_norm": "xhat", "var": "var", "eps": "eps", "stddev": "sqrtvar",
     "dev_from_mean": "xmu", "inverted_stddev": "ivar", "x": "x", "mean": "mu", "axis": 0},
)
SEED002 = Case("seed002_backward.py", "batchnorm_backward", {"dout": "dy", "dgammax": "dy"},
               ("xhat", "gamma", "xmu", "ivar", "sqrtvar", "var", "eps"))
FAST = Case("cs231n_fast.py", "batchnorm_backward_alt", {"dout": "dy"}, ("x", "mu", "var", "eps", "gamma"))
LAYERNORM = Case("layernorm_backward.py", "layernorm_backward", {"dout": "dy"}, ("xhat", "gamma", "ivar"), axis=-1,
                 layer="layernorm")
UNBIASED = Case("mistakes.py", "batchnorm_backward_unbiased", {"dout": "dy"}, SEED002.cache)
TWICE = Case("mistakes.py", "layernorm_backward_twice", {"dout": "dy"}, LAYERNORM.cache, axis=-1, layer="layernorm")


def array(layer, name: str, values: list, axis: int):
    """One quantity of several slices (``values``: one value per slice) as the code holds it:
    a row is the slices' columns (axis 0) or rows (axis -1); a per-slice value keeps the slice
    axis as 1 ((1, B) or (B, 1), or (B,) for BatchNorm's gamma and beta); a LayerNorm
    parameter, shared by the slices, is one row of length N; a constant is a float."""
    first = values[0]
    if name == "eps" or layer.graph.kinds.get(name) == "constant":
        return float(first)
    if isinstance(first, list):
        block = np.array([[float(v) for v in slice_] for slice_ in values])  # (B, N)
        if name in ("gamma", "beta") and axis != 0:
            return block[0]  # shared by the samples: shape (N,)
        return block.T if axis == 0 else block
    flat = np.array([float(v) for v in values])
    return flat if axis == 0 else flat.reshape(-1, 1)


def run(case: Case, source: str, layer, values: dict, n: int, slices: int = 1):
    """Run the case's function (from ``source``) by NumPy at the point ``values``; with
    ``slices`` > 1 the other slices are the point's data shifted by 1, 2, ..."""
    envs = []
    for k in range(slices):
        point = {name: ([v + k for v in value] if isinstance(value, (list, tuple)) and name not in ("gamma", "beta")
                        else (list(value) if isinstance(value, (list, tuple)) else value)) for name, value in values.items()}
        envs.append(stages(layer, point, n))
    namespace: dict = {"np": np}
    exec(compile(source, str(case.path), "exec"), namespace)  # noqa: S102 - our own test code, on purpose
    fn = namespace[case.function]

    def quantity(name):
        return name if isinstance(name, int) else array(layer, name, [e[name] for e in envs], case.axis)

    cache = {k: quantity(v) for k, v in case.cache.items()} if isinstance(case.cache, dict) else tuple(
        quantity(v) for v in case.cache)
    shapes = {w: np.shape(quantity(w)) for w in case.returns}
    return fn(quantity("dy"), cache), shapes


def at(value, j: int, axis: int) -> float:
    """A returned gradient's entry for the slice's position j (or its one per-slice value)."""
    value = np.asarray(value, dtype=float)
    if value.size == 1:
        return float(value.reshape(-1)[0])
    flat = value.reshape(-1)
    return float(flat[j])


def close(a: float, b) -> bool:
    b = float(sp.N(b, 30))
    return abs(a - b) <= 1e-9 * max(1.0, abs(b))


__all__ = ["CLAIMS", "FAST", "LAYERNORM", "SEED002", "SEED003", "TWICE", "UNBIASED", "Case", "at", "close", "run"]
