"""The layer's own terms: basis names found from the stages alone, and values written in them."""

import sympy as sp

import symbn
from symbn.proof.claims import check_claims
from symbn.proof.routes import Routes, realisation
from symbn.proof.terms import Terms

from ..files import ROOT


def terms(name: str) -> tuple:
    layer = symbn.load(ROOT / "derivations" / f"{name}.toml")
    return layer, Terms(layer.graph, {n for n, i in layer.inputs.items() if i.positive})


def test_batchnorm_is_written_in_xhat_mu_and_ivar():
    _, T = terms("batchnorm")
    s = T.sym
    ivar = T.sym["ivar"]
    assert T.written["x"] == s["mu"] + s["xhat"] / ivar
    assert T.written["sqrtvar"] == 1 / ivar and sp.expand(T.written["var"] - (ivar**-2 - s["eps"])) == 0
    assert set(T.written) == {"x", "xmu", "sq", "var", "sqrtvar", "y"}  # xhat, ivar, mu, gamma, beta are the basis
    means = {str(T.body[a]): v for a, v in T.relations.items()}
    assert means["xhat[i]"] == 0 and sp.expand(means["xhat[i]**2"] - T.N * (1 - s["eps"] * ivar**2)) == 0


def test_rmsnorm_has_no_centring_and_layernorm_a_row_gamma():
    _, T = terms("rmsnorm")
    assert set(T.written) == {"x", "sq", "ms", "rms", "y"} and len(T.relations) == 1
    _, T = terms("layernorm")
    assert "gamma" in T.row and "gamma" not in T.written


def test_the_true_gradients_read_as_people_write_them():
    for name, wrt, expected in [
        ("batchnorm", "x", "gamma*ivar*(N*dy - S[dy[i]*xhat[i]]*xhat - S[dy[i]])/N"),
        ("batchnorm", "gamma", "S[dy[i]*xhat[i]]"),
        ("rmsnorm", "x", "irms*(N*dy*gamma - S[dy[i]*gamma[i]*xhat[i]]*xhat)/N"),
    ]:
        layer, T = terms(name)
        routes = Routes(layer, realisation(layer, None))
        assert str(sp.factor(T.express(routes.adjoint(wrt), routes.B))) == expected, (name, wrt)


def test_a_statistic_computed_in_steps_relates_its_moments_and_a_positive_stage_names_its_root():
    """var = sum(sq)/(N - 1) is a statistic too (sum(xhat**2) = (N - 1)(1 - eps*ivar**2)); with eps outside
    the root, sd = 1/iden - eps is positive, so sqrt((1/iden - eps)**2) is sd, not left as a root."""
    _, T = terms("batchnorm_unbiased")
    means = {str(T.body[a]): v for a, v in T.relations.items()}
    s = T.sym
    assert sp.expand(means["xhat[i]**2"] - (T.N - 1) * (1 - s["eps"] * s["ivar"] ** 2)) == 0
    _, T = terms("batchnorm_eps_outside")
    s = T.sym
    sd = 1 / s["iden"] - s["eps"]
    assert sp.simplify(T.radicals(sp.sqrt(sp.expand(sd**2))) - sd) == 0


def test_an_unbiased_slip_reads_as_n_for_n_minus_1():
    layer = symbn.load(ROOT / "derivations" / "batchnorm_unbiased.toml")
    wrong = [i for i in check_claims(layer).items if i.result.verdict == "refuted"]
    assert wrong and all(i.result.difference.checked for i in wrong)
    assert any(i.result.difference.summary == "coefficient of xhat*sum(dy*xhat): claim -gamma*ivar/N, truth -gamma*ivar/(N - 1)"
               for i in wrong), [i.result.difference.summary for i in wrong]
