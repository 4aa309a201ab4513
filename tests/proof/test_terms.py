"""The layer's own terms: basis names found from the stages alone, and values written in them."""

import sympy as sp

import symbn
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
