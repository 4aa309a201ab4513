"""The code reader: what it reads, how (NumPy's semantics over one slice), and the one-line
errors for what it does not read."""

from __future__ import annotations

import functools

import pytest

import symbn
from symbn.ir.graph import format_eqn
from symbn.lang.code import code_claim
from symbn.lang.python import BindError, CodeError

from ...files import BATCHNORM, ROOT

BN = symbn.load(BATCHNORM)
LN = symbn.load(ROOT / "derivations" / "layernorm.toml")


def read(code: str, layer=BN, **kw):
    kw.setdefault("bind", {"dout": "dy"})
    kw.setdefault("returns", ["x"])
    return code_claim(layer, code, **kw)


def text(claim, wrt="x") -> list[str]:
    return [format_eqn(e) for e in claim.formulas[wrt].eqns]


def test_assignment_tuples_and_exact_numbers():
    c = read("def f(dout, xhat):\n    a, b = 0.1, 2\n    return a * b * dout\n")
    assert text(c) == ["%11 : row = 1/5 * dy"]  # 0.1*2 folded exactly


def test_augmented_assignment_changes_the_array_in_place_as_numpy_does():
    """b = a; b += 1 changes a too (the same array), so a returned afterwards is a + 1."""
    c = read("def f(dout):\n    a = dout * 1\n    b = a\n    b += dout\n    return a\n")
    assert text(c)[-1] == "%12 : row = %11 + dy"
    plain = read("def f(dout):\n    a = dout * 1\n    b = a * 1\n    b += dout\n    return a\n")
    assert text(plain) == ["%11 : row = dy * 1"]


def test_shape_and_constant_arrays():
    c = read("def f(dout, dvar):\n    N, D = dout.shape\n    return 1./N * np.ones((N, D)) * dvar\n",
             bind={"dout": "dy", "dvar": "dvar"})
    assert text(c) == ["%11 : constant = 1 / N", "%12 : constant = %11 * 1", "%13 : scalar = %12 * dvar"]


def test_reductions_over_the_slice_and_keepdims():
    c = read("def f(dout):\n    return dout - dout.mean(axis=0, keepdims=True) - np.sum(dout, 0) / dout.shape[0]\n")
    assert [e.split(" = ")[1] for e in text(c)] == ["mean(dy)", "dy - %11", "sum(dy)", "%13 / N", "%12 - %14"]


def test_var_is_numpys_by_default_and_ddof_is_read():
    c = read("def f(dout, x):\n    return dout * np.var(x, axis=0, ddof=1)\n", returns=["x"])
    assert any("N - 1" in e for e in text(c))
    c = read("def f(dout, x):\n    return dout * x.var(0)\n")
    assert not any("N - 1" in e for e in text(c))


def test_methods_whose_meaning_differs_between_numpy_and_torch_need_a_keyword():
    both = "import numpy as np\nimport torch\n\ndef f(dout, x):\n    return dout * x.var(0)\n"
    with pytest.raises(CodeError, match=r"<code>:5:19: \.var\(\) means ddof=0 on a NumPy array and unbiased=True"):
        read(both)
    read(both.replace("x.var(0)", "x.var(0, unbiased=False)"))


def test_helpers_are_read_and_recursion_is_refused():
    c = read("def g(a, k=2):\n    return a * k\n\ndef f(dout):\n    return g(dout)\n", function="f")
    assert text(c) == ["%11 : row = dy * 2"]
    with pytest.raises(CodeError, match="nested more than 16 deep"):
        read("def g(a):\n    return g(a)\n\ndef f(dout):\n    return g(dout)\n", function="f")


