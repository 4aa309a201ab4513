"""The centring offset: float16/float32 data with a large mean, folded or re-centred, saved or not."""

from __future__ import annotations

import numpy as np
import pytest

import symbn
from symbn.emit.centring import Centring, Unfoldable, centrings
from symbn.emit.module import load_module
from symbn.numeric import relative_error

from ..files import BATCHNORM, ROOT
from .data import BATCHNORM_TEXT, make_inputs

# --- numerical stability ----------------------------------------------------------------------


ONE_PASS = BATCHNORM_TEXT.replace('''  "mu = mean(x)",                # step 1
  "xmu = x - mu",                # step 2
  "sq = xmu**2",                 # step 3
  "var = mean(sq)",              # step 4''', '''  "mu = mean(x)",
  "xmu = x - mu",
  "sq = x**2",
  "var = mean(sq) - mu**2",''')


def _offset_agreement(module, n, seed=3):
    rng = np.random.default_rng(seed)
    x = (1e4 + rng.standard_normal((n, 8))).astype(np.float32)
    dy = (0.5 + rng.standard_normal((n, 8))).astype(np.float32)
    gamma, beta = rng.standard_normal(8).astype(np.float32), rng.standard_normal(8).astype(np.float32)
    with np.errstate(all="ignore"):  # the one-pass variance may go negative
        g32 = module.backward(dy, x, gamma, beta)
        g64 = module.backward(*(a.astype(np.float64) for a in (dy, x, gamma, beta)))
    return max(relative_error(a, b) if np.all(np.isfinite(a)) else np.inf for a, b in zip(g32, g64))


@pytest.mark.parametrize("n", [64, 4096, 65536])
def test_float32_with_large_mean_matches_float64(n):
    module = load_module(symbn.load(BATCHNORM))
    assert _offset_agreement(module, n) < 1e-3


def _offset_case(name, n, seed=5):
    """float32 data with mean 1e4, std 1 and mean(dy) = 0.5; the slice has n values
    (axis 0 of (n, 8) for BatchNorm, axis -1 of (8, n) for LayerNorm)."""
    rng = np.random.default_rng(seed)
    shape, axis, size = ((n, 8), 0, 8) if name == "batchnorm" else ((8, n), -1, n)
    x = (1e4 + rng.standard_normal(shape)).astype(np.float32)
    dy = (0.5 + rng.standard_normal(shape)).astype(np.float32)
    gamma, beta = rng.standard_normal(size).astype(np.float32), rng.standard_normal(size).astype(np.float32)
    return (dy, x, gamma, beta), axis


def _agreement(module, args, axis):
    g32 = module.backward(*args, axis=axis)
    g64 = module.backward(*(a.astype(np.float64) for a in args), axis=axis)
    assert all(g.dtype == np.float32 for g in g32)
    return max(relative_error(a, b) for a, b in zip(g32, g64))


@pytest.mark.parametrize("name", ["batchnorm", "layernorm"])
@pytest.mark.parametrize("n", [64, 4096, 65536])
def test_folded_offset_float32_matches_float64(name, n):
    """The backward leaves xmu = x - mu as computed and folds c = mean(xmu) into the
    sums and shifts that read it (no re-centring pass): float32 still agrees."""
    module = load_module(symbn.load(ROOT / f"derivations/{name}.toml"))
    backward = module.SOURCE.split("def backward", 1)[1].split("\ndef ", 1)[0]  # backward alone
    assert "mu_c = _offset(xmu, axes, n)" in backward and "_recentre" not in backward
    args, axis = _offset_case(name, n)
    assert _agreement(module, args, axis) < 1e-4  # about 1e-6 measured; without c: 3e-4 to 0.3


@pytest.mark.parametrize("name", ["batchnorm", "layernorm"])
def test_the_offset_matters(name, monkeypatch):
    """Without c the same float32 case is off (the test above has teeth)."""
    module = load_module(symbn.load(ROOT / f"derivations/{name}.toml"))
    args, axis = _offset_case(name, 4096)
    monkeypatch.setattr(module, "_offset", lambda d, axes, n: 0)
    assert _agreement(module, args, axis) > 1e-4


def _saved_agreement(module, args, axis, saved=None):
    """float32 backward given forward's saved statistics, against float64."""
    if saved is None:
        _, saved = module.forward(*args[1:], axis=axis, return_saved=True)
    g32 = module.backward(*args, axis=axis, saved=saved)
    g64 = module.backward(*(a.astype(np.float64) for a in args), axis=axis)
    assert all(g.dtype == np.float32 for g in g32)
    return max(relative_error(a, b) for a, b in zip(g32, g64))


