"""Numerical oracles for gradients, and ``check_numeric``: the emitted module against them.

Three oracles of ∂L/∂θ for L = Σ dy·y, each independent of the emitted backward:

- **central differences** of a forward function in float64, step h·max(1, |θ|)
  with h = ε^(1/3) (the step that balances truncation, O(h²), and rounding, O(ε/h));
  accurate to about 1e-9 relative;
- **the complex step**, Im L(θ + i·h)/h with h = 1e-30: no subtraction, hence no
  cancellation, accurate to rounding (the forward must be analytic: the emitted one
  is, two-pass statistics included);
- **an mpmath reference**: the layer's stage equations evaluated by the interpreter
  on the number realisation (:class:`~symbn.realise.numbers.Numbers`) at ``dps`` digits, slice
  by slice, and differentiated with ``mpmath.diff``.  It shares no code with the
  emitted module.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import mpmath
import numpy as np

from symbn.ad.interpret import primal
from symbn.emit.runtime import _axes, _place
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Layer
from symbn.realise.concrete import Row
from symbn.realise.numbers import Numbers
from symbn.realise.protocol import Point

Forward = Callable[..., np.ndarray]


def central_difference(forward: Forward, args: Sequence[np.ndarray], k: int, dy: np.ndarray, h: float | None = None, **kw) -> np.ndarray:
    """∂(Σ dy·forward(*args))/∂args[k] by central differences in float64."""
    h = np.finfo(np.float64).eps ** (1 / 3) if h is None else h
    args = [np.array(a, dtype=np.float64) for a in args]
    grad = np.zeros_like(args[k])
    for idx in np.ndindex(args[k].shape):
        a0 = args[k][idx]
        step = h * max(1.0, abs(a0))
        args[k][idx] = a0 + step
        up = np.sum(dy * forward(*args, **kw))
        args[k][idx] = a0 - step
        down = np.sum(dy * forward(*args, **kw))
        args[k][idx] = a0
        grad[idx] = (up - down) / (2 * step)
    return grad


def complex_step(forward: Forward, args: Sequence[np.ndarray], k: int, dy: np.ndarray, h: float = 1e-30, **kw) -> np.ndarray:
    """∂(Σ dy·forward(*args))/∂args[k] as Im L(θ + ih)/h: exact to rounding."""
    args = [np.array(a, dtype=np.complex128) for a in args]
    grad = np.zeros(args[k].shape)
    for idx in np.ndindex(args[k].shape):
        args[k][idx] += 1j * h
        grad[idx] = np.sum(dy * forward(*args, **kw)).imag / h
        args[k][idx] -= 1j * h
    return grad


# --- the mpmath reference ------------------------------------------------------------------


def mp_loss(layer: Layer, values: dict[str, np.ndarray], dy: np.ndarray, axis, constants: dict) -> mpmath.mpf:
    """L = Σ dy·y, with y evaluated slice by slice from the stage equations in mpmath.
    ``values``: the differentiable inputs as object arrays of mpf (or floats)."""
    data = next(n for n, i in layer.inputs.items() if i.kind == ROW)
    shape = np.shape(values[data])
    axes = _axes(len(shape), axis)
    kept = tuple(k for k in range(len(shape)) if k not in axes)

    def slices(a: np.ndarray) -> np.ndarray:  # (slices, n): the reduced axes last
        full = np.broadcast_to(a, shape)
        return np.moveaxis(full, axes, range(len(shape) - len(axes), len(shape))).reshape(-1, int(np.prod([shape[k] for k in axes])))

    placed = {}
    for name, i in layer.inputs.items():
        if i.kind != CONSTANT:
            home, per_slice = (kept, True) if i.kind != ROW else (axes, False)
            placed[name] = slices(_place(np.asarray(values[name], dtype=object), shape, home, name, data, per_slice))
    dys = slices(np.asarray(dy, dtype=object))
    total = mpmath.mpf(0)
    n = dys.shape[1]
    for s in range(dys.shape[0]):
        values = {c: mpmath.mpf(v) for c, v in constants.items()}
        values |= {name: list(p[s]) if layer.inputs[name].kind == ROW else p[s][0] for name, p in placed.items()}
        y = primal(layer.graph, Numbers(Point(n, 0, values), layer.graph.kinds))[layer.graph.output]
        items = y.items if isinstance(y, Row) else [y] * n
        total += mpmath.fsum(mpmath.mpf(d) * v for d, v in zip(dys[s], items))
    return total


def mp_gradient(layer: Layer, values: dict[str, np.ndarray], dy: np.ndarray, axis=0, constants: dict | None = None, dps: int = 50) -> dict[str, np.ndarray]:
    """∂L/∂θ for every differentiable input, by ``mpmath.diff`` of :func:`mp_loss` at
    ``dps`` digits (exact inputs: the float64 values as given)."""
    constants = {n: float(i.default) for n, i in layer.inputs.items()
                 if i.kind == CONSTANT and i.default is not None} | (constants or {})
    grads = {}
    with mpmath.workdps(dps):
        arrays = {n: np.array([mpmath.mpf(float(v)) for v in np.ravel(a)], dtype=object).reshape(np.shape(a)) for n, a in values.items()}
        for name in layer.differentiable:
            grad = np.zeros(np.shape(values[name]))
            for idx in np.ndindex(grad.shape):
                def loss(t, idx=idx, name=name):
                    trial = dict(arrays)
                    trial[name] = arrays[name].copy()
                    trial[name][idx] = t
                    return mp_loss(layer, trial, dy, axis, constants)

                grad[idx] = float(mpmath.diff(loss, arrays[name][idx]))
            grads[name] = grad
    return grads


# --- check_numeric ---------------------------------------------------------------------------


@dataclass
class NumericReport:
    """Relative errors (max |a - b| / max |b|) of the emitted backward against each oracle."""

    layer: str
    shape: tuple[int, ...]
    axis: object
    rows: list[tuple[str, str, float, float]] = field(default_factory=list)  # (method, wrt, error, tolerance)
    chosen: dict[str, float] = field(default_factory=dict)  # constants the file gives no default: the value used
    second: list[tuple[str, str, float, float]] = field(default_factory=list)  # double_backward's rows, as rows
    h: str = ""  # what double_backward differentiates, h = <ddx, dx> + ..., when the module has one
    notes: list[str] = field(default_factory=list)  # an oracle that does not apply, and why
    target: str = "numpy"
    complex_source: str = "its own forward"  # what the complex step evaluates

    @property
    def ok(self) -> bool:
        return all(err <= tol for _, _, err, tol in self.rows + self.second)

    def text(self) -> str:
        what = "emitted backward" if self.target == "numpy" else f"{self.target} target's gradients"
        lines = [f"{self.layer}: {what} at random inputs, shape {self.shape}, axis={self.axis!r}"]
        if self.complex_source != "its own forward":
            lines.append(f"complex step: {self.complex_source}")
        lines += [f"{name} = {value} (the file gives no default)" for name, value in self.chosen.items()]
        lines += _table(self.rows)
        if self.h:
            lines += ["", f"double_backward at random directions: the gradients of h = {self.h}", *_table(self.second)]
        lines += self.notes
        lines.append("verdict: " + ("all within tolerance" if self.ok else "ERRORS ABOVE TOLERANCE"))
        return "\n".join(lines)


def _table(rows: list[tuple[str, str, float, float]]) -> list[str]:
    lines = [f"{'oracle':<34} {'wrt':<8} {'rel. error':>10}  {'tolerance':>9}"]
    for method, wrt, err, tol in rows:
        flag = "" if err <= tol else "  FAIL"
        lines.append(f"{method:<34} {wrt:<8} {err:>10.2e}  {tol:>9.0e}{flag}")
    return lines


def relative_error(a, b) -> float:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float(np.max(np.abs(a - b), initial=0.0) / max(np.max(np.abs(b), initial=0.0), 1e-300))


def random_inputs(layer: Layer, shape: tuple[int, ...], axis, seed: int = 0) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Float64 inputs in file order (the data of ``shape``; scalar-kind inputs of
    the kept axes' shape, row-kind ones of the reduced axes' shape) and dy."""
    rng = np.random.default_rng(seed)
    axes = _axes(len(shape), axis)
    data = next(n for n, i in layer.inputs.items() if i.kind == ROW)
    values = {}
    for name, i in layer.inputs.items():
        if i.kind == CONSTANT:
            continue
        home = [k for k in range(len(shape)) if (k in axes) == (i.kind == ROW)]
        value = rng.standard_normal(shape if name == data else tuple(shape[k] for k in home))
        values[name] = np.abs(value) + 0.1 if i.positive else value  # inside the declared domain
    return values, rng.standard_normal(shape)


