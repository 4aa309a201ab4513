"""The normal form: named roots, eliminations, relations, signs from the domain, exp and log."""

import pytest
import sympy as sp

import symbn
from symbn.proof.canonical import Canonical, Undecided
from symbn.proof.claims import check_one
from symbn.proof.prover import Prover
from symbn.proof.report import PROVED, REFUTED, UNKNOWN

ZSCORE = """
[layer]
name = "zscore"
stages = ["mu = mean(x)", "xmu = x - mu", "sd = sqrt(sum(xmu**2)/(N - c))", "y = xmu/sd"]
output = "y"
[inputs]
x = { kind = "row" }
c = { kind = "constant" }
"""

EPS_OUTSIDE = """
[layer]
name = "bn_eps_outside_unbiased"
stages = ["mu = mean(x)", "xmu = x - mu", "var = sum(xmu**2)/(N - 1)", "sd = sqrt(var)",
          "xhat = xmu/(sd + eps)", "y = gamma*xhat + beta"]
output = "y"
[inputs]
x = { kind = "row" }
gamma = { kind = "scalar" }
beta = { kind = "scalar" }
eps = { kind = "constant", positive = true }
[closed_form]
x = "gamma/(sd + eps)*(dy - mean(dy) - xmu*sum(dy*xmu)/((N - 1)*sd*(sd + eps)))"
gamma = "sum(dy*xhat)"
beta = "sum(dy)"
"""


def _zero(prover, claim_minus_truth):
    return prover.canonical.zero(claim_minus_truth)


def test_eps_under_the_root_is_eliminated():
    prover = Prover(symbn.load("derivations/batchnorm.toml")).built()
    eps = prover.routes.B.input("eps")
    assert eps in prover.canonical.solved and all(r.free for r in prover.canonical.roots.values())


def test_an_unbiased_variance_with_eps_outside_the_root_is_decided():
    layer = symbn.loads(EPS_OUTSIDE)
    assert symbn.prove(layer).verdict == PROVED
    prover = Prover(layer).built()
    (atom,) = prover.canonical.solved  # the moment S[x**2], which the variance is linear in
    assert atom in prover.routes.B.moments
    (item,) = check_one(layer, "x", formula="gamma/(sd + eps)*(dy - mean(dy) - xmu*sum(dy*xmu)/(N*sd*(sd + eps)))").items
    assert item.result.verdict == REFUTED  # 1/N where the variance has 1/(N - 1)


def test_a_root_of_a_quantity_the_domain_signs_is_named():
    """sqrt(N - c): the layer takes sqrt(sum(xmu**2)/(N - c)) and sum(xmu**2) >= 0, so N - c > 0."""
    layer = symbn.loads(ZSCORE)
    (item,) = check_one(layer, "sd", formula="-sum(dy*xmu)*sqrt(N - c)/(sd*sqrt(sum(xmu**2)))").items
    assert item.result.verdict == PROVED


def test_without_the_fact_the_same_root_is_undecided():
    """The twin: the sign of N - c comes only from the fact that a sum of squares is >= 0."""
    layer = symbn.loads(ZSCORE)
    prover = Prover(layer).built()
    blind = Canonical(prover.canonical.rank, prover.canonical.bodies)
    for s in layer.graph.stages:
        blind.rewrite(prover.routes.env[s], trusted=True)
    claim = layer.formula("-sum(dy*xmu)*sqrt(N - c)/(sd*sqrt(sum(xmu**2)))", adjoints=True)
    difference = prover.routes.formula(claim, "sd") - prover.routes.adjoint("sd")
    with pytest.raises(Undecided, match="sign of"):
        blind.zero(difference)
    assert prover.canonical.zero(difference)


def test_a_root_whose_sign_is_not_given_is_never_assumed():
    """SymPy cancels sqrt(a)**2 to a, so the claim's own radicands are read from its equations:
    (x - 1)**2 + 1 is positive, but not in a way symbn sees, so the claim is not proved."""
    layer = symbn.loads(ZSCORE)
    (item,) = check_one(layer, "y", formula="sqrt(x**2 - 2*x + 2)**2/(x**2 - 2*x + 2)*dy").items
    assert item.result.verdict == UNKNOWN and "does not say" in item.result.detail
    (twin,) = check_one(layer, "y", formula="sqrt(x**2 + 1)**2/(x**2 + 1)*dy").items
    assert twin.result.verdict == PROVED  # manifestly positive
    (negative,) = check_one(layer, "y", formula="sqrt(xmu)**2/xmu*dy").items
    assert negative.result.verdict == REFUTED and negative.result.counterexample.rhs == "not real"


def test_sqrt_of_a_square_is_the_quantity_only_where_its_sign_is_known():
    layer = symbn.loads(ZSCORE)
    (fact,) = check_one(layer, "sd", formula="-sum(dy*xmu)/sqrt(sd**2)**2").items
    assert fact.result.verdict == PROVED  # sd is a root: positive
    (row,) = check_one(layer, "x", formula="sqrt(xmu**2)/xmu*(dy - mean(dy) - xmu*sum(dy*xmu)/sum(xmu**2))/sd").items
    assert row.result.verdict == REFUTED  # |x_j - mu| / (x_j - mu) is -1 where x_j < mu


LOGSOFTMAX = """
[layer]
name = "logsoftmax"
stages = ["e = exp(x)", "s = sum(e)", "y = log(e/s)"]
output = "y"
[inputs]
x = { kind = "row" }
[closed_form]
x = "dy - exp(y)*sum(dy)"
"""


@pytest.mark.parametrize("formula", [
    "dy - exp(x - log(sum(exp(x))))*sum(dy)",
    "dy - exp(x)/sum(exp(x))*sum(dy)",
    "dy - exp(log(exp(x)) - log(s))*sum(dy)",
    "dy - e*exp(-log(s))*sum(dy)",
])
def test_log_of_positive_factors_splits_and_log_exp_cancels(formula):
    (item,) = check_one(symbn.loads(LOGSOFTMAX), "x", formula=formula).items
    assert item.result.verdict == PROVED


def test_the_log_twin_is_refuted():
    (item,) = check_one(symbn.loads(LOGSOFTMAX), "x", formula="dy - exp(x - log(sum(exp(x))))*mean(dy)").items
    assert item.result.verdict == REFUTED


def test_a_numeric_radical_keeps_its_relation():
    layer = symbn.load("derivations/batchnorm.toml")
    prover = Prover(layer).built()
    assert prover.canonical.zero(sp.sqrt(8) - 2 * sp.sqrt(2))
    assert not prover.canonical.zero(sp.sqrt(8) - sp.sqrt(2))


def test_a_polynomial_in_the_slice_size_is_signed_with_n_at_least_1():
    """N**4*eps - N**3*eps + s**2 is eps*m*(1 + m)**3 + s**2 with N = 1 + m: positive, so its root is named;
    N - 2 and 1 - N**2 + s**2 are not signed that way (they change sign, or are not shown to be positive)."""
    N, eps, s = sp.Symbol("N", integer=True, positive=True), sp.Symbol("eps", positive=True), sp.Symbol("s")
    c = Canonical(lambda a: None)
    assert c._shifted_sign(N**4 * eps - N**3 * eps + s**2) == 1
    assert c._shifted_sign(-(N**2 * (N - 1) ** 2) - 100000 * s**2) == -1
    assert c._shifted_sign(N - 2) == 0 and c._shifted_sign(1 - N**2 + s**2) == 0
    assert c._shifted_sign(N * (N - 1)) == 0  # 0 at N = 1: never called positive
