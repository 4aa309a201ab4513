"""The torch target on every derivation file: the operator's contract (opcheck, gradcheck, torch.compile)
and agreement with the NumPy module."""

from __future__ import annotations

import numpy as np
import pytest

from .cases import CASES, Case, agree, inputs, keywords, reference

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'symbn[torch]')")


def gradients(module, args, dy, kw):
    tensors = [torch.tensor(a, requires_grad=True) for a in args]
    y = module.forward(*tensors, **kw)
    return [y.detach().numpy(), *(g.numpy() for g in torch.autograd.grad(y, tensors, torch.as_tensor(dy)))]


def doubles(layer, shape=(5, 3), axis=0, seed=1):
    args, dy = inputs(layer, Case("gradcheck", shape, axis, np.float64), seed)
    return [torch.tensor(a, requires_grad=True) for a in args], dy


@pytest.mark.parametrize("case", CASES, ids=str)
def test_agrees_with_the_numpy_module(torch_case, case):
    layer, module, numpy_module = torch_case
    args, dy = inputs(layer, case)
    kw = keywords(layer, case)
    same, exact = reference(numpy_module, case, args, dy, kw)
    got = gradients(module, args, dy, kw)
    names = ["y", *module.GRADIENTS]
    agree(got, same, case.tolerance, names, exact)
    if case.kind == "offset":
        agree(got, exact, 2e-6, names)


def test_the_operator_passes_opcheck(torch_case):
    layer, module, _ = torch_case
    tensors, _ = doubles(layer)
    constants = [float(i.default) for i in layer.inputs.values() if i.kind == "constant"]
    result = torch.library.opcheck(module._op, (*tensors, *constants, [0]))
    assert set(result.values()) == {"SUCCESS"}, result


def test_gradcheck_in_float64(torch_case):
    layer, module, _ = torch_case
    for shape, axis in (((5, 3), 0), ((2, 3, 4), (0, 2))):
        tensors, _ = doubles(layer, shape, axis)
        assert torch.autograd.gradcheck(lambda *a, axis=axis: module.forward(*a, axis=axis), tensors)


def test_double_backward_says_it_needs_the_second_order_formulas(torch_case):
    layer, module, _ = torch_case
    tensors, _ = doubles(layer)
    with pytest.raises(NotImplementedError, match="second-order formulas"):
        torch.autograd.gradgradcheck(lambda *a: module.forward(*a), tensors)


@pytest.mark.filterwarnings("ignore:`torch.jit.script_method` is deprecated:DeprecationWarning")  # torch's own
def test_usable_under_torch_compile(torch_case):
    layer, module, _ = torch_case
    tensors, dy = doubles(layer)
    weights = torch.as_tensor(dy)
    torch._dynamo.reset()  # one code object below for every file: without a reset, the 9th is dynamo's recompile limit

    def loss(*a):
        return (module.forward(*a) * weights).sum()

    eager = torch.autograd.grad(loss(*tensors), tensors)
    compiled = torch.compile(loss, fullgraph=True)
    got = torch.autograd.grad(compiled(*tensors), tensors)
    assert all(torch.allclose(a, b, rtol=1e-12, atol=1e-12) for a, b in zip(got, eager))
