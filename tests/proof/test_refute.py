"""Refutation on balls at exact points of the domain; every counterexample re-checked independently."""

import pytest
import sympy as sp

import symbn
from symbn.lang.expr import BinOp, Call, parse, parse_assignment
from symbn.proof.claims import check_claims, check_one
from symbn.proof.counterexample import NOT_REAL
from symbn.proof.refute import Refuter
from symbn.proof.report import REFUTED

from ..files import FILES
from ..oracle import evaluate, formula_value, second_gradient, true_gradient

ZSCORE = """
[layer]
name = "zscore"
stages = ["mu = mean(x)", "xmu = x - mu", "sd = sqrt(sum(xmu**2)/(N - c))", "y = xmu/sd"]
output = "y"
[inputs]
x = { kind = "row" }
c = { kind = "constant" }
"""


def inside(layer, values, n) -> bool:
    """The oracle's own domain check: every stage evaluated exactly from its text; every
    sqrt and log of a positive number, every divisor non-zero (independent of symbn's engines)."""
    env = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in values.items()}
    for text in layer.stage_text.values():
        name, expr = parse_assignment(text)
        if not _defined(expr, env, n):
            return False
        env[name] = evaluate(expr, env, n)
    return True


def _defined(e, env, n) -> bool:
    nodes = [e]
    while nodes:
        node = nodes.pop()
        if isinstance(node, Call):
            nodes.append(node.arg)
            if node.fn in ("sqrt", "log"):
                value = evaluate(node.arg, env, n)
                if any(not (sp.sympify(v) > 0) for v in (value if isinstance(value, list) else [value])):
                    return False
        elif isinstance(node, BinOp):
            nodes += [node.left, node.right]
            if node.op == "/":
                value = evaluate(node.right, env, n)
                if any(sp.sympify(v) == 0 for v in (value if isinstance(value, list) else [value])):
                    return False
    return True


def assert_holds(layer, wrt, formula_text, ce, order=1):
    """The counterexample is inside the domain, lhs is the true gradient, rhs differs (or is not real)."""
    assert inside(layer, ce.values, ce.n)
    truth = (true_gradient if order == 1 else second_gradient)(layer, ce.values, wrt, ce.n, ce.j)
    assert abs(sp.N(truth - ce.lhs, 50)) < 1e-40
    claimed = sp.N(formula_value(layer, parse(formula_text), ce.values, ce.n, ce.j), 50)
    if ce.rhs == NOT_REAL:  # the claim takes the root or log of a negative number there
        env = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in ce.values.items()}
        for text in layer.stage_text.values():
            name, expr = parse_assignment(text)
            env[name] = evaluate(expr, env, ce.n)
        assert not _defined(parse(formula_text), env, ce.n)
    else:
        assert abs(claimed - sp.N(ce.rhs, 50)) < 1e-40 and abs(claimed - sp.N(truth, 50)) > 1e-20


def test_a_wrong_claim_in_the_constant_s_domain():
    """N - c > 0 wherever the layer is defined: the counterexample's c is drawn so."""
    layer = symbn.loads(ZSCORE)
    wrong = "-sum(dy*xmu)*sqrt(N - c)/(sd*sqrt(sum(xmu**2)))*2"
    (item,) = check_one(layer, "sd", formula=wrong).items
    ce = item.result.counterexample
    assert item.result.verdict == REFUTED and ce.n - ce.values["c"] > 0
    assert_holds(layer, "sd", wrong, ce)


def test_the_negative_of_the_truth_through_sqrt_minus_one_is_refuted_not_proved():
    layer = symbn.loads(ZSCORE)
    formula = "sum(dy*xmu)/sd*sqrt(N - c)*sqrt(-1)/sqrt(-sum(xmu**2))"
    (item,) = check_one(layer, "sd", formula=formula).items
    assert item.result.verdict == REFUTED and item.result.counterexample.rhs == NOT_REAL
    assert_holds(layer, "sd", formula, item.result.counterexample)


def test_points_are_inside_the_domain_and_square_roots_rational():
    layer = symbn.load("derivations/batchnorm.toml")
    refuter = Refuter(layer, seed=5)
    for n in (2, 3, 4):
        point = refuter.point(n)
        values = {k: [sp.Rational(a) for a in v] if isinstance(v, list) else sp.Rational(v) for k, v in point.values.items()}
        assert inside(layer, values, n)
        env = dict(values)
        for text in layer.stage_text.values():
            name, expr = parse_assignment(text)
            env[name] = evaluate(expr, env, n)
        assert env["sqrtvar"].is_Rational  # eps was chosen so that var + eps is a square


