"""Second order: the backward pass proved like a layer, every route for every N and N = 1..5,
wrong forms refuted with counterexamples re-checked by SymPy's diff twice on explicit symbols."""

import pytest
import sympy as sp

import symbn
from symbn.lang.expr import parse
from symbn.proof.claims import check_claims
from symbn.proof.report import PROVED, REFUTED
from symbn.proof.second import prove_second, second_order

from ..files import FILES
from ..oracle import formula_value, second_gradient

SECOND = [p for p in FILES if symbn.load(p).second_order]


@pytest.mark.parametrize("path", SECOND, ids=[p.stem for p in SECOND])
def test_every_route_and_closed_form_for_every_n(path):
    proof = prove_second(symbn.load(path))
    assert proof.verdict == PROVED, proof.table()
    routes = {r.route for r in proof.results} | {r.against for r in proof.results}
    assert {"direct", "forward", "reverse", "closed_form", "forward_over_forward"} <= routes


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("path", SECOND, ids=[p.stem for p in SECOND])
def test_every_route_at_each_small_n(path, n):
    proof = prove_second(symbn.load(path), n=n)
    assert proof.verdict == PROVED, proof.table()


def _mutants(formula: str):
    yield formula.replace("mean(", "sum(", 1)
    yield formula.replace("ivar", "sqrtvar", 1) if "ivar" in formula else formula.replace("irms", "rms", 1)
    yield f"2*({formula})"
    yield f"({formula})*(N + 1)/N"


@pytest.mark.parametrize("path", SECOND, ids=[p.stem for p in SECOND])
def test_changed_second_order_closed_forms_are_refuted_and_hold(path):
    layer = symbn.load(path)
    problem = second_order(layer)
    for wrt, closed in layer.second_order.items():
        if closed.text.strip() == "0":
            continue  # ∂h/∂beta: the first-order gradients do not depend on beta
        for text in _mutants(closed.text):
            if text == closed.text:
                continue
            formula = layer.second_order_formula(parse(text), "mutant", text)
            from symbn.proof.prover import check_formula

            result = check_formula(problem, wrt, formula, time_limit=None)
            assert result.verdict == REFUTED, (wrt, text)
            ce = result.counterexample
            truth = second_gradient(layer, ce.values, wrt, ce.n, ce.j)
            claimed = formula_value(layer, parse(text), ce.values, ce.n, ce.j)
            assert sp.simplify(truth - ce.lhs) == 0 and sp.simplify(claimed - ce.rhs) == 0
            assert sp.simplify(truth - claimed) != 0


def test_pytorch_double_backward_formulas_are_proved_and_frozen_statistics_refuted():
    report = check_claims(symbn.load("derivations/batchnorm.toml"))
    verdicts = {c.id: c.result.verdict for c in report.items if c.order == 2}
    assert verdicts == {
        "pytorch-batchnorm-double-backward-gI": PROVED,
        "pytorch-batchnorm-double-backward-gG": PROVED,
        "pytorch-batchnorm-double-backward-ggO": PROVED,
        "frozen-statistics-gI": REFUTED,
    }


def test_the_second_order_problem_has_the_backward_as_stages():
    layer = symbn.load("derivations/batchnorm.toml")
    problem = second_order(layer)
    assert problem.loss and problem.differentiable == ("x", "gamma", "beta", "dy")
    for name in ("dxhat", "dvar", "dmu", "dx", "dgamma", "dbeta", "h"):
        assert name in problem.graph.stages
    assert problem.inputs["ddx"].direction and not problem.inputs["ddx"].differentiable


def test_names_the_second_order_problem_needs_are_refused_clearly():
    layer = symbn.loads("""
[layer]
name = "taken"
stages = ["h = x*g", "y = h*h"]
output = "y"
[inputs]
x = { kind = "row" }
g = { kind = "scalar" }
""")
    with pytest.raises(symbn.SpecError, match="'h' is taken by the second-order problem"):
        second_order(layer)
