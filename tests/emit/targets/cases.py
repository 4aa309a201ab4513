"""The cases every target is checked on, against the NumPy module: one list, one comparison."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from symbn.ir.primitives import CONSTANT, ROW

from ..data import make_inputs

FLOAT64, FLOAT32 = 1e-12, 1e-5  # agreement with the NumPy module, relative to the largest value of each array


@dataclass(frozen=True)
class Case:
    name: str
    shape: tuple[int, ...]
    axis: int | tuple[int, ...]
    dtype: type
    kind: str = "random"  # random | offset (mean 1e4, std 1) | constant (the first slice constant)

    @property
    def tolerance(self) -> float:
        if self.shape[0] == 1 and self.axis == 0:  # N = 1: see N_ONE
            return N_ONE[np.dtype(self.dtype).name]
        return FLOAT64 if self.dtype == np.float64 else FLOAT32

    def __str__(self) -> str:
        return f"{self.name}-{np.dtype(self.dtype).name}"


# At N = 1 a gradient can be a tiny difference of its terms (RMSNorm's dx is irms*gamma*dy*(1 - xhat**2) with
# 1 - xhat**2 = eps/(x**2 + eps), 1e-6 of the terms), so two correct implementations differ by their terms'
# rounding, amplified: 1e-12 in float64 and 5e-4 in float32 were seen.
N_ONE = {"float64": 1e-9, "float32": 1e-2}

CASES = [
    *(Case("columns", (7, 3), 0, t) for t in (np.float64, np.float32)),
    *(Case("rows", (3, 7), -1, t) for t in (np.float64, np.float32)),
    *(Case("4-D over (0, 2, 3)", (4, 3, 5, 2), (0, 2, 3), t) for t in (np.float64, np.float32)),
    *(Case("N = 1", (1, 4), 0, t) for t in (np.float64, np.float32)),
    *(Case("constant slice", (6, 3), 0, t, "constant") for t in (np.float64, np.float32)),
    Case("mean 1e4, std 1", (4096, 3), 0, np.float32, "offset"),
]


def inputs(layer, case: Case, seed: int = 0):
    """(args in file order, dy) for the case, in its dtype."""
    args, dy = make_inputs(layer, case.shape, case.axis, seed, np.float64)
    names = [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    data = next(k for k, n in enumerate(names) if layer.inputs[n].kind == ROW)
    x = args[data]
    if case.kind == "offset":
        x = 1e4 + x
    if case.kind == "constant":  # the first slice: every value along the reduced axes the same
        axes = (case.axis,) if isinstance(case.axis, int) else case.axis
        index = tuple(slice(None) if k in axes or k - len(case.shape) in axes else 0 for k in range(len(case.shape)))
        x = x.copy()
        x[index] = 3.0
    args[data] = x
    return [a.astype(case.dtype) for a in args], dy.astype(case.dtype)


def error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
    if not np.all(np.isfinite(want)):
        assert np.array_equal(np.isfinite(got), np.isfinite(want)), "finite where the NumPy module is not, or not"
        keep = np.isfinite(want)
        got, want = got[keep], want[keep]
    scale = float(np.max(np.abs(want), initial=0.0))
    return float(np.max(np.abs(got - want), initial=0.0)) / (scale if scale > 0 else 1.0)


def agree(got: list, want: list, tolerance: float, names: list[str]) -> None:
    """Every array within ``tolerance`` of the NumPy module's."""
    errors = {n: error(g, w) for n, g, w in zip(names, got, want)}
    assert max(errors.values()) <= tolerance, f"relative errors {errors} (tolerance {tolerance:g})"


def reference(numpy_module, case: Case, args, dy):
    """The NumPy module's y and gradients: in the case's dtype, and in float64 from the same data."""
    kw = {"axis": case.axis}
    with np.errstate(all="ignore"):
        same = [numpy_module.forward(*args, **kw), *numpy_module.backward(dy, *args, **kw)]
        wide = [np.float64(a) if np.ndim(a) == 0 else np.asarray(a, np.float64) for a in args]
        exact = [numpy_module.forward(*wide, **kw), *numpy_module.backward(np.asarray(dy, np.float64), *wide, **kw)]
    return same, exact
