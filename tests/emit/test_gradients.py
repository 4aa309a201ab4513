"""The gradients' text: coefficients, passes over the data, sums down to an input's shape."""

from __future__ import annotations

import symbn
from symbn.emit.gradients import split_terms
from symbn.emit.module import load_module
from symbn.emit.printer import Printer
from symbn.lang.expr import Name, Neg, parse
from symbn.numeric import complex_step, relative_error

from .data import make_inputs

TWO_INPUTS = """
[layer]
name = "two"
stages = ["mu = mean(x)", "xc = x - mu", "vx = mean(xc**2)", "ivx = 1/sqrt(vx + eps)",
          "nu = mean(z)", "zc = z - nu", "vz = mean(zc**2)", "ivz = 1/sqrt(vz + eps)", "y = xc*ivx + zc*ivz"]
output = "y"
[inputs]
x   = { kind = "row" }
z   = { kind = "row" }
eps = { kind = "constant", positive = true, default = 1e-5 }
[closed_form]
x = "ivx*(dy - mean(dy) - xc*ivx**2*mean(dy*xc))"
z = "ivz*(dy - mean(dy) - zc*ivz**2*mean(dy*zc))"
"""


def test_a_second_row_input_gets_its_constant_term():
    """dz has a per-slice constant term, summed to z's own (full) shape."""
    layer = symbn.loads(TWO_INPUTS, "two.toml")
    module = load_module(layer)
    args, dy = make_inputs(layer, (7, 3), 0)
    grads = module.backward(dy, *args)
    for k, grad in enumerate(grads):
        assert relative_error(grad, complex_step(module.forward, args, k, dy)) < 1e-12



def test_a_gradient_splits_into_coefficients_times_rows():
    kinds = {"x": "row", "dy": "row", "a": "scalar", "b": "scalar", "c": "scalar"}
    terms, constant = split_terms(parse("a*dy*x - b*x/c + c"), Printer(kinds, "x", ["x"], set()).kind)
    assert terms == [(Name("a"), [Name("dy"), Name("x")]), (Neg(parse("b/c")), [Name("x")])]
    assert constant == Name("c")


def test_the_batchnorm_gradient_is_summed_in_place(bn):
    """dx is summed in the array of xmu (ours, no longer read) and scaled once."""
    backward = load_module(bn).SOURCE.split("def backward", 1)[1]
    for line in ("dx = xmu if dx is None else dx", "dx = np.multiply(xmu, dx_xmu, out=dx)",
                 "np.add(dx, dx_shift, out=dx)", "np.multiply(dx, dx_scale, out=dx)"):
        assert line in backward
