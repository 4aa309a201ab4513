"""The JAX target on every derivation file: the custom_jvp checked to second order, and agreement with the
NumPy module through jax.vjp (reverse mode is JAX's transpose of the proved tangent formula)."""

from __future__ import annotations

import numpy as np
import pytest

from .cases import CASES, Case, agree, inputs, keywords, reference

jax = pytest.importorskip("jax", reason="jax is not installed (pip install 'symbn[jax]')")
jax.config.update("jax_enable_x64", True)  # float64, as the NumPy module computes it

import jax.numpy as jnp
from jax.test_util import check_grads


def gradients(module, args, dy, kw):
    y, vjp = jax.vjp(lambda *a: module.forward(*a, **kw), *(jnp.asarray(a) for a in args))
    return [np.asarray(y), *(np.asarray(g) for g in vjp(jnp.asarray(dy)))]


@pytest.mark.parametrize("case", CASES, ids=str)
def test_agrees_with_the_numpy_module(jax_case, case):
    layer, module, numpy_module = jax_case
    args, dy = inputs(layer, case)
    kw = keywords(layer, case)
    same, exact = reference(numpy_module, case, args, dy, kw)
    got = gradients(module, args, dy, kw)
    names = ["y", *module.GRADIENTS]
    agree(got, same, case.tolerance, names, exact)
    if case.kind == "offset":
        agree(got, exact, 2e-6, names)


@pytest.mark.parametrize("shape, axis", [((5, 3), 0), ((2, 3, 4), (0, 2))])
def test_check_grads_to_second_order_forward_and_reverse(jax_case, shape, axis):
    layer, module, _ = jax_case
    args, _ = inputs(layer, Case("check", shape, axis, np.float64), seed=2)
    check_grads(lambda *a: module.forward(*a, axis=axis), args, order=2, modes=("fwd", "rev"))


def test_forward_mode_is_the_tangent_formula(jax_case):
    """jax.jvp gives sum(dy*y_dot) = sum of each gradient times its tangent (the identity that was proved)."""
    layer, module, numpy_module = jax_case
    args, dy = inputs(layer, CASES[0], seed=4)
    tangents, _ = inputs(layer, CASES[0], seed=5)
    _, y_dot = jax.jvp(lambda *a: module.forward(*a), args, tangents)
    pairing = sum(float(np.sum(g * t)) for g, t in zip(numpy_module.backward(dy, *args), tangents))
    assert abs(float(np.sum(dy * np.asarray(y_dot))) - pairing) <= 1e-12 * max(1.0, abs(pairing))


def test_jit(jax_case):
    layer, module, _ = jax_case
    args, _ = inputs(layer, CASES[0])
    loss = jax.jit(lambda *a: jnp.sum(module.forward(*a) ** 2))
    grads = jax.grad(loss, argnums=tuple(range(len(args))))(*args)
    assert all(np.all(np.isfinite(np.asarray(g))) for g in grads)
