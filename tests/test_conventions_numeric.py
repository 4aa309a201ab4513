"""Every derivation file, checked numerically and independently of the prover.

For each file and each slice size N where the layer is defined, at random float64
inputs, every closed form and every claim is compared with the gradient of
f = Σ dy·y obtained from the forward pass alone, by the complex step (exact to
rounding) and cross-checked by central differences.  A claim whose ``wrt`` is a
stage, and a ``d<name>`` inside a formula, are the derivative of f with respect to
that stage's value with everything downstream recomputed (the reverse-mode adjoint).

The formulas are evaluated here from their AST with NumPy broadcasting: a row is an
array of N values, ``mean``/``sum`` reduce it, a row outside a reduction is the row
at every index. Nothing of symbn's graph, rule tables or realisations is used.

Verdicts: a closed form and a ``correct`` claim must agree to 1e-9 (relative) at every
point; a ``wrong`` claim must differ by more than 1e-4 at some point (where it is
defined: a formula with 1/(N - 1) is not evaluated at N = 1). Each file is
tried at its default epsilon and at a large one (0.3), which exposes an epsilon in
the wrong place; other constants (running statistics, a shift) are drawn at random.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import pytest

import symbn
from symbn.lang.expr import Call, Name, Neg, Num, parse_assignment

from .files import FILES

SIZES = (1, 2, 3, 5)
MIN_N = {  # the smallest slice on which the layer is defined
    "batchnorm_unbiased": 2,  # variance sum/(N-1): 0/0 at N = 1
    "batchnorm_eps_outside": 2,  # sqrt(var) at var = 0 has no derivative
    "batchnorm_eps_outside_unbiased": 2,
    "layernorm_annotated": 2,
    "weight_standardization": 2,
}
H = 1e-30  # complex step


def evaluate(e, env: dict, n: int):
    """A formula's value: a NumPy array of n entries (row) or a number (scalar)."""
    if isinstance(e, Num):
        return float(e.value)
    if isinstance(e, Name):
        return float(n) if e.id == "N" else env[e.id]
    if isinstance(e, Neg):
        return -evaluate(e.arg, env, n)
    if isinstance(e, Call):
        v = evaluate(e.arg, env, n)
        if e.fn == "sum":
            return np.sum(v) if np.ndim(v) else v * n
        if e.fn == "mean":
            return np.mean(v) if np.ndim(v) else v
        return {"sqrt": np.sqrt, "exp": np.exp, "log": np.log}[e.fn](v)
    a, b = evaluate(e.left, env, n), evaluate(e.right, env, n)
    if e.op == "**":
        exponent = e.right.value if isinstance(e.right, Num) else None
        if isinstance(exponent, Fraction) and exponent.denominator == 1:
            return a ** int(exponent)
        return a**b
    return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide}[e.op](a, b)


@dataclass
class Slice:
    layer: object
    n: int
    inputs: dict  # name -> float or array (rows), constants included
    dy: object

    def stages(self, override: dict | None = None) -> dict:
        env = dict(self.inputs)
        for name, value in (override or {}).items():
            if name in env:
                env[name] = value
        for text in self.layer.stage_text.values():
            name, expr = parse_assignment(text)
            env[name] = override[name] if override and name in override else evaluate(expr, env, self.n)
        return env

    def loss(self, override: dict | None = None):
        y = self.stages(override)[self.layer.graph.output]
        return np.sum(self.dy * y) if np.ndim(y) else self.dy * y

    def derivative(self, name: str, value):
        """∂f/∂name at ``value`` (an input or a stage), by the complex step and, as a
        check, by central differences."""
        value = np.asarray(value, dtype=float)
        grad = np.zeros(value.shape)
        central = np.zeros(value.shape)
        for idx in np.ndindex(value.shape):
            step = np.zeros(value.shape, dtype=complex)
            step[idx] = 1j * H
            grad[idx] = np.imag(self.loss({name: value + step})) / H
            h = 1e-6 * max(1.0, abs(float(value[idx])))
            up = np.zeros(value.shape)
            up[idx] = h
            try:
                central[idx] = np.real(self.loss({name: value + up}) - self.loss({name: value - up})) / (2 * h)
            except FloatingPointError:  # a step across the domain's edge (e.g. var - h < -eps)
                central[idx] = grad[idx]
        scale = max(1.0, float(np.max(np.abs(grad), initial=0.0)))
        assert np.max(np.abs(grad - central), initial=0.0) <= 1e-5 * scale, (name, grad, central)
        return grad if value.shape else float(grad)