@pytest.mark.parametrize("name", ["batchnorm", "layernorm"])
@pytest.mark.parametrize("n", [4096, 65536])
def test_saved_mean_float32_matches_float64(name, n):
    """The forward saves the re-centred mean exactly (float64 for float16/32 data);
    the backward splits it into the data's dtype and a small offset, which it folds."""
    module = load_module(symbn.load(ROOT / f"derivations/{name}.toml"))
    args, axis = _offset_case(name, n)
    _, saved = module.forward(*args[1:], axis=axis, return_saved=True)
    assert saved["mu"].dtype == np.float64 and saved["ivar"].dtype == np.float32
    assert _saved_agreement(module, args, axis, saved) < 1e-4


@pytest.mark.parametrize("name", ["batchnorm", "layernorm"])
def test_a_float32_saved_mean_is_measured(name, monkeypatch):
    """A saved mean in float32, as a framework saves it, is off by its rounding;
    the backward measures the offset on x - mu (one reduction).  Taken as exact,
    the same mean gives errors of 2e-4 (LayerNorm) to 5e-2 (BatchNorm)."""
    module = load_module(symbn.load(ROOT / f"derivations/{name}.toml"))
    args, axis = _offset_case(name, 65536)
    _, saved = module.forward(*args[1:], axis=axis, return_saved=True)
    rounded = {**saved, "mu": saved["mu"].astype(np.float32)}
    assert _saved_agreement(module, args, axis, rounded) < 1e-4
    monkeypatch.setattr(module, "_measured", lambda c, d, axes, n: 0 if c is None else c)
    assert _saved_agreement(module, args, axis, rounded) > 1e-4


PLAIN = BATCHNORM_TEXT.split("[notation]")[0]  # stages, LaTeX names and closed forms only


SECOND_CENTRING = (PLAIN.replace('"xhat = xmu*ivar",', '"xc = x - mu", "xhat = xc*ivar",')
                   .replace(r'xhat    = "\\hat{x}"', r'xhat    = "\\hat{x}"' + '\nxc      = "x_c"'))


UNNAMED_CENTRING = (PLAIN.replace('"xmu = x - mu",', "").replace('"sq = xmu**2",', "")
                    .replace('"var = mean(sq)",', '"var = mean((x - mu)**2)",')
                    .replace('"xhat = xmu*ivar",', '"xhat = (x - mu)*ivar",')
                    .replace(r'xmu     = "x - \\mu"' + "\n", "").replace(r'sq      = "(x - \\mu)^2"' + "\n", ""))


@pytest.mark.parametrize(("text", "shift"), [(SECOND_CENTRING, "folded"), (UNNAMED_CENTRING, "shifted")],
                         ids=["second", "unnamed"])
@pytest.mark.parametrize("n", [4096, 65536])
def test_every_centring_by_the_mean_gets_its_offset(text, shift, n):
    """``x - mu`` a second time (folded where it is read), or only inside other
    stages (unnamed temporaries, shifted in place): each has the mean's offset,
    once, with and without saved statistics."""
    layer = symbn.loads(text, "centring.toml")
    assert layer.latex_names.get("xc") == ("x_c" if shift == "folded" else None)  # the text edits took
    assert ("xmu" in layer.graph.stages) == (shift == "folded")
    module = load_module(layer)
    backward = module.SOURCE.split("def backward", 1)[1]
    if shift == "folded":
        assert "xc = np.subtract(x, mu)" in backward and "sum_dy_xc = _sum(axes, dy, xc) - mu_c * sum_dy" in backward
    else:
        assert "mu, mu_c = _split(_saved(saved, 'mu', kshape), dtype)" in backward and "_shift(" in backward
    args, axis = _offset_case("batchnorm", n)
    assert _agreement(module, args, axis) < 1e-4
    assert _saved_agreement(module, args, axis) < 1e-4


