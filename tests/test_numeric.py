"""The numerical oracles: right on known derivatives, and able to fail."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import symbn
from symbn.emit.module import load_module
from symbn.numeric import (
    NumericReport,
    central_difference,
    check_numeric,
    complex_step,
    mp_gradient,
    random_inputs,
    relative_error,
)

from .files import POSITIVE_SCALAR

ROOT = Path(__file__).resolve().parents[1]
FILES = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("derivations/*.toml"))


def cube(x, w, *, axis=0):
    """y = w·x³ + sin(x): its gradient is known."""
    return w * x**3 + np.sin(x)


def test_central_difference_and_complex_step_on_a_known_function():
    rng = np.random.default_rng(0)
    x, w, dy = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    dx = dy * (3 * w * x**2 + np.cos(x))
    dw = np.sum(dy * x**3, axis=0)
    assert relative_error(central_difference(cube, [x, w], 0, dy), dx) < 1e-8
    assert relative_error(central_difference(cube, [x, w], 1, dy), dw) < 1e-8
    assert relative_error(complex_step(cube, [x, w], 0, dy), dx) < 1e-14
    assert relative_error(complex_step(cube, [x, w], 1, dy), dw) < 1e-14


def test_complex_step_beats_differences():
    rng = np.random.default_rng(1)
    x, w, dy = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal((3, 4))
    exact = dy * (3 * w * x**2 + np.cos(x))
    assert relative_error(complex_step(cube, [x, w], 0, dy), exact) < relative_error(central_difference(cube, [x, w], 0, dy), exact)


@pytest.mark.parametrize("path", FILES)
def test_mpmath_reference_matches_the_complex_step(path):
    layer = symbn.load(ROOT / path)
    module = load_module(layer)
    values, dy = random_inputs(layer, (4, 3), 0, seed=5)
    reference = mp_gradient(layer, values, dy, axis=0, dps=40)
    for k, name in enumerate(values):
        cs = complex_step(module.forward, list(values.values()), k, dy, axis=0)
        assert relative_error(cs, reference[name]) < 1e-13


def test_mpmath_reference_of_batchnorm_by_hand():
    """N = 2: x = (a, -a) + m gives xhat = (±a)/sqrt(a² + eps), so dgamma = Σ dy·xhat."""
    layer = symbn.load(ROOT / "derivations/batchnorm.toml")
    x = np.array([[1.0], [-1.0]]) + 5
    dy = np.array([[2.0], [3.0]])
    grads = mp_gradient(layer, {"x": x, "gamma": np.array([1.5]), "beta": np.array([0.25])}, dy, axis=0)
    xhat = np.array([1.0, -1.0]) / np.sqrt(1 + 1e-5)
    assert grads["gamma"][0] == pytest.approx(2 * xhat[0] + 3 * xhat[1], rel=1e-14)
    assert grads["beta"][0] == pytest.approx(5.0, rel=1e-14)


@pytest.mark.parametrize("path", FILES)
@pytest.mark.parametrize("shape, axis", [((6, 4), 0), ((4, 5), -1), ((3, 2, 2, 2), (0, 2, 3))])
def test_check_numeric_passes_on_every_file(path, shape, axis):
    report = check_numeric(symbn.load(ROOT / path), shape=shape, axis=axis, dps=30)
    assert report.ok, report.text()
    text = report.text()
    assert "complex step (float64)" in text and "mpmath, 30 digits" in text and "verdict: all within tolerance" in text


def test_check_numeric_fails_on_a_wrong_backward():
    """A backward off by 0.1% in dx must be caught (a checker that cannot fail checks nothing)."""
    layer = symbn.load(ROOT / "derivations/batchnorm.toml")
    module = load_module(layer)

    class Wrong:
        forward = staticmethod(module.forward)

        @staticmethod
        def backward(dy, *args, **kw):
            dx, *rest = module.backward(dy, *args, **kw)
            return (dx * 1.001, *rest)

    report = check_numeric(layer, module=Wrong(), dps=30)
    assert not report.ok
    failed = {(method, wrt) for method, wrt, err, tol in report.rows if err > tol}
    assert ("complex step (float64)", "x") in failed and all(wrt == "x" for _, wrt in failed)
    assert "FAIL" in report.text() and "ERRORS ABOVE TOLERANCE" in report.text()


def test_check_numeric_checks_double_backward_and_fails_on_a_wrong_one():
    """double_backward against central differences and the complex step of the emitted
    backward, shown in its own table; dgamma off by 0.1% is caught, and only it."""
    layer = symbn.load(ROOT / "derivations/batchnorm.toml")
    module = load_module(layer)
    report = check_numeric(layer, shape=(5, 3), dps=30, module=module)
    text = report.text()
    assert report.ok, text
    assert "double_backward at random directions: the gradients of h = <ddx, dx> + <ddgamma, dgamma> + <ddbeta, dbeta>" in text
    assert {(m, w) for m, w, _, _ in report.second} == {
        (m, w) for m in ("central differences of backward", "complex step of backward (float64)",
                         "complex step of backward (float32)") for w in ("x", "gamma", "beta", "dy")}

    class Wrong:
        forward, backward = staticmethod(module.forward), staticmethod(module.backward)

        @staticmethod
        def double_backward(*args, **kw):
            dx, dgamma, *rest = module.double_backward(*args, **kw)
            return (dx, dgamma * 1.001, *rest)

    report = check_numeric(layer, shape=(5, 3), dps=30, module=Wrong())
    failed = {(m, w) for m, w, err, tol in report.rows + report.second if err > tol}
    assert not report.ok and failed and all(w == "gamma" for _, w in failed)
    assert ("central differences of backward", "gamma") in failed and "FAIL" in report.text()


def test_check_numeric_without_double_backward_has_no_second_table():
    report = check_numeric(symbn.load(ROOT / "derivations/groupnorm.toml"), shape=(5, 3), dps=30)
    assert report.ok and not report.second and "double_backward" not in report.text()


def test_report_text_layout():
    report = NumericReport("demo", (2, 2), 0, [("complex step (float64)", "x", 1e-16, 1e-12)])
    lines = report.text().splitlines()
    assert lines[0] == "demo: emitted backward at random inputs, shape (2, 2), axis=0"
    assert lines[-1] == "verdict: all within tolerance"



@pytest.mark.parametrize("seed", range(4))
def test_check_numeric_draws_declared_positive_inputs_positive(seed):
    """sqrt(g**2) is g only for g > 0, as declared; random inputs stay in that domain
    (found by review: seeds 0-3 all failed)."""
    layer = symbn.loads(POSITIVE_SCALAR, "pos.toml")
    values, _ = random_inputs(layer, (5, 3), 0, seed)
    assert np.all(values["g"] > 0)
    assert check_numeric(layer, shape=(5, 3), seed=seed).ok
