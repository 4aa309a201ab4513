"""Derivation files: what loads, and one clear message for everything that does not."""

from fractions import Fraction

import pytest

import symbn
from symbn.lang.derivation import SpecError, loads

GOOD = '''
[layer]
name = "tiny"
stages = ["mu = mean(x)", "xmu = x - mu", "y = gamma*xmu"]
output = "y"

[inputs]
x = { kind = "row" }
gamma = { kind = "scalar", latex = "\\\\gamma" }
eps = { kind = "constant", positive = true, default = 1e-5 }

[closed_form]
x = "gamma*(dy - mean(dy))"
gamma = "sum(dy*xmu)"
'''


def test_a_good_file_loads():
    layer = loads(GOOD, "tiny.toml")
    assert layer.differentiable == ("x", "gamma") and layer.constants == ("eps",)
    assert layer.inputs["eps"].default == Fraction(1, 100000)
    assert layer.graph.stages == ("mu", "xmu", "y") and layer.output_kind == "row"
    assert layer.latex_names["gamma"] == "\\gamma"


def broken(old: str, new: str) -> str:
    assert old in GOOD
    return GOOD.replace(old, new)


CASES = [
    ("malformed TOML", GOOD + "\n[layer\n", "", "not valid TOML"),
    ("unknown name", broken("y = gamma*xmu", "y = gamma*xmv"), "layer.stages[2]", "unknown name 'xmv'"),
    ("used before defined", broken('"mu = mean(x)", "xmu = x - mu"', '"xmu = x - mu", "mu = mean(x)"'), "layer.stages[0]", "earlier stage"),
    ("duplicate stage", broken('"xmu = x - mu",', '"xmu = x - mu", "xmu = x",'), "layer.stages[2]", "defined twice"),
    ("unknown function", broken("mean(x)", "median(x)"), "layer.stages[0]", "unknown function 'median'"),
    ("arity of mean", broken("mean(x)", "mean(x, 2)"), "layer.stages[0]", "exactly one argument"),
    ("arity of sum", broken('sum(dy*xmu)', 'sum()'), "closed_form.gamma", "exactly one argument"),
    ("unknown kind", broken('kind = "scalar"', 'kind = "matrix"'), "inputs.gamma.kind", "unknown kind 'matrix'"),
    ("closed form for no input", GOOD + 'delta = "dy"\n', "closed_form.delta", "not a differentiable input"),
    ("closed form for a constant", GOOD + 'eps = "dy"\n', "closed_form.eps", "not a differentiable input"),
    ("division by zero", broken("y = gamma*xmu", "y = gamma*xmu/(2 - 2)"), "layer.stages[2]", "division by a constant that is zero"),
    ("attribute access", broken("gamma*(dy - mean(dy))", "gamma.__class__"), "closed_form.x", "attribute access"),
    ("subscript", broken("gamma*(dy - mean(dy))", "x[0]"), "closed_form.x", "subscripts"),
    ("lambda", broken("gamma*(dy - mean(dy))", "(lambda: 0)()"), "closed_form.x", "only sqrt/exp/log/mean/sum"),
    ("__import__", broken("gamma*(dy - mean(dy))", "__import__('os')"), "closed_form.x", "unknown function '__import__'"),
    ("row for a scalar", broken('sum(dy*xmu)', 'dy*xmu'), "closed_form.gamma", "reduce it with sum"),
    ("output not a stage", broken('output = "y"', 'output = "x"'), "layer.output", "not a stage"),
    ("missing stages", broken('stages = ["mu = mean(x)", "xmu = x - mu", "y = gamma*xmu"]', ""), "layer.stages", "expected a list"),
    ("unknown table", GOOD + "[extra]\na = 1\n", "extra", "unknown table"),
    ("unknown input key", broken('x = { kind = "row" }', 'x = { kind = "row", shape = 3 }'), "inputs.x.shape", "unknown key"),
    ("stage named like an input", broken("mu = mean(x)", "x = mean(x)"), "layer.stages[0]", "name of an input"),
    ("reserved name", broken("mu = mean(x)", "N = mean(x)"), "layer.stages[0]", "reserved"),
    ("adjoint clash", broken('"xmu = x - mu",', '"xmu = x - mu", "dmu = mu",'), "layer.stages[2]", "clashes"),
    ("stage not a string", broken('"mu = mean(x)"', "3"), "layer.stages[0]", "as a string"),
    ("default on a row", broken('x = { kind = "row" }', 'x = { kind = "row", default = 1 }'), "inputs.x.default", "only constants"),
    ("negative default of a positive", broken("default = 1e-5", "default = -1"), "inputs.eps.default", "declared positive"),
    # found by review: each once read dy or dx as the wrong adjoint, or ignored a sign
    ("an input named y", broken('x = { kind = "row" }', 'x = { kind = "row" }\ny = { kind = "scalar" }'),
     "inputs.y", "the adjoint 'dy'"),
    ("a stage named y, not the output", broken('"y = gamma*xmu"]\noutput = "y"', '"y = gamma*xmu", "out = y"]\noutput = "out"'),
     "layer.stages[2]", "a stage named 'y' that is not the output"),
    ("inputs x and dx", broken('x = { kind = "row" }', 'x = { kind = "row" }\ndx = { kind = "scalar" }'),
     "inputs.dx", "clashes with 'x'"),
    ("a positive row", broken('x = { kind = "row" }', 'x = { kind = "row", positive = true }'),
     "inputs.x.positive", "a row input cannot be declared positive"),
]


@pytest.mark.parametrize("what, text, key, problem", CASES, ids=[c[0] for c in CASES])
def test_bad_files_get_one_clear_message(what, text, key, problem):
    with pytest.raises(SpecError) as err:
        loads(text, "bad.toml")
    message = str(err.value)
    assert message.startswith(f"bad.toml: {key}" if key else "bad.toml:"), message
    assert problem in message, message
    assert "\n" not in message


def test_missing_file():
    with pytest.raises(SpecError, match="no such file"):
        symbn.load("does/not/exist.toml")


def test_claims_are_read():
    text = GOOD + '''
[[claims]]
id = "c1"
wrt = "mu"
formula = "-sum(dxmu)"
expect = "correct"
'''
    (claim,) = loads(text, "c.toml").claims
    assert (claim.id, claim.wrt, claim.expect) == ("c1", "mu", "correct")


@pytest.mark.parametrize(
    "claim, key, problem",
    [
        ('id = "c"\nwrt = "nothing"\nformula = "dy"', "claims.c.wrt", "neither a differentiable input nor a stage"),
        ('id = "c"\nwrt = "x"\nformula = "dy"\nexpect = "maybe"', "claims.c.expect", "expected \"correct\" or \"wrong\""),
        ('id = "c"\nwrt = "x"\nformula = "dq"', "claims.c.formula", "unknown name 'dq'"),
    ],
)
def test_bad_claims(claim, key, problem):
    with pytest.raises(SpecError) as err:
        loads(GOOD + "\n[[claims]]\n" + claim + "\n", "bad.toml")
    assert str(err.value).startswith(f"bad.toml: {key}") and problem in str(err.value)