def check_numeric(layer: Layer, shape: tuple[int, ...] = (6, 4), axis=0, seed: int = 0, dps: int = 50, module=None,
                  target: str = "numpy") -> NumericReport:
    """A target's gradients (float64 and float32) at random inputs against central
    differences of its forward, the complex step, and the mpmath reference.  The
    complex step evaluates the target's forward at complex inputs, or the NumPy
    module's where the target computes real data only (numba)."""
    if module is None and target == "numpy":
        from symbn.emit.module import load_module

        module = load_module(layer)
    if module is not None:  # a NumPy module given as it is
        forward = complex_forward = module.forward
        source = "its own forward"

        def gradients(dy, *args, **kw):
            return list(module.backward(dy, *args, **kw))
    else:
        from symbn.emit.targets.adapters import adapter

        found = adapter(layer, target)
        forward, gradients, complex_forward, source = found.forward, found.gradients, found.complex_forward, found.complex_source
    values, dy = random_inputs(layer, tuple(shape), axis, seed)
    args = list(values.values())
    chosen = {n: 0.5 for n, i in layer.inputs.items() if i.kind == CONSTANT and i.default is None}
    kw = {"axis": axis, **chosen}
    got = dict(zip(values, gradients(dy, *args, **kw)))
    got32 = dict(zip(values, gradients(dy.astype(np.float32), *(a.astype(np.float32) for a in args), **kw)))
    reference = mp_gradient(layer, values, dy, axis, constants=chosen, dps=dps)
    report = NumericReport(layer.name, tuple(shape), axis, chosen=chosen, target=target, complex_source=source)
    for k, name in enumerate(values):
        fd = central_difference(forward, args, k, dy, **kw)
        cs = complex_step(complex_forward, args, k, dy, **kw)
        report.rows += [
            ("central differences (float64)", name, relative_error(got[name], fd), 1e-6),
            ("complex step (float64)", name, relative_error(got[name], cs), 1e-12),
            (f"mpmath, {dps} digits (float64)", name, relative_error(got[name], reference[name]), 1e-12),
            (f"mpmath, {dps} digits (float32)", name, relative_error(got32[name], reference[name]), 1e-4),
        ]
    if getattr(module, "double_backward", None) is not None:
        check_double_backward(report, module, layer, values, dy, kw, seed)
    return report