def test_unfoldable_backward_recentres(monkeypatch):
    """A read of xmu the fold does not cover: the backward is printed again with
    the in-place re-centring, and is as accurate."""
    from symbn.emit import centring

    def refuse(self, *args):
        raise centring.Unfoldable

    monkeypatch.setattr(centring.Centring, "fold_terms", refuse)
    module = load_module(symbn.load(BATCHNORM))
    backward = module.SOURCE.split("def backward", 1)[1]
    assert "mu_c = _recentre(xmu, axes, n)" in backward and "_offset(" not in backward
    assert "The forward and the backward subtract c from the centred values in place." in " ".join(module.__doc__.split())
    args, axis = _offset_case("batchnorm", 4096)
    assert _agreement(module, args, axis) < 1e-3
    assert "xmu = _shift(xmu, mu_c)" in backward  # given the saved mean, d is shifted in place
    assert _saved_agreement(module, args, axis) < 1e-4
    plain = load_module(symbn.load(BATCHNORM))
    a64, dy = make_inputs(symbn.load(BATCHNORM), (6, 3), 0)
    for a, b in zip(module.backward(dy, *a64), plain.backward(dy, *a64)):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_one_pass_variance_fails_the_same_test():
    layer = symbn.loads(ONE_PASS, "one_pass.toml")
    assert "var = mean(sq) - mu**2" in layer.stage_text["var"]
    module = load_module(layer)  # proved correct: the algebra is right, the arithmetic is not
    assert _offset_agreement(module, 4096) > 1e-3
    args, dy = make_inputs(layer, (6, 3), 0)
    two_pass = load_module(symbn.load(BATCHNORM))
    for a, b in zip(module.backward(dy, *args), two_pass.backward(dy, *args)):
        np.testing.assert_allclose(a, b, rtol=1e-9)


# --- centrings in other places (found by review) ----------------------------------------------


Z_BY_X_MEAN = """
[layer]
name = "zc"
stages = ["mu = mean(x)", "var = mean((x - mu)**2)", "ivar = 1/sqrt(var + eps)", "zc = z - mu", "y = zc*ivar"]
output = "y"
[inputs]
x   = { kind = "row" }
z   = { kind = "row" }
eps = { kind = "constant", positive = true, default = 1e-5 }
[closed_form]
x = "-ivar*mean(dy) - ivar**3*(x - mu)*mean(dy*zc)"
z = "dy*ivar"
"""


MEAN_READ_LATER = """
[layer]
name = "addmu"
stages = ["mu = mean(x)", "xmu = x - mu", "var = mean(xmu**2)", "ivar = 1/sqrt(var + eps)", "s = mu*ivar",
          "y = x*ivar - s"]
output = "y"
[inputs]
x   = { kind = "row" }
eps = { kind = "constant", positive = true, default = 1e-5 }
[closed_form]
x = "ivar*(dy - mean(dy) - xmu*ivar**2*mean(dy*xmu))"
"""


INLINE_MEAN = """
[layer]
name = "inl"
stages = ["xmu = x - mean(x)", "var = mean(xmu**2)", "ivar = 1/sqrt(var + eps)", "xhat = xmu*ivar",
          "y = gamma*xhat + beta"]
output = "y"
[inputs]
x     = { kind = "row" }
gamma = { kind = "scalar" }
beta  = { kind = "scalar" }
eps   = { kind = "constant", positive = true, default = 1e-5 }
[closed_form]
x     = "gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))"
gamma = "sum(dy*xhat)"
beta  = "sum(dy)"
"""


def _large_mean(shape, *means, seed=1):
    rng = np.random.default_rng(seed)
    return [(m + rng.standard_normal(shape)).astype(np.float32) for m in means]


def _error(grads, want):
    return max(relative_error(g, w) for g, w in zip(grads, want))


def test_a_mean_of_x_that_centres_z_is_measured_on_x():
    """Given a framework's float32 mean, the offset is measured on x - mu even when
    the backward's first use of mu is z - mu (measured on z - mu: error 0.93)."""
    module = load_module(symbn.loads(Z_BY_X_MEAN, "zc.toml"))
    assert "mu_c = _measured(mu_c, np.subtract(x, mu), axes, n)" in module.SOURCE
    dy, x, z = _large_mean((4096, 8), 0.5, 0, 3)
    want = module.backward(*(a.astype(np.float64) for a in (dy, x, z)))
    _, saved = module.forward(x, z, return_saved=True)
    framework = {"mu": x.mean(axis=0, keepdims=True, dtype=np.float64).astype(np.float32), "ivar": saved["ivar"]}
    for given in (None, saved, framework):
        assert _error(module.backward(dy, x, z, saved=given), want) < 1e-4


