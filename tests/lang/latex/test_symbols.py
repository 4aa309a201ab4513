r"""Tests for symbn.lang.latex.symbols: normalised keys, the lookup order, powers, unknown symbols."""

from __future__ import annotations

from fractions import Fraction

import pytest

from symbn.lang.expr import BinOp, ExprError, Name, Num, parse
from symbn.lang.latex import read_latex

from .support import POWERED, SEED_000, assert_same, error

# --- the original BatchNorm paper's notation (sub- and superscripts in either order) --------------

PAPER = {r"\ell": "f", r"\mu_\mathcal{B}": "mu", r"\sigma^2_{\mathcal{B}}": "var", "m": "N", "x": "x",
         r"\hat{x}": "xhat", "y": "y", r"\epsilon": "eps", r"\gamma": "gamma"}


@pytest.mark.parametrize(
    "tex, expected",
    [
        (r"\frac{\partial \ell}{\partial \hat{x}_i} = \frac{\partial \ell}{\partial y_i} \cdot \gamma", "dy*gamma"),
        (r"\frac{\partial \ell}{\partial \sigma^2_\mathcal{B}} = \sum_{i=1}^m \frac{\partial \ell}{\partial \hat{x}_i} \cdot (x_i - \mu_\mathcal{B}) \cdot \frac{-1}{2}(\sigma^2_\mathcal{B} + \epsilon)^{-3/2}",
         "sum(dxhat*(x-mu))*(-1/2)*(var+eps)**(-3/2)"),
        (r"\frac{\partial \ell}{\partial \mu_\mathcal{B}} = \left(\sum_{i=1}^m \frac{\partial \ell}{\partial \hat{x}_i} \cdot \frac{-1}{\sqrt{\sigma^2_\mathcal{B} + \epsilon}}\right) + \frac{\partial \ell}{\partial \sigma^2_\mathcal{B}} \cdot \frac{\sum_{i=1}^m -2(x_i - \mu_\mathcal{B})}{m}",
         "-sum(dxhat)/sqrt(var+eps) - 2*dvar*mean(x-mu)"),
        (r"\frac{\partial \ell}{\partial x_i} = \frac{\partial \ell}{\partial \hat{x}_i} \cdot \frac{1}{\sqrt{\sigma^2_\mathcal{B} + \epsilon}} + \frac{\partial \ell}{\partial \sigma^2_\mathcal{B}} \cdot \frac{2(x_i - \mu_\mathcal{B})}{m} + \frac{\partial \ell}{\partial \mu_\mathcal{B}} \cdot \frac{1}{m}",
         "dxhat/sqrt(var+eps) + dvar*2*(x-mu)/N + dmu/N"),
    ],
)
def test_batchnorm_paper_notation(tex: str, expected: str) -> None:
    assert_same(read_latex(tex, PAPER), expected)


# --- symbols, normalisation -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "tex",
    [r"\hat{x}_j", r"\hat x_j", r"\hat{x_j}", r"\hat{x}_{j}", r" \hat { x } _ { j } ", r"\widehat{x}_j"],
)
def test_hat_spellings(tex: str) -> None:
    assert read_latex(tex, SEED_000) == Name("xhat")


def test_keys_are_normalised_too() -> None:
    symbols = {r"\hat x": "xhat", r"\varepsilon": "eps", r"\sigma^{2}": "var", "x_{0}": "x0"}
    assert read_latex(r"\hat{x} + \epsilon + \varepsilon", symbols) == parse("xhat + eps + eps")
    assert read_latex(r"\sigma^2 + x_0", symbols) == parse("var + x0")


def test_sigma_squared_is_the_variance_only_when_it_is_a_key() -> None:
    with_var = {r"\sigma": "sqrtvar", r"\sigma^2": "var"}
    assert read_latex(r"\sigma^2", with_var) == Name("var")
    assert read_latex(r"\sigma_i^2", with_var) == Name("var")
    assert read_latex(r"\sigma^{2}", with_var) == Name("var")
    assert read_latex(r"\sigma^3", with_var) == BinOp("**", Name("sqrtvar"), Num(Fraction(3)))
    assert read_latex(r"\sigma_i^3", with_var) == BinOp("**", Name("sqrtvar"), Num(Fraction(3)))
    assert read_latex(r"\sigma^2", {r"\sigma": "sqrtvar"}) == BinOp("**", Name("sqrtvar"), Num(Fraction(2)))


def test_subscript_in_the_table_is_a_name() -> None:
    symbols = {"x": "x", "x_0": "x0"}
    assert read_latex("x_0 + x_j", symbols) == parse("x0 + x")
    assert read_latex("x_0^2", symbols) == parse("x0**2")


def test_bad_symbol_table() -> None:
    with pytest.raises(ExprError, match="not one LaTeX symbol"):
        read_latex("x", {"x + y": "x"})
    with pytest.raises(ExprError, match="two names"):
        read_latex("x", {r"\epsilon": "eps", r"\varepsilon": "e2"})


# --- readings a person would not mean (found by an adversarial review) ----------------------------



@pytest.mark.parametrize("tex", [r"\sigma \sigma^2", r"\sigma^{-1}(\sigma^2 + x)", r"\frac{\gamma}{\sigma} - \frac{x}{\sigma^2}"])
def test_a_symbol_and_its_mapped_power_in_one_formula_are_refused(tex):
    r"""batchnorm.toml maps \sigma to sqrtvar and (seed 001's) \sigma^2 to var, which is not
    sqrtvar**2: a formula using both once read as a mix, and a wrong one was proved."""
    with pytest.raises(ExprError, match=r"is read both as"):
        read_latex(tex, POWERED)
    assert read_latex(r"\sigma^2", POWERED) == Name("var") and read_latex(r"\sigma_i^3", POWERED) == BinOp(
        "**", Name("sqrtvar"), Num(Fraction(3)))


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tex, col, words",
    [
        (r"\foo{x}", 1, "unknown symbol \\foo"),
        ("q", 1, "unknown symbol q"),
        (r"x_j + q", 7, "unknown symbol q"),
        (r"x_{ij}", 3, "subscript"),
        (r"x_1", 3, "subscript"),
        (r"\begin{cases} x \end{cases}", 1, "unknown symbol \\begin"),
    ],
)
def test_errors_have_a_message_and_a_column(tex: str, col: int, words: str) -> None:
    err = error(tex)
    assert words in err.message
    if col:
        assert err.col == col, (err.message, err.col)