def second_order_h(module, directions: Sequence[np.ndarray]) -> Forward:
    """h(dy, *inputs) = Σ_k ⟨dd_k, g_k⟩, g_k what the module's backward returns: a
    function whose gradients are what double_backward returns."""
    def h(dy, *args, **kw):
        return sum(np.sum(d * g) for d, g in zip(directions, module.backward(dy, *args, **kw)))

    return h


def check_double_backward(report: NumericReport, module, layer: Layer, values: dict[str, np.ndarray], dy: np.ndarray,
                          kw: dict, seed: int = 0) -> None:
    """The module's double_backward at random directions (of the inputs' shapes) against
    central differences and the complex step of h (:func:`second_order_h`), in float64;
    its float32 result against the complex step.  Rows go to ``report.second``."""
    rng = np.random.default_rng([seed, 2])
    directions = [rng.standard_normal(np.shape(v)) for v in values.values()]
    args = [dy, *values.values()]
    names = [*values, "dy"]
    report.h = " + ".join(f"<dd{k}, d{k}>" for k in values)
    got = dict(zip(names, module.double_backward(*directions, *args, **kw)))
    got32 = dict(zip(names, module.double_backward(*(a.astype(np.float32) for a in [*directions, *args]), **kw)))
    h = second_order_h(module, directions)
    order = [*range(1, len(args)), 0]  # the inputs, then dy, as double_backward returns them
    try:
        complex_step(h, args, 0, 1.0, **kw)
        complex_ok = True
    except (TypeError, ValueError) as err:  # a backward that refuses complex numbers
        complex_ok = False
        report.notes.append(f"complex step of backward: not applicable ({type(err).__name__}: {err})")
    for k, name in zip(order, names):
        fd = central_difference(h, args, k, 1.0, **kw)
        report.second.append(("central differences of backward", name, relative_error(got[name], fd), 1e-6))
        if complex_ok:
            cs = complex_step(h, args, k, 1.0, **kw)
            report.second += [("complex step of backward (float64)", name, relative_error(got[name], cs), 1e-12),
                              ("complex step of backward (float32)", name, relative_error(got32[name], cs), 1e-4)]


__all__ = ["NumericReport", "central_difference", "check_double_backward", "check_numeric", "complex_step", "mp_gradient", "mp_loss", "random_inputs", "relative_error", "second_order_h"]