def test_no_point_at_a_size_outside_the_domain():
    """An unbiased variance divides by N - 1: there is no point at N = 1."""
    layer = symbn.loads(ZSCORE.replace("(N - c)", "(N - 1)").replace('c = { kind = "constant" }\n', ""))
    assert Refuter(layer).point(1) is None and Refuter(layer).point(2) is not None


CLAIMS = [(path, claim.id) for path in FILES for claim in symbn.load(path).claims if claim.expect == "wrong" and not claim.shards]


@pytest.mark.parametrize("path, claim_id", CLAIMS, ids=[f"{p.stem}:{c}" for p, c in CLAIMS])
def test_every_wrong_claim_in_the_files_is_refuted_inside_the_domain(path, claim_id):
    layer = symbn.load(path)
    report = check_claims(layer)
    (claim,) = [c for c in layer.claims if c.id == claim_id]
    for item in report.items:
        if item.id == claim_id:
            assert item.result.verdict == REFUTED
            assert_holds(layer, claim.wrt, claim.formula.text, item.result.counterexample, claim.order)


TRUE_DX = "gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))"


@pytest.mark.parametrize("formula", [f"{TRUE_DX} + 1e-300*dy", f"{TRUE_DX}*(1 + 1e-400*1e-400)"])
def test_a_difference_below_the_balls_precision_is_refuted_in_finer_balls(formula):
    """256-bit balls of the two sides overlap when they differ by 1e-300 of their size: the same
    points in finer balls separate them (without FINER this is `unknown`). The counterexample is
    re-checked exactly: its values are rational, so claim - truth is a rational that is not 0."""
    layer = symbn.load("derivations/batchnorm.toml")
    (item,) = check_one(layer, "x", formula=formula).items
    ce = item.result.counterexample
    assert item.result.verdict == REFUTED, item.result.detail
    assert inside(layer, ce.values, ce.n)
    truth = true_gradient(layer, ce.values, "x", ce.n, ce.j)
    claimed = formula_value(layer, parse(formula), ce.values, ce.n, ce.j)
    assert truth.is_Rational and claimed.is_Rational and claimed != truth and sp.Rational(ce.rhs) == claimed


def test_the_truth_is_proved_where_finer_balls_would_be_tried():
    """The twin: the truth itself (and the truth written with a 1e-300 that cancels) stays proved."""
    layer = symbn.load("derivations/batchnorm.toml")
    for formula in (TRUE_DX, f"{TRUE_DX} + 1e-300*dy - dy/1e300"):
        (item,) = check_one(layer, "x", formula=formula).items
        assert item.result.verdict == "proved", formula


@pytest.mark.parametrize("factor, n", [("(N-1)*(N-2)*(N-3)*(N-4)*(N-5)*(N-6)", 7),
                                       ("(N-1)*(N-2)*(N-3)*(N-4)*(N-5)*(N-6)*(N-7)*(N-9)", 8)])
def test_a_term_that_vanishes_at_every_size_thorough_tries_is_refuted_at_a_larger_one(factor, n):
    """The factor is 0 at N = 1..6, the sizes THOROUGH tries (and at 7 and 9, the second); WIDER tries 7..12 and 16."""
    layer = symbn.load("derivations/batchnorm.toml")
    formula = f"{TRUE_DX} + {factor}*dy"
    (item,) = check_one(layer, "x", formula=formula).items
    ce = item.result.counterexample
    assert item.result.verdict == REFUTED and ce.n == n
    assert_holds(layer, "x", formula, ce)


def test_at_a_given_n_no_larger_size_is_tried():
    """With --n 5 the question is N = 5, where that term is 0: the claim is proved there."""
    layer = symbn.load("derivations/batchnorm.toml")
    formula = f"{TRUE_DX} + (N-1)*(N-2)*(N-3)*(N-4)*(N-5)*(N-6)*dy"
    (item,) = check_one(layer, "x", formula=formula, n=5).items
    assert item.result.verdict == "proved"


def test_a_power_of_ten_is_folded_exactly_and_a_huge_one_is_refused_in_words():
    layer = symbn.load("derivations/batchnorm.toml")
    (item,) = check_one(layer, "x", formula=f"{TRUE_DX} + 10**-300*dy - 1e-300*dy").items
    assert item.result.verdict == "proved"
    (item,) = check_one(layer, "x", formula=f"{TRUE_DX} + 10**-300*dy").items
    assert item.result.verdict == REFUTED
    from symbn.lang.derivation import SpecError

    with pytest.raises(SpecError, match="would have about"):
        check_one(layer, "x", formula=f"{TRUE_DX} + 1234567**300*dy")