def test_other_reads_of_a_mean_get_its_offset(monkeypatch):
    """``s = mu*ivar`` reads mu + c: the float32 forward agrees with float64 as well
    as the formula's own cancellation allows (3e-4); with mu as summed, 3e-3."""
    from symbn.emit import centring

    layer = symbn.loads(MEAN_READ_LATER, "addmu.toml")
    (x,) = _large_mean((4096, 8), 1e4)

    def error(module):
        return relative_error(module.forward(x), module.forward(x.astype(np.float64)))

    module = load_module(layer)
    assert "s = (mu + mu_c) * ivar" in module.SOURCE
    assert error(module) < 1e-3
    monkeypatch.setattr(centring.Centring, "corrected", lambda self, mean: mean)
    assert error(load_module(layer)) > 1e-3


def test_an_unnamed_mean_is_centred_in_both_branches():
    """``xmu = x - mean(x)``: the statistics are recomputed with or without saved
    values, and both branches define the same offset."""
    module = load_module(symbn.loads(INLINE_MEAN, "inl.toml"))
    dy, x = _large_mean((4096, 8), 0.5, 1e4)
    gamma, beta = np.ones(8, np.float32), np.zeros(8, np.float32)
    want = module.backward(*(a.astype(np.float64) for a in (dy, x, gamma, beta)))
    _, saved = module.forward(x, gamma, beta, return_saved=True)
    for given in (None, saved):
        assert _error(module.backward(dy, x, gamma, beta, saved=given), want) < 1e-4


def test_float64_data_with_a_float32_saved_mean():
    """The float32 mean's rounding is measured in float64 too (taken as exact: 1e-2)."""
    module = load_module(symbn.load(BATCHNORM))
    dy, x = (a.astype(np.float64) for a in _large_mean((4096, 8), 0.5, 1e4))
    gamma, beta = np.ones(8), np.zeros(8)
    want = module.backward(dy, x, gamma, beta)
    _, saved = module.forward(x, gamma, beta, return_saved=True)
    framework = {k: v.astype(np.float32) for k, v in saved.items()}
    assert _error(module.backward(dy, x, gamma, beta, saved=framework), want) < 1e-6



# --- the fold, by itself --------------------------------------------------------------------------


def test_centrings_are_found_where_the_mean_of_an_input_row_is_subtracted(bn):
    assert centrings(bn.graph.eqns, {"x"}) == {"xmu": "mu"}
    assert centrings(bn.graph.eqns, set()) == {}  # a mean of something else is not a centring


def _folding():
    c = Centring(fold=True)
    c.offsets["xmu"] = "mu_c"
    return c


def test_one_correction_for_every_sum_over_the_slice():
    c = _folding()
    total = lambda others: f"SUM({', '.join(others)})"
    assert c.correction(["dy", "xmu"], None, total) == "mu_c * SUM(dy)"  # Σ d·m = Σ stored·m - c·Σ m
    assert c.correction(["xmu"], None, total) == "mu_c * n"
    assert c.correction(["xmu"], "k", total) == "mu_c * n * k"
    assert c.correction(["xmu", "xmu"], None, total) == "n * mu_c**2"  # Σ d² = Σ stored² - n·c²
    assert c.correction(["xmu", "xmu"], "k", total) == "n * k * mu_c**2"
    for factors in (["xmu", None], ["xmu", "xmu", "dy"]):
        with pytest.raises(Unfoldable):
            c.correction(factors, None, total)
    c.offsets["zc"] = "nu_c"
    with pytest.raises(Unfoldable):
        c.correction(["xmu", "zc"], None, total)


COV = """
[layer]
name = "cov"
stages = ["mu = mean(x)", "xmu = x - mu", "c = mean(xmu*z)", "y = c*z"]
output = "y"
[inputs]
x = { kind = "row" }
z = { kind = "row" }
[closed_form]
x = "sum(dy*z)*(z - mean(z))/N"
z = "c*dy + sum(dy*z)*xmu/N"
"""


def test_a_stage_sum_is_corrected_as_a_formula_sum_is():
    """c = mean(xmu*z) recomputed by the backward reads xmu as stored: the same
    correction as a gradient's sum, and the same value as float64."""
    module = load_module(symbn.loads(COV, "cov.toml"))
    backward = module.SOURCE.split("def backward", 1)[1]
    assert "c = (_sum(axes, xmu, z) - mu_c * _sum(axes, z)) / n" in backward
    x, z, dy = _large_mean((4096, 8), 1e4, 1, 0.5)
    want = module.backward(*(a.astype(np.float64) for a in (dy, x, z)))
    assert _error(module.backward(dy, x, z), want) < 1e-4
