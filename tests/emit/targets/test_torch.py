"""The torch target on every derivation file: the operator's contract (opcheck, gradcheck, torch.compile)
and agreement with the NumPy module; for the files with [second_order], the double backward's (gradgradcheck,
opcheck, the NumPy module's double_backward, third order refused)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import symbn
from symbn.emit.targets import load
from symbn.emit.targets.arrays import Arrays
from symbn.lang.expr import parse

from ...files import ROOT
from ..data import FILES
from .cases import CASES, FLOAT64, Case, agree, inputs, keywords, reference
from .conftest import loaded

torch = pytest.importorskip("torch", reason="torch is not installed (pip install 'symbn[torch]')")

SECOND = [f for f in FILES if symbn.load(ROOT / f).second_order]
torch_second_case = loaded("torch", SECOND)
# shape, axis: 2-D both ways, 3-D over two axes, 4-D over (0, 2, 3) (BatchNorm2d's), a slice of one value (N = 1)
SECOND_SHAPES = [((5, 3), 0), ((3, 5), -1), ((2, 3, 4), (0, 2)), ((4, 3, 2, 2), (0, 2, 3)), ((1, 3), 0)]


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


def test_an_axis_or_a_constant_it_cannot_take_is_refused_in_words(torch_case):
    """axis 0.0 or None, and an array for eps: the operator says what is wrong and names it (it said "'float'
    object is not iterable", and NumPy's "only 0-dimensional arrays can be converted")."""
    layer, module, _ = torch_case
    if layer.name != "batchnorm":
        pytest.skip("checked once, on batchnorm")
    tensors, _ = doubles(layer)
    for axis in (0.0, None, (0.0,)):
        with pytest.raises(ValueError, match="axis must be an int or a non-empty tuple of ints"):
            module.forward(*tensors, axis=axis)
    with pytest.raises(TypeError, match=r"^eps must be one real number, got ndarray \(3,\)"):
        module.forward(*tensors, eps=np.full(3, 1e-5))


def test_gradcheck_in_float64(torch_case):
    layer, module, _ = torch_case
    for shape, axis in (((5, 3), 0), ((2, 3, 4), (0, 2))):
        tensors, _ = doubles(layer, shape, axis)
        assert torch.autograd.gradcheck(lambda *a, axis=axis: module.forward(*a, axis=axis), tensors)


def test_double_backward_says_the_file_has_no_second_order_formulas():
    layer = symbn.load(ROOT / "derivations/groupnorm.toml")
    assert not layer.second_order
    module = load(layer, "torch", time_limit=None)
    tensors, _ = doubles(layer)
    path = re.escape(str(layer.path))
    message = (rf"double backward of symbn::groupnorm is not available: {path} has no \[second_order\] closed "
               rf"forms, and symbn emits only formulas it has proved.*`symbn prove {path} --order 2`")
    with pytest.raises(NotImplementedError, match=message):
        torch.autograd.gradgradcheck(lambda *a: module.forward(*a), tensors)
    assert not hasattr(module, "_op_double_backward") and "symbn::groupnorm_double_backward" not in module.__doc__


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


def test_the_files_with_second_order_are_the_norms_and_eval_mode():
    assert SECOND == ["derivations/batchnorm.toml", "derivations/batchnorm_eval.toml", "derivations/layernorm.toml",
                      "derivations/rmsnorm.toml"]


@pytest.mark.parametrize("shape, axis", SECOND_SHAPES)
def test_gradgradcheck_in_float64(torch_second_case, shape, axis):
    layer, module, _ = torch_second_case
    tensors, _ = doubles(layer, shape, axis)
    assert torch.autograd.gradgradcheck(lambda *a: module.forward(*a, axis=axis), tensors)


def second_by_autograd(module, tensors, dy, dirs, axis):
    """dh/dw for the inputs and dy, h = Σ_k <dd_k, g_k> with g_k torch's backward through the operator
    (a direction None: g_k left out of h, so the backward's autograd gets None for it)."""
    dy = torch.tensor(dy, requires_grad=True)
    y = module.forward(*tensors, axis=axis)
    grads = torch.autograd.grad(y, tensors, dy, create_graph=True)
    h = sum((torch.as_tensor(d) * g).sum() for d, g in zip(dirs, grads) if d is not None)
    return [g.detach().numpy() for g in torch.autograd.grad(h, [*tensors, dy])]


def numpy_double(numpy_module, dirs, dy, args, axis):
    """The NumPy module's double_backward in float64, and in extended precision (np.longdouble) from the same data
    (where a result is 0 up to rounding, N = 1, agreement is measured against it: see cases.ACCURATE)."""
    same = numpy_module.double_backward(*dirs, dy, *args, axis=axis)
    wide = [np.asarray(a, np.longdouble) for a in [*dirs, dy, *args]]
    return list(same), list(numpy_module.double_backward(*wide, axis=axis))


@pytest.mark.parametrize("shape, axis", SECOND_SHAPES)
def test_double_backward_agrees_with_the_numpy_module(torch_second_case, shape, axis):
    layer, module, numpy_module = torch_second_case
    tensors, dy = doubles(layer, shape, axis)
    args = [t.detach().numpy() for t in tensors]
    rng = np.random.default_rng(3)
    dirs = [rng.standard_normal(a.shape) for a in args]
    names = [*("d" + k for k in layer.differentiable), "ddy"]
    want, exact = numpy_double(numpy_module, dirs, dy, args, axis)
    got = second_by_autograd(module, tensors, dy, dirs, axis)
    assert [g.shape for g in got] == [w.shape for w in want]
    agree(got, want, FLOAT64, names, exact)
    # only g_x in h: the backward's other outputs get no gradient, which the double backward takes as zero
    only = [dirs[0], *(None for _ in dirs[1:])]
    want, exact = numpy_double(numpy_module, [np.zeros_like(a) if d is None else d for a, d in zip(args, only)], dy,
                               args, axis)
    agree(second_by_autograd(module, tensors, dy, only, axis), want, FLOAT64, names, exact)


def double_arguments(layer, module, axis=0):
    """Arguments of symbn::<layer>_double_backward: directions, dy, inputs, saved statistics, constants, axis."""
    tensors, dy = doubles(layer, axis=axis)
    tensors = [t.detach() for t in tensors]
    constants = [float(i.default) for i in layer.inputs.values() if i.kind == "constant"]
    saved = module._op(*tensors, *constants, [axis])[1:]
    dirs = [torch.randn_like(t) for t in tensors]
    return [*dirs, torch.as_tensor(dy), *tensors, *saved, *constants, [axis]]


def test_the_double_backward_operator_passes_opcheck(torch_second_case):
    layer, module, _ = torch_second_case
    result = torch.library.opcheck(module._op_double_backward, tuple(double_arguments(layer, module)))
    assert set(result.values()) == {"SUCCESS"}, result


def test_the_backward_operator_passes_opcheck_with_its_autograd(torch_second_case):
    """With inputs that require grad, opcheck differentiates symbn::<layer>_backward: through the double backward."""
    layer, module, _ = torch_second_case
    k = len(layer.differentiable)
    args = double_arguments(layer, module)[k:]  # dy, inputs, saved, constants, axis
    args = [a.clone().requires_grad_(j <= k) if isinstance(a, torch.Tensor) else a for j, a in enumerate(args)]
    result = torch.library.opcheck(module._op_backward, tuple(args))
    assert set(result.values()) == {"SUCCESS"}, result


def test_third_order_is_refused_with_a_clear_error(torch_second_case):
    layer, module, _ = torch_second_case
    tensors, dy = doubles(layer)
    grads = torch.autograd.grad(module.forward(*tensors), tensors, torch.as_tensor(dy), create_graph=True)
    again = torch.autograd.grad(sum(g.square().sum() for g in grads), tensors, create_graph=True)
    message = f"symbn::{layer.name}_double_backward cannot be differentiated again: third order is not available"
    with pytest.raises(NotImplementedError, match=message):
        torch.autograd.grad(sum(g.sum() for g in again), tensors)


def altered(layer, module, target: str, text: str, tag: str):
    """The module with the double backward's formula for ``target`` replaced by ``text`` (printed as the emitter
    prints formulas), under operator names of its own."""
    source = module.SOURCE.replace(f'"symbn::{layer.name}', f'"symbn::{layer.name}_{tag}')
    double = source.index("def _double_backward(")
    line = re.compile(rf"^    d{target} = .*$", re.MULTILINE)
    found = line.search(source, double)
    assert found, f"no d{target} line in _double_backward"
    new = f"    d{target} = {Arrays(layer, 'torch').expr(parse(text))}"
    return load(layer, "torch", source=source[:found.start()] + new + source[found.end():])


@pytest.mark.parametrize("target, text, tag, right", [
    # PyTorch issue #186256's pattern: the first backward differentiated with mu and ivar held constant
    ("x", "-gamma*ivar**3*(ddx*mean(dy*xmu) + dy*mean(ddx*xmu)) + ddgamma*dy*ivar", "frozen", False),
    # the file's ddy with its last term, ddbeta, dropped; and whole (the alteration itself breaks nothing)
    ("dy", "gamma*ivar*(ddx - mean(ddx) - ivar**2*xmu*mean(ddx*xmu)) + ddgamma*ivar*xmu", "dropped", False),
    ("dy", "gamma*ivar*(ddx - mean(ddx) - ivar**2*xmu*mean(ddx*xmu)) + ddgamma*ivar*xmu + ddbeta", "whole", True),
])
def test_gradgradcheck_fails_on_a_wrong_double_backward(target, text, tag, right):
    """The twin of test_gradgradcheck_in_float64: the same check on BatchNorm's module with one second-order
    formula altered in its source fails, where the emitted one passes."""
    layer = symbn.load(ROOT / "derivations/batchnorm.toml")
    module = load(layer, "torch", time_limit=None)
    changed = altered(layer, module, target, text, tag)
    for shape, axis in (((5, 3), 0), ((4, 3, 2, 2), (0, 2, 3))):
        tensors, _ = doubles(layer, shape, axis)
        assert torch.autograd.gradgradcheck(lambda *a, axis=axis: module.forward(*a, axis=axis), tensors)
        assert right == torch.autograd.gradgradcheck(lambda *a, axis=axis: changed.forward(*a, axis=axis), tensors,
                                                     raise_exception=False)
