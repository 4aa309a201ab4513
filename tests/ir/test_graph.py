"""The graph IR: lowering, kinds, the checker, the printer."""

import pytest

from symbn.ir.graph import format_graph
from symbn.ir.primitives import CONSTANT, ROW, SCALAR
from symbn.lang.expr import ExprError
from symbn.lang.lower import build

INPUTS = {"x": ROW, "gamma": SCALAR, "eps": CONSTANT}


def stages(*texts):
    from symbn.lang.expr import parse_assignment

    return [parse_assignment(t) for t in texts]


def test_kinds_follow_broadcasting_and_reductions():
    g = build(INPUTS, stages("mu = mean(x)", "xmu = x - mu", "s = gamma*mu + eps", "y = xmu*s"), "y")
    assert [g.kinds[n] for n in ("mu", "xmu", "s", "y")] == [SCALAR, ROW, SCALAR, ROW]


def test_compound_stages_keep_their_stage_name():
    g = build(INPUTS, stages("y = gamma*x + 1"), "y")
    assert [e.prim.name for e in g.eqns] == ["mul", "add"]
    assert {e.stage for e in g.eqns} == {"y"} and g.eqns[-1].out == "y"


def test_a_plain_copy_is_an_id_equation():
    g = build(INPUTS, stages("y = x"), "y")
    assert [(e.out, e.prim.name, e.args) for e in g.eqns] == [("y", "id", ("x",))]


@pytest.mark.parametrize(
    "text, problem",
    [
        ("y = z + x", "unknown name 'z'"),
        ("y = mean(gamma)", "constant over the slice"),
        ("y = mean(mean(x))", "constant over the slice"),
        ("y = x/0", "division by a constant that is zero"),
        ("y = x/(1 - 1)", "division by a constant that is zero"),
        ("y = x*0**-1", "0 raised to a negative power"),
    ],
)
def test_the_checker_refuses(text, problem):
    with pytest.raises(ExprError) as err:
        build(INPUTS, stages(text), "y")
    assert problem in str(err.value)


def test_printer():
    g = build(INPUTS, stages("mu = mean(x)", "y = (x - mu)*gamma"), "y")
    assert format_graph(g) == (
        "inputs  x: row, gamma: scalar, eps: constant\n"
        "  mu : scalar = mean(x)\n"
        "  %2 : row = x - mu\n"
        "  y : row = %2 * gamma\n"
        "output  y"
    )
