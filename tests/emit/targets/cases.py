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
        return FLOAT64 if self.dtype == np.float64 else FLOAT32

    def __str__(self) -> str:
        return f"{self.name}-{np.dtype(self.dtype).name}"


# Where a result is a tiny difference of its terms, two correct implementations differ by their terms' rounding,
# amplified.  At N = 1: RMSNorm's dx is irms*gamma*dy*(1 - xhat**2) with 1 - xhat**2 = eps/(x**2 + eps), 1e-6 of the
# terms; L2 normalisation's (eps 1e-12) is 1e-10 of them.  There the NumPy module itself is off by 1e-6 (float64) or
# by more than its size (float32), and agreeing with it to 1e-12 means nothing.  So a target agrees with the NumPy
# module to the case's tolerance, or it is as accurate as the NumPy module: its error against the same formulas in
# extended precision (np.longdouble, from the same data) at most ACCURATE times the NumPy module's, or times the
# tolerance where the NumPy module is exact (LayerNorm's dx at N = 1 is 0, a difference of terms of size 1/sqrt(eps)).
ACCURATE = 4

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


def keywords(layer, case: Case) -> dict:
    """axis, and in the offset case the data's location where the layer takes one as a constant subtracted from the
    data (softmax's stop-gradient maximum m, BatchNorm eval's running mean): 1e4, as a caller would give it.  Without
    it exp(x - 0) overflows in float32 at x = 1e4, in the NumPy module as anywhere."""
    kw = {"axis": case.axis}
    if case.kind == "offset":
        data = next(n for n, i in layer.inputs.items() if i.kind == ROW)
        kw |= {c: 1e4 for c in layer.constants if any(t.endswith(f"= {data} - {c}") for t in layer.stage_text.values())}
    return kw


def error(got, want) -> float:
    got, want = np.asarray(got, np.float64), np.asarray(want, np.float64)
    assert got.shape == want.shape, f"shape {got.shape}, expected {want.shape}"
    if not np.all(np.isfinite(want)):
        assert np.array_equal(np.isfinite(got), np.isfinite(want)), "finite where the NumPy module is not, or not"
        keep = np.isfinite(want)
        got, want = got[keep], want[keep]
    scale = float(np.max(np.abs(want), initial=0.0))
    return float(np.max(np.abs(got - want), initial=0.0)) / (scale if scale > 0 else 1.0)


def agree(got: list, want: list, tolerance: float, names: list[str], exact: list | None = None) -> None:
    """Every array within ``tolerance`` of the NumPy module's (``want``), or, given ``exact``
    (extended precision), no less accurate than the NumPy module's (see ACCURATE)."""
    errors = {n: error(g, w) for n, g, w in zip(names, got, want)}
    if max(errors.values()) <= tolerance:
        return
    assert exact is not None, f"relative errors {errors} (tolerance {tolerance:g})"
    ours = {n: error(g, e) for n, g, e in zip(names, got, exact)}
    theirs = {n: error(w, e) for n, w, e in zip(names, want, exact)}
    worse = {n: (ours[n], theirs[n]) for n in names if ours[n] > ACCURATE * max(theirs[n], tolerance)}
    assert not worse, (f"relative errors {errors} from the NumPy module (tolerance {tolerance:g}), and against extended "
                       f"precision (ours, the NumPy module's) {worse}")


def reference(numpy_module, case: Case, args, dy, kw: dict):
    """The NumPy module's y and gradients: in the case's dtype, and in extended precision (np.longdouble)
    from the same data; ``kw``: :func:`keywords`."""
    with np.errstate(all="ignore"):
        same = [numpy_module.forward(*args, **kw), *numpy_module.backward(dy, *args, **kw)]
        wide = [np.longdouble(a) if np.ndim(a) == 0 else np.asarray(a, np.longdouble) for a in args]
        exact = [numpy_module.forward(*wide, **kw), *numpy_module.backward(np.asarray(dy, np.longdouble), *wide, **kw)]
    return same, exact
