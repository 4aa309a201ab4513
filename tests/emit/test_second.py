"""The emitted double_backward: certified before it is written, and right by value.

Against central differences of the emitted backward (float64) for every file with
[second_order], at N = 1 and on 4-D data; against torch.autograd.grad(...,
create_graph=True) of F.batch_norm / F.layer_norm / F.rms_norm when torch is
installed; and a wrong second-order form is refused, by the API and the CLI.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import symbn
from symbn.emit import second
from symbn.emit.certify import NotCertified
from symbn.emit.module import emit_module, load_module
from symbn.numeric import central_difference, relative_error, second_order_h

from ..files import BATCHNORM, ROOT
from ..test_cli import run
from .data import BATCHNORM_TEXT, make_inputs

SECOND = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("derivations/*.toml") if symbn.load(p).second_order)
# shape, axis: 2-D both ways, 4-D over (0, 2, 3), 3-D over the last axis, and slices of one value (N = 1)
SHAPES = [((7, 3), 0), ((3, 7), -1), ((4, 3, 2, 2), (0, 2, 3)), ((2, 3, 4), -1), ((1, 3), 0), ((3, 1), -1)]


@pytest.fixture(scope="module", params=SECOND)
def emitted(request):
    layer = symbn.load(ROOT / request.param)
    return layer, load_module(layer)


def directions(args, seed=1):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(np.shape(a)) for a in args]


def test_the_files_with_second_order_are_the_norms_and_eval_mode():
    assert SECOND == ["derivations/batchnorm.toml", "derivations/batchnorm_eval.toml", "derivations/layernorm.toml",
                      "derivations/rmsnorm.toml"]


@pytest.mark.parametrize("shape, axis", SHAPES)
def test_double_backward_is_the_derivative_of_backward(emitted, shape, axis):
    """Each gradient of h = Σ_k <dd_k, backward_k> by central differences of the emitted
    backward, in float64, to 1e-6 relative; with and without the saved statistics."""
    layer, module = emitted
    args, dy = make_inputs(layer, shape, axis)
    dd = directions(args)
    got = module.double_backward(*dd, dy, *args, axis=axis)
    h = second_order_h(module, dd)
    arrays = [dy, *args]
    for k, g in zip([*range(1, len(arrays)), 0], got):
        assert g.shape == np.shape(arrays[k])
        assert relative_error(g, central_difference(h, arrays, k, 1.0, axis=axis)) < 1e-6, (k, layer.name)
    _, saved = module.forward(*args, axis=axis, return_saved=True)
    again = module.double_backward(*dd, dy, *args, axis=axis, saved=saved)
    assert all(np.allclose(a, b, rtol=1e-13, atol=1e-13) for a, b in zip(got, again))


def test_double_backward_signature_and_result_order(emitted):
    layer, module = emitted
    import inspect

    names = list(inspect.signature(module.double_backward).parameters)
    inputs = list(layer.differentiable)
    assert names[:2 * len(inputs) + 1] == [*("dd" + k for k in inputs), "dy", *inputs]
    assert names[-3:] == ["axis", "saved", "out"]
    assert list(module.SECOND_ORDER) == [*("d" + k for k in inputs), "ddy"]


def test_double_backward_in_float32_keeps_the_dtype(emitted):
    layer, module = emitted
    args, dy = make_inputs(layer, (64, 3), 0)
    dd = directions(args)
    exact = module.double_backward(*dd, dy, *args)
    low = module.double_backward(*(a.astype(np.float32) for a in [*dd, dy, *args]))
    assert all(g.dtype == np.float32 for g in low)
    assert all(relative_error(a, b) < 1e-4 for a, b in zip(low, exact))


# --- against PyTorch --------------------------------------------------------------------------


def _torch_second(torch, f, inputs, dy, dd):
    """torch's gradients of h = Σ_k <dd_k, ∂(Σ dy·f)/∂k>, for the inputs and dy."""
    leaves = [torch.tensor(a, requires_grad=True) for a in [*inputs, dy]]
    y = f(*leaves[:-1])
    grads = torch.autograd.grad(y, leaves[:-1], leaves[-1], create_graph=True)
    h = sum((g * torch.tensor(d)).sum() for g, d in zip(grads, dd))
    out = torch.autograd.grad(h, leaves, allow_unused=True)
    return [np.zeros(np.shape(a)) if g is None else g.detach().numpy() for g, a in zip(out, [*inputs, dy])]


