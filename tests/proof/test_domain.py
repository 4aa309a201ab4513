"""The layer's real domain, decided for certain on balls."""

from fractions import Fraction

import symbn
from symbn.ad.interpret import primal
from symbn.proof import domain
from symbn.realise.numbers import BALLS, Numbers, precision
from symbn.realise.protocol import Point

ZSCORE = """
[layer]
name = "zscore"
stages = ["mu = mean(x)", "xmu = x - mu", "sd = sqrt(sum(xmu**2)/(N - c))", "y = xmu/sd"]
output = "y"
[inputs]
x = { kind = "row" }
c = { kind = "constant" }
"""


def _check(layer, n, values):
    B = Numbers(Point(n, 0, values), {**layer.graph.kinds, "dy": layer.output_kind}, BALLS)
    with precision(128):
        env = primal(layer.graph, B)
        return domain.check(layer.graph.eqns, env, B)[0]


def test_conditions_name_roots_logs_divisions_and_fractional_powers():
    layer = symbn.loads(ZSCORE)
    found = {(e.prim.name, cond) for e, cond, _ in domain.conditions(layer.graph.eqns)}
    assert found == {("sqrt", "positive"), ("div", "nonzero")}


def test_a_point_where_the_radicand_is_negative_is_outside():
    layer = symbn.loads(ZSCORE)
    x = [Fraction(1), Fraction(2), Fraction(4)]
    assert _check(layer, 3, {"x": x, "c": Fraction(1), "dy": x}) == domain.INSIDE
    assert _check(layer, 3, {"x": x, "c": Fraction(5), "dy": x}) == domain.OUTSIDE  # N - c < 0
    assert _check(layer, 3, {"x": [Fraction(2)] * 3, "c": Fraction(1), "dy": x}) == domain.OUTSIDE  # sd = 0


def test_the_sampler_keeps_declared_signs():
    layer = symbn.load("derivations/batchnorm.toml")
    sampler = domain.Sampler(layer, seed=3)
    for _ in range(50):
        assert sampler.point(4)["eps"] > 0
