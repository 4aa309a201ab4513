"""The emitted module as a whole: its text, its signatures, and right by value."""

from __future__ import annotations

import ast
import inspect

import numpy as np
import pytest
import sympy as sp

import symbn
from symbn.emit.module import emit_module, load_module
from symbn.ir.primitives import CONSTANT, ROW
from symbn.numeric import central_difference, complex_step, relative_error
from symbn.proof.routes import Routes, realisation
from symbn.realise.protocol import Point

from ..files import BATCHNORM, ROOT
from .data import AXES, FILES, float16_case, make_inputs


def test_files_found():
    assert "derivations/batchnorm.toml" in FILES


# --- the module as text -----------------------------------------------------------------------


def test_module_imports_numpy_only(case):
    layer, module = case
    tree = ast.parse(module.SOURCE)
    imported = {a.name for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom)) for a in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    assert imported == {"numpy"}
    assert module.GRADIENTS == tuple("d" + w for w in layer.differentiable)


def test_signatures_follow_the_file(case):
    layer, module = case

    inputs = [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    constants = {n: float(i.default) for n, i in layer.inputs.items() if i.kind == CONSTANT}
    forward = inspect.signature(module.forward).parameters
    backward = inspect.signature(module.backward).parameters
    assert list(forward)[: len(inputs)] == inputs
    assert list(backward)[: len(inputs) + 1] == ["dy", *inputs]
    for name, default in constants.items():
        assert forward[name].kind == inspect.Parameter.KEYWORD_ONLY and forward[name].default == default
    assert backward["axis"].default == 0 and backward["saved"].default is None and backward["out"].default is None


def test_batchnorm_golden():
    module = load_module(symbn.load(BATCHNORM))
    assert module.FORMULAS == {
        "dx": "gamma*ivar*(dy - ivar**2*mean(dy*xmu)*xmu - mean(dy))",
        "dgamma": "ivar*sum(dy*xmu)",
        "dbeta": "sum(dy)",
    }
    assert module.SAVED == ("mu", "ivar")
    src = module.SOURCE
    assert "def backward(dy, x, gamma, beta, *, eps=1e-05, axis=0, saved=None, out=None):" in src
    assert "def forward(x, gamma, beta, *, eps=1e-05, axis=0, return_saved=False):" in src
    forward, backward = src.split("def backward", 1)
    for line in ("mu = _sum(axes, x) / n", "xmu = np.subtract(x, mu)", "mu_c = _recentre(xmu, axes, n)",
                 "var = _sum(axes, xmu, xmu) / n", "return _as(result, y), {'mu': _exact(mu, mu_c), 'ivar': ivar}"):
        assert line in forward
    for line in ("mu = _sum(axes, x) / n", "xmu = np.subtract(x, mu)", "mu_c = _offset(xmu, axes, n)",
                 "var = (_sum(axes, xmu, xmu) - n * mu_c**2) / n",
                 "mu, mu_c = _split(_saved(saved, 'mu', kshape), dtype)", "ivar = np.asarray(_saved(saved, 'ivar', kshape), dtype)",
                 "sum_dy_xmu = _sum(axes, dy, xmu) - mu_c * sum_dy", "dx_shift = -(sum_dy / n) - dx_xmu * mu_c",
                 "np.multiply(dx, dx_scale, out=dx)"):
        assert line in backward
    assert "gamma*ivar*(dy - ivar**2*mean(dy*xmu)*xmu - mean(dy))" in module.__doc__


def test_emit_is_deterministic():
    layer = symbn.load(BATCHNORM)
    assert emit_module(layer) == emit_module(layer)


# --- values -----------------------------------------------------------------------------------


@pytest.mark.parametrize("shape, axis", AXES)
def test_backward_against_differences_and_complex_step(case, shape, axis):
    layer, module = case
    args, dy = make_inputs(layer, shape, axis)
    grads = module.backward(dy, *args, axis=axis)
    for k, grad in enumerate(grads):
        assert grad.shape == args[k].shape
        fd = central_difference(module.forward, args, k, dy, axis=axis)
        cs = complex_step(module.forward, args, k, dy, axis=axis)
        assert relative_error(grad, fd) < 1e-7
        assert relative_error(grad, cs) < 1e-13


def _concrete(layer, n):
    """The exact concrete-n gradients: a tuple over j for a row input, one value otherwise."""
    routes = [Routes(layer, realisation(layer, n, j)) for j in range(n)]
    exact = {w: tuple(r.gradient("reverse", w) for r in routes) if layer.inputs[w].kind == ROW
             else routes[0].gradient("reverse", w) for w in layer.differentiable}
    return routes[0], exact


@pytest.mark.parametrize("n", range(1, 9))
def test_backward_against_concrete_n(case, n):
    """Every slice of a (n, 3) array, axis=0, against the exact concrete-N gradient."""
    layer, module = case
    routes, exact = _concrete(layer, n)
    args, dy = make_inputs(layer, (n, 3), 0, seed=n)
    names = [w for w in layer.inputs if layer.inputs[w].kind != CONSTANT]
    grads = dict(zip(names, module.backward(dy, *args, axis=0)))
    want = {w: np.zeros_like(g) for w, g in grads.items()}
    for col in range(3):
        point = {"dy": dy[:, col].tolist()}
        point |= {c: sp.Rational(str(i.default)) for c, i in layer.inputs.items() if i.kind == CONSTANT}
        for w, a in zip(names, args):
            point[w] = a[:, col].tolist() if a.shape[0] == n and a.ndim == 2 else (a.tolist() if layer.inputs[w].kind == ROW else a[col])
        values = {k: [sp.Float(v, 30) for v in val] if isinstance(val, list) else sp.Float(val, 30) for k, val in point.items()}
        sub = routes.B.substitution(Point(n, 0, values))
        for w in names:
            value = exact[w]
            if isinstance(value, tuple):
                column = np.array([float(sp.N(e.xreplace(sub), 30)) for e in value])
                if grads[w].ndim == 2:
                    want[w][:, col] = column
                else:
                    want[w] += column
            else:
                want[w][col] = float(sp.N(sp.sympify(value).xreplace(sub), 30))
    for w in names:
        np.testing.assert_allclose(grads[w], want[w], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape, axis", AXES)
def test_float32_and_float64_agree(case, shape, axis):
    layer, module = case
    args, dy = make_inputs(layer, shape, axis, seed=2)
    g64 = module.backward(dy, *args, axis=axis)
    g32 = module.backward(dy.astype(np.float32), *(a.astype(np.float32) for a in args), axis=axis)
    for a, b in zip(g32, g64):
        assert a.dtype == np.float32
        assert relative_error(a, b) < 1e-5


@pytest.mark.parametrize("shape, axis", AXES)
def test_float32_with_saved_statistics(case, shape, axis):
    """float32 data with saved statistics from a float32 forward, and from a float64
    one (a foreign dict): the gradients are float32 and agree with float64."""
    layer, module = case
    args, dy = make_inputs(layer, shape, axis, seed=3)
    g64 = module.backward(dy, *args, axis=axis)
    a32, dy32 = [a.astype(np.float32) for a in args], dy.astype(np.float32)
    for forward_args in (a32, args):
        _, saved = module.forward(*forward_args, axis=axis, return_saved=True)
        g32 = module.backward(dy32, *a32, axis=axis, saved=saved)
        for a, b in zip(g32, g64):
            assert a.dtype == np.float32
            assert relative_error(a, b) < 1e-5


def test_float16_is_computed_in_float32():
    """Σx over 4096 values of 100 is 4e5, past float16's largest number (65504): the
    module computes in float32 and returns float16."""
    module = load_module(symbn.load(BATCHNORM))
    args = float16_case()
    y, saved = module.forward(*args[1:], return_saved=True)
    grads = module.backward(*args, saved=saved)
    assert y.dtype == np.float16 and all(g.dtype == np.float16 for g in grads)
    y64 = module.forward(*(a.astype(np.float64) for a in args[1:]))
    g64 = module.backward(*(a.astype(np.float64) for a in args))
    assert relative_error(y, y64) < 1e-2
    for g in (module.backward(*args), grads):
        assert max(relative_error(a, b) for a, b in zip(g, g64)) < 1e-2


def test_float16_arithmetic_overflows(monkeypatch):
    """The same in float16 arithmetic: not finite (the test above has teeth)."""
    module = load_module(symbn.load(BATCHNORM))
    monkeypatch.setattr(module, "_work", lambda result: result)
    with np.errstate(all="ignore"):
        grads = module.backward(*float16_case())
    assert not all(np.all(np.isfinite(g)) for g in grads)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_constant_column_and_n1_are_finite(case, dtype):
    layer, module = case
    args, dy = make_inputs(layer, (5, 3), 0, dtype=dtype)
    args[0][:, 1] = 7.0  # a constant column: v = 0
    for a, d in ((args, dy), ([a[:1] if a.shape[:1] == (5,) and a.ndim == 2 or layer.inputs[w].kind == ROW and a.shape == (5,) else a
                               for w, a in zip(layer.inputs, args)], dy[:1])):
        y = module.forward(*a, axis=0)
        grads = module.backward(d, *a, axis=0)
        assert np.all(np.isfinite(y)) and all(np.all(np.isfinite(g)) for g in grads)


def test_groupnorm_is_layernorm_over_a_group():
    """GroupNorm with G groups: LayerNorm's module on x reshaped to (N, G, C/G, H, W)
    with axis=(2, 3, 4), and the per-channel gamma and beta as (G, C/G, 1, 1).  The
    gradients of all three match the complex step, in their own shapes."""
    module = load_module(symbn.load(ROOT / "derivations/layernorm.toml"))
    rng = np.random.default_rng(7)
    n, c, g, h, w = 2, 6, 3, 2, 2
    x, dy = rng.standard_normal((n, c, h, w)), rng.standard_normal((n, c, h, w))
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)

    def group_norm(x, gamma, beta):
        y = module.forward(x.reshape(n, g, c // g, h, w), gamma.reshape(g, c // g, 1, 1), beta.reshape(g, c // g, 1, 1),
                           axis=(2, 3, 4))
        return y.reshape(n, c, h, w)

    grads = module.backward(dy.reshape(n, g, c // g, h, w), x.reshape(n, g, c // g, h, w),
                            gamma.reshape(g, c // g, 1, 1), beta.reshape(g, c // g, 1, 1), axis=(2, 3, 4))
    args = [x, gamma, beta]
    for k, grad in enumerate(grads):
        want = complex_step(group_norm, args, k, dy)
        assert relative_error(grad.reshape(want.shape), want) < 1e-12


# --- what callers pass (found by an adversarial review) ---------------------------------------


@pytest.mark.parametrize("name", ["batchnorm", "layernorm", "rmsnorm"])
def test_saved_from_another_axis_is_refused(name):
    """Statistics saved for axis=(0, 1) have one value; axis=0 needs one per column
    (they broadcast, and the gradients were wrong by up to 2.2)."""
    layer = symbn.load(ROOT / f"derivations/{name}.toml")
    module = load_module(layer)
    args, dy = make_inputs(layer, (6, 5), (0, 1))
    _, saved = module.forward(*args, axis=(0, 1), return_saved=True)
    args0, _ = make_inputs(layer, (6, 5), 0)
    with pytest.raises(ValueError, match="was it saved with another axis"):
        module.backward(dy, args[0], *args0[1:], axis=0, saved=saved)
    flat = {k: np.ravel(v) for k, v in module.forward(*args0, axis=0, return_saved=True)[1].items()}
    plain = module.backward(dy, *args0, axis=0)  # a framework's flat (C,) statistics are fine
    for g, w in zip(module.backward(dy, *args0, axis=0, saved=flat), plain):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_lists_integers_and_bad_arguments():
    module = load_module(symbn.load(BATCHNORM))
    y = module.forward([[1.0, 2.0], [3.0, 5.0]], [1.0, 1.0], 0.0)
    np.testing.assert_allclose(y, module.forward(np.array([[1.0, 2.0], [3.0, 5.0]]), np.ones(2), 0.0))
    xi = np.array([[1, 2], [3, 5], [4, 4]], np.int8)
    assert module.forward(xi, np.ones(2, np.int8), np.zeros(2, np.int8)).dtype == np.float64
    assert all(g.dtype == np.float64 for g in module.backward(np.ones((3, 2), np.int16), xi, [1, 1], [0, 0]))
    for axis in (None, 1.0, ()):
        with pytest.raises(ValueError, match="axis must be an int or a non-empty tuple of ints"):
            module.forward(np.ones((3, 2)), np.ones(2), np.zeros(2), axis=axis)
    with pytest.raises(ValueError, match=r"dy has shape \(2,\); it must have the shape of x, \(3, 2\)"):
        module.backward(np.ones(2), np.ones((3, 2)), np.ones(2), np.zeros(2))


def test_a_wrong_gamma_shape_is_refused_in_words(case):
    """A gamma that does not fit x: a sentence naming gamma and the shape it needs, not NumPy's
    reshape or broadcast error."""
    layer, module = case
    if "gamma" not in layer.inputs:
        pytest.skip("no gamma in this layer")
    x = np.linspace(-1.0, 1.0, 32).reshape(8, 4)
    args = {n: (x if n == "x" else np.ones(3)) for n, i in layer.inputs.items() if i.kind != CONSTANT}
    with pytest.raises(ValueError, match=r"^gamma has shape \(3,\)") as err:
        module.backward(np.ones_like(x), *args.values())
    assert "x of shape (8, 4)" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(ValueError, match=r"^gamma has shape \(3,\)"):
        module.forward(*args.values())