TORCH_CASES = [
    ("derivations/batchnorm.toml", (7, 3), 0), ("derivations/batchnorm.toml", (4, 3, 2, 2), (0, 2, 3)),
    ("derivations/layernorm.toml", (3, 7), -1), ("derivations/layernorm.toml", (2, 3, 4), -1),
    ("derivations/rmsnorm.toml", (3, 7), -1),
]


@pytest.mark.parametrize("path, shape, axis", TORCH_CASES)
def test_double_backward_against_torch(path, shape, axis):
    torch = pytest.importorskip("torch", reason="torch is not installed: the comparison with PyTorch's double "
                                                "backward is skipped (the finite-difference tests still run)")
    F = torch.nn.functional
    layer = symbn.load(ROOT / path)
    module = load_module(layer)
    args, dy = make_inputs(layer, shape, axis)
    eps = float(layer.inputs["eps"].default)
    if layer.name == "batchnorm":
        f = lambda x, g, b: F.batch_norm(x, None, None, g, b, training=True, eps=eps)
    elif layer.name == "layernorm":
        f = lambda x, g, b: F.layer_norm(x, (shape[-1],), g, b, eps=eps)
    else:
        if not hasattr(F, "rms_norm"):
            pytest.skip(f"torch {torch.__version__} has no F.rms_norm")
        f = lambda x, g: F.rms_norm(x, (shape[-1],), g, eps=eps)
    dd = directions(args)
    want = _torch_second(torch, f, args, dy, dd)
    got = module.double_backward(*dd, dy, *args, axis=axis)
    for g, w in zip(got, want):
        assert g.shape == w.shape
        assert relative_error(g, w) < 1e-10


# --- certification ----------------------------------------------------------------------------

WRONG_DY = BATCHNORM_TEXT.replace('dy    = "gamma*ivar*(ddx - mean(ddx) - xhat*mean(ddx*xhat)) + ddgamma*xhat + ddbeta"',
                                  'dy    = "gamma*ivar*(ddx - mean(ddx) - xhat*mean(ddx*xhat)) + ddgamma*xhat"')


def test_the_right_form_is_emitted_and_its_twin_without_ddbeta_is_refused():
    assert WRONG_DY != BATCHNORM_TEXT
    assert "def double_backward(ddx, ddgamma, ddbeta, dy, x, gamma, beta, *, eps=1e-05" in emit_module(symbn.load(BATCHNORM))
    with pytest.raises(NotCertified, match=r"second-order closed form of ∂h/∂dy.*not proved.*refuted at N=") as info:
        emit_module(symbn.loads(WRONG_DY, "wrong.toml"))
    assert info.value.verdict == "refuted"


def test_a_wrong_emitted_second_order_formula_is_refused(monkeypatch):
    """The fast form is proved too: a rearranger bug cannot reach the printed module."""
    real = second.fast_forms

    def wrong(layer, formulas=None, kinds=None):
        forms = real(layer, formulas, kinds)
        return {**forms, "gamma": forms["gamma"] + " + 0*ivar + ddgamma"}

    monkeypatch.setattr(second, "fast_forms", wrong)
    with pytest.raises(NotCertified, match=r"emitted second-order formula of ∂h/∂gamma.*nothing was emitted"):
        emit_module(symbn.load(BATCHNORM))


def test_a_missing_second_order_form_is_refused():
    layer = symbn.load(BATCHNORM)
    layer = replace(layer, second_order={k: v for k, v in layer.second_order.items() if k != "dy"})
    with pytest.raises(NotCertified, match=r"\[second_order\] has no closed form for dy") as info:
        emit_module(layer)
    assert info.value.verdict == "missing"


def test_a_file_without_second_order_has_no_double_backward():
    layer = symbn.load(ROOT / "derivations/groupnorm.toml")
    module = load_module(layer)
    assert not hasattr(module, "double_backward") and not hasattr(module, "SECOND_ORDER")
    assert f"No double_backward: {layer.path} has no [second_order]" in module.__doc__.replace("\n", " ")


def test_emit_command_refuses_a_wrong_second_order_form(tmp_path):
    """As for a wrong first-order form: nothing on stdout, 'not emitted' and exit 1."""
    path = tmp_path / "wrong.toml"
    path.write_text(WRONG_DY)
    code, out, err = run("emit", str(path))
    assert code == 1 and out == "" and "not emitted" in err and "∂h/∂dy" in err and "Traceback" not in err