def random_slice(layer, n: int, rng: np.random.Generator, constants: dict) -> Slice:
    inputs = {}
    for name, spec in layer.inputs.items():
        if spec.kind == "row":
            inputs[name] = rng.normal(size=n) * 1.5 + 0.3
        elif spec.kind == "scalar":
            inputs[name] = abs(rng.normal()) + 0.5 if spec.positive else float(rng.normal() * 1.5)
        elif name in constants:
            inputs[name] = constants[name]
        elif name.startswith("eps") and spec.default is not None:
            inputs[name] = float(spec.default)
        else:  # other constants (running statistics, a shift): random, positive if declared so
            inputs[name] = abs(rng.normal()) + 0.5 if spec.positive else float(rng.normal())
    dy_row = layer.graph.kinds[layer.graph.output] == "row"
    return Slice(layer, n, inputs, rng.normal(size=n) if dy_row else float(rng.normal()))


def gaps(layer, n: int, rng: np.random.Generator, constants: dict) -> dict[str, float]:
    """For one random slice: the relative error of every closed form and claim."""
    s = random_slice(layer, n, rng, constants)
    env = s.stages()
    truth = {}

    def grad(name):
        if name not in truth:
            truth[name] = s.derivative(name, env[name])
        return truth[name]

    out = {}
    formulas = [(f"closed_form.{k}", k, f.expr) for k, f in layer.closed_form.items()]
    # first-order claims on one device (order-2 and split claims are checked numerically in test_second / test_shards)
    formulas += [(f"claim.{c.id}", c.wrt, c.formula.expr) for c in layer.claims if c.order == 1 and not c.shards]
    for key, wrt, expr in formulas:
        names = _names(expr)
        scope = dict(env, dy=s.dy)
        scope.update({m: grad(m[1:]) for m in names if m.startswith("d") and m != "dy" and m not in scope})
        want = grad(wrt)
        try:
            got = np.broadcast_to(evaluate(expr, scope, n), np.shape(env[wrt]))
        except FloatingPointError:  # the formula is undefined here (e.g. 1/(N - 1) at N = 1)
            out[key] = float("nan")
            continue
        out[key] = float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))
    return out


def _names(e) -> set[str]:
    if isinstance(e, Name):
        return {e.id}
    if isinstance(e, Num):
        return set()
    if isinstance(e, (Neg, Call)):
        return _names(e.arg)
    return _names(e.left) | _names(e.right)


def survey(path) -> dict[str, list[float]]:
    """Every formula's relative error at 4 random points per N and constant set."""
    layer = symbn.load(path)
    rng = np.random.default_rng(20240617)
    eps_like = [n for n, i in layer.inputs.items() if i.kind == "constant" and n.startswith("eps")]
    settings = [{}] + [{n: 0.3 for n in eps_like}] * bool(eps_like)
    errors: dict[str, list[float]] = {}
    with np.errstate(all="raise"):
        for n in SIZES:
            if n < MIN_N.get(layer.name, 1):
                continue
            for constants in settings:
                for _ in range(4):
                    for key, err in gaps(layer, n, rng, constants).items():
                        errors.setdefault(key, []).append(err)
    return errors


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_file_loads_and_has_a_closed_form_per_input(path):
    layer = symbn.load(path)
    assert set(layer.closed_form) == set(layer.differentiable)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_closed_forms_and_claims_match_the_numbers(path):
    layer = symbn.load(path)
    errors = survey(path)
    expect = {f"closed_form.{k}": "correct" for k in layer.closed_form}
    expect |= {f"claim.{c.id}": c.expect for c in layer.claims if c.order == 1 and not c.shards}
    bad = []
    for key, want in expect.items():
        finite = [e for e in errors[key] if not math.isnan(e)]
        worst = max(finite, default=float("nan"))
        if want == "correct" and (len(finite) < len(errors[key]) or worst > 1e-9):
            bad.append(f"{key}: expected correct, differs by {worst:.2e} or is undefined somewhere")
        if want == "wrong" and not worst > 1e-4:
            bad.append(f"{key}: expected wrong, agrees to {worst:.2e}")
    assert not bad, "\n".join(bad)