@pytest.mark.parametrize("code, message", [
    ("def f(dout):\n    for i in range(3):\n        dout = dout * 2\n    return dout\n", ":2:5: loops are not supported"),
    ("def f(dout):\n    if dout:\n        pass\n    return dout\n", ":2:5: if statements are not supported"),
    ("def f(dout):\n    import os\n    return dout\n", ":2:5: imports inside the function are not supported"),
    ("def f(dout):\n    return dout[0]\n", ":2:12: indexing an array (x[...]) is not supported"),
    ("def f(dout):\n    return dout @ dout\n", ":2:12: the operator MatMult is not supported"),
    ("def f(dout):\n    return np.linalg.norm(dout)\n", ":2:12: numpy.linalg.norm() is not supported"),
    ("def f(dout):\n    return open('x')\n", ":2:12: name 'open' is not defined"),
    ("def f(dout):\n    return dout.T\n", ":2:12: the attribute .T of an array is not supported"),
    ("def f(dout):\n    x = lambda a: a\n    return dout\n", ":2:9: lambdas are not supported"),
    ("def f(dout):\n    return y\n", ":2:12: name 'y' is not defined"),
    ("def f(dout):\n    dx += dout\n    return dx\n", ":2:5: 'dx' is used before it is assigned"),
    ("def f(dout):\n    return dout ** 100\n", "the exponent 100 is larger than 64"),
    ("def f(dout, cache):\n    return cache[0]\n", "symbn reads the entries of 'cache' by name"),
    ("def f(dout, cache):\n    return cache * 2\n", "'cache' is a parameter that is not a quantity of the layer"),
    ("def f(dout, cache):\n    a = cache['stdinv']\n    return a * dout\n",
     ":3:12: 'stdinv' (cache['stdinv'], line 2) is not a quantity of the layer: bind it with --bind stdinv=NAME"),
    ("def f(dout):\n    return np.sum(dout, axis=2)\n", "axis 2 is out of range for an array of rank 2"),
    ("@decorate\ndef f(dout):\n    return dout\n", "decorators are not supported"),
    ("def f(dout):\n    print(dout)\n    return dout\n", "a statement whose value is not kept is not supported"),
    ("def f(dout):\n    return\n", "return without a value"),
    ("def f(dout:\n", "not valid Python"),
])
def test_what_is_not_read_is_one_line_with_line_and_column(code, message):
    with pytest.raises(CodeError) as err:
        read(code)
    assert message in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("<code>:")


def test_a_statistic_over_another_axis_inside_the_slice_computation_is_an_error():
    code = "def f(dout, x):\n    m = x.mean(axis=1, keepdims=True)\n    return dout * (x - m)\n"
    with pytest.raises(CodeError, match=r"<code>:3:20: line 2 reduces over axis 1, but the slice is axis 0"):
        read(code)


def test_a_sum_over_other_slices_is_checked_per_slice_and_said():
    c = read("def f(dout, xhat):\n    return np.sum(dout * xhat, axis=0)\n", layer=LN, axis=-1, returns=["gamma"])
    assert c.program.returns[0].across == (2, 0)
    assert "symbn checks the summand per slice" in c.program.notes[0]


def test_the_slice_size_is_n_and_another_axis_length_is_refused():
    c = read("def f(dout):\n    B, N = dout.shape\n    return dout / N\n", layer=LN, axis=-1, returns=["beta"])
    assert text(c, "beta")[-1].endswith("dy / N")
    with pytest.raises(CodeError, match="the length of axis 0 counts slices"):
        read("def f(dout):\n    B, N = dout.shape\n    return dout / B\n", layer=LN, axis=-1, returns=["beta"])


def test_returns_and_bind_are_checked():
    with pytest.raises(CodeError, match=r"f returns 1 value\(s\), and the layer has 3 gradients"):
        read("def f(dout):\n    return dout\n", returns=None)
    with pytest.raises(CodeError, match="--returns names 'zeta'"):
        read("def f(dout):\n    return dout\n", returns=["zeta"])
    with pytest.raises(BindError, match="'dyy' is not a quantity of the layer"):
        read("def f(dout):\n    return dout\n", bind={"dout": "dyy"})


CALLS: list = []


def _plain_backward(dout, gamma):  # pragma: no cover - read by symbn, never run
    return dout * gamma


def _traced(fn):
    @functools.wraps(fn)
    def wrapper(*args):  # pragma: no cover - a call would be recorded
        CALLS.append(args)
        return fn(*args)

    return wrapper


def test_a_function_object_is_read_from_its_file_never_called():
    c = read(_traced(_plain_backward))
    assert CALLS == [] and text(c) == ["%11 : row = dy * gamma"]
    with pytest.raises(CodeError, match="a lambda"):
        read(lambda dout: dout)


def test_a_path_spec_is_read_relative_to_base(tmp_path):
    (tmp_path / "bw.py").write_text("import numpy as xp\n\ndef f(dout):\n    return xp.sum(dout, axis=0)\n")
    c = code_claim(BN, "bw.py:f", base=tmp_path, bind={"dout": "dy"}, returns=["beta"])
    assert text(c, "beta") == ["%11 : scalar = sum(dy)"]
    with pytest.raises(CodeError, match="no function 'g' at the top level"):
        code_claim(BN, "bw.py:g", base=tmp_path, returns=["beta"])
    with pytest.raises(CodeError, match="no such file"):
        code_claim(BN, "nope.py:f", base=tmp_path)
