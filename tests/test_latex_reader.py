r"""Tests for symbn.lang.latex: the seed formulas, normalisation, indices, errors, fuzzing."""

from __future__ import annotations

import logging
import math
import random
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from symbn.lang.expr import BinOp, Call, Expr, ExprError, Name, Neg, Num, parse
from symbn.lang.latex import read_latex
from symbn.lang.latex.grammar import GRAMMAR

N = 3  # the slice the evaluator sums over
J = 1  # the free index

SEED_000 = {
    "x": "x", "X": "x", "y": "y", "Y": "y", "v": "var", r"\mu": "mu", r"\epsilon": "eps",
    r"\gamma": "gamma", r"\beta": "beta", "N": "N", "f": "f", r"\hat{x}": "xhat", r"\sigma": "sqrtvar",
}
SEED_001 = {
    "m": "N", "a": "y", "L": "f", r"\sigma^2": "var", r"\sigma": "sqrtvar", r"\mu": "mu",
    r"\gamma": "gamma", r"\beta": "beta", "x": "x", r"\hat{x}": "xhat", r"\epsilon": "eps",
}
ROWS = ("x", "y", "dy", "xhat", "dxhat")
SCALARS = ("mu", "var", "sqrtvar", "eps", "gamma", "beta", "dmu", "dvar")


# --- a tiny evaluator: rows are N values, the free index is J ---------------------------


def _values(seed: int) -> dict[str, object]:
    rng = random.Random(seed)
    fraction = lambda: Fraction(rng.randint(1, 40), rng.randint(1, 9))
    env: dict[str, object] = {name: [fraction() for _ in range(N)] for name in ROWS}
    env.update({name: fraction() for name in SCALARS})
    env["N"] = Fraction(N)
    return env


def evaluate(e: Expr, env: dict[str, object], i: int = J) -> float:
    if isinstance(e, Num):
        return float(e.value)
    if isinstance(e, Name):
        value = env[e.id]
        return float(value[i] if isinstance(value, list) else value)
    if isinstance(e, Neg):
        return -evaluate(e.arg, env, i)
    if isinstance(e, Call):
        if e.fn in ("sum", "mean"):
            total = math.fsum(evaluate(e.arg, env, k) for k in range(N))
            return total / N if e.fn == "mean" else total
        return {"sqrt": math.sqrt, "exp": math.exp, "log": math.log}[e.fn](evaluate(e.arg, env, i))
    assert isinstance(e, BinOp)
    a, b = evaluate(e.left, env, i), evaluate(e.right, env, i)
    if e.op == "+":
        return a + b
    if e.op == "-":
        return a - b
    if e.op == "*":
        return a * b
    return a / b if e.op == "/" else a**b


def assert_same(got: Expr, expected: str) -> None:
    want = parse(expected)
    for seed in range(4):
        env = _values(seed)
        assert math.isclose(evaluate(got, env), evaluate(want, env), rel_tol=1e-9, abs_tol=1e-12), (got, want)


def error(tex: str, symbols: dict[str, str] = SEED_000) -> ExprError:
    with pytest.raises(ExprError) as info:
        read_latex(tex, symbols)
    return info.value


# --- seed 000 -----------------------------------------------------------------------------

DX_000 = "gamma*(var+eps)**(-1/2)*(dy - mean(dy) - (x-mu)*(var+eps)**(-1)*mean((x-mu)*dy))"

SEED_000_FINAL = r"""$$\frac{\partial f}{\partial X} = \gamma(v + \epsilon)^{-\frac{1}{2}} \left(-\frac{1}{N} \sum_{i=1}^N \frac{\partial f}{\partial y_i} - (X - \mu)(v + \epsilon)^{-1} \frac{1}{N} \sum_{i=1}^N (x_i - \mu) \frac{\partial f}{\partial y_i} + \frac{\partial f}{\partial Y} \right)$$"""

SEED_000_FORWARD = r"""$$\begin{aligned}
\frac{\partial f}{\partial x_j} &= \sum_{i=1}^N \frac{\partial f}{\partial y_i} \frac{\partial y_i}{\partial \hat{x}_i} \frac{\partial \hat{x}_i}{\partial x_j} = \gamma \sum_{i=1}^N \frac{\partial f}{\partial y_i} \frac{\partial \hat{x}_i}{\partial x_j} = \\
\gamma \left(\sum_{i=1}^N -\frac{1}{N} (v + \epsilon)^{-\frac{1}{2}} (1 + (x_i - \mu)(x_j - \mu)(v + \epsilon)^{-1}) \frac{\partial f}{\partial y_i} + (v + \epsilon)^{-\frac{1}{2}} \frac{\partial f}{\partial y_j} \right) &= \\
\gamma (v + \epsilon)^{-\frac{1}{2}} \left(-\frac{1}{N} \sum_{i=1}^N (1 + (x_i - \mu)(x_j - \mu)(v + \epsilon)^{-1}) \frac{\partial f}{\partial y_i} + \frac{\partial f}{\partial y_j} \right) &= \\
\gamma (v + \epsilon)^{-\frac{1}{2}} \left(-\frac{1}{N} \sum_{i=1}^N \frac{\partial f}{\partial y_i} - (x_j - \mu)(v + \epsilon)^{-1} \frac{1}{N} \sum_{i=1}^N (x_i - \mu) \frac{\partial f}{\partial y_i} + \frac{\partial f}{\partial y_j} \right)
\end{aligned}$$"""

SEED_000_BACKWARD = r"""$$\begin{aligned}
\frac{\partial f}{\partial x_j} &= \gamma \left(\sum_{i=1}^N \frac{\partial f}{\partial y_i} \left(-(x_i - \mu)(v + \epsilon)^{-\frac{3}{2}} \frac{1}{N}(x_j - \mu) - \frac{1}{N}(v + \epsilon)^{-\frac{1}{2}} \right) + (v + \epsilon)^{-\frac{1}{2}} \frac{\partial f}{\partial y_j} \right) = \\
&\gamma(v + \epsilon)^{-\frac{1}{2}} \left(-\frac{1}{N} \sum_{i=1}^N \frac{\partial f}{\partial y_i} - (x_j - \mu)(v + \epsilon)^{-1} \frac{1}{N} \sum_{i=1}^N (x_i - \mu) \frac{\partial f}{\partial y_i} + \frac{\partial f}{\partial y_j} \right)
\end{aligned}$$"""


def _steps(block: str) -> list[str]:
    """The right-hand sides of an aligned chain a = b = c, one string each."""
    body = block.replace("\\\\", " ").replace("&", " ")
    for wrapper in ("$$", r"\begin{aligned}", r"\end{aligned}"):
        body = body.replace(wrapper, " ")
    return [step for step in re.split(r"(?<!\{i)=", body)[1:] if step.strip()]


def test_seed_000_final_formula_with_capital_x() -> None:
    got = read_latex(SEED_000_FINAL, SEED_000)
    assert_same(got, DX_000)


def test_seed_000_final_formula_reads_the_expected_structure() -> None:
    got = read_latex(SEED_000_FINAL, SEED_000)
    assert got.op == "*" and got.left.left == Name("gamma")
    inner = got.right  # the bracket: -1/N sum(dy) - (x-mu) ... + dy
    assert isinstance(inner, BinOp) and inner.op == "+" and inner.right == Name("dy")
    assert Call("sum", Name("dy")) in _subtrees(got)
    assert Call("sum", BinOp("*", BinOp("-", Name("x"), Name("mu")), Name("dy"))) in _subtrees(got)


def _subtrees(e: Expr) -> list[Expr]:
    out = [e]
    for child in (getattr(e, "arg", None), getattr(e, "left", None), getattr(e, "right", None)):
        if child is not None:
            out += _subtrees(child)
    return out


def test_seed_000_x_j_version_whole_block_reads_last_step() -> None:
    assert_same(read_latex(SEED_000_FORWARD, SEED_000), DX_000)
    assert_same(read_latex(SEED_000_BACKWARD, SEED_000), DX_000)


@pytest.mark.parametrize("step", [2, 3, 4])
def test_seed_000_forward_steps_with_x_j_inside_the_sum(step: int) -> None:
    assert_same(read_latex(_steps(SEED_000_FORWARD)[step], SEED_000), DX_000)


def test_seed_000_backward_steps() -> None:
    for step in _steps(SEED_000_BACKWARD):
        assert_same(read_latex(step, SEED_000), DX_000)


@pytest.mark.parametrize("step, numerator", [(0, "y_i}{"), (1, r"\hat{x}_i}{")])
def test_seed_000_chain_rule_steps_are_refused(step: int, numerator: str) -> None:
    tex = _steps(SEED_000_FORWARD)[step]
    err = error(tex)
    assert "loss" in err.message
    assert tex[err.col - 1 :].startswith(numerator)  # the first numerator that is not the loss


def test_seed_000_gamma_and_beta() -> None:
    assert read_latex(r"\frac{\partial f}{\partial \gamma} = \sum_{i=1}^N \frac{\partial f}{\partial y_i} \hat{x}_i", SEED_000) == Call(
        "sum", BinOp("*", Name("dy"), Name("xhat"))
    )
    assert read_latex(r"\sum_{i=1}^N \frac{\partial f}{\partial y_i}", SEED_000) == Call("sum", Name("dy"))


def test_seed_000_building_blocks() -> None:
    got = read_latex(r"\frac{\partial v}{\partial x_j} = \frac{2}{N}(x_j - \mu)", SEED_000)
    assert got == BinOp("*", BinOp("/", Num(Fraction(2)), Name("N")), BinOp("-", Name("x"), Name("mu")))
    got = read_latex(r"(x_i - \mu) \left(-\frac{1}{2}\right) (v + \epsilon)^{-\frac{3}{2}}", SEED_000)
    assert_same(got, "(x-mu)*(-1/2)*(var+eps)**(-3/2)")


# --- seed 001 -----------------------------------------------------------------------------

SEED_001_CASES = [
    (r"\frac{\partial L}{\partial \beta_i} = \sum_{r=1}^{m}\frac{\partial L}{\partial a_i^{(r)}} \cdot \frac{\partial a_i^{(r)}}{\partial \beta_i} = \sum_{r=1}^{m}\frac{\partial L}{\partial a_i^{(r)}}",
     "sum(dy)"),
    (r"\frac{\partial L}{\partial \gamma_i} = \sum_{r=1}^{m}\frac{\partial L}{\partial a_i^{(r)}} \cdot \frac{\partial a_i^{(r)}}{\partial \gamma_i} = \sum_{r=1}^{m}\frac{\partial L}{\partial a_i^{(r)}} \cdot \hat{x}_i^{(r)}",
     "sum(dy*xhat)"),
    (r"$$\;\;\;\; =\frac{\partial L}{\partial \hat{x}_i^{(r)}} \left(\frac{1}{m}\right) + \frac{\partial L}{\partial \mu_i} \left(\frac{1}{m}\right)+\frac{\partial L}{\partial \sigma_i^2} \left(\frac{2(x_i^{(r)} - \mu_i)}{m}\right) $$",
     "dxhat/N + dmu/N + dvar*2*(x-mu)/N"),
    (r"\frac{\partial L}{\hat{x}_i^{(r)}} = \gamma_i \frac{\partial L}{\partial a_i^{(r)}}", "gamma*dy"),
    (("$$\\frac{\\partial L}{\\partial x_i^{(r)}}=\\frac{\\partial L}{\\partial a_i^{(r)}} \\left(\\frac{\\gamma_i}{m}\\right) + \\frac{\\partial L}{\\partial \\mu_i} \\left(\\frac{1}{m}\\right)$$\n\n"
     "$$\\;\\;\\;\\;\\;\\;\\;\\;\\;\\;\\;\\;+\\frac{\\partial L}{\\partial \\sigma_i^2} \\left(\\frac{2(x_i^{(r)} - \\mu_i)}{m}\\right)$$"),
     "dy*gamma/N + dmu/N + dvar*2*(x-mu)/N"),
    (r"\frac{\partial L}{\partial \sigma_i^2} = \sum_{j=1}^{m}\frac{\partial L}{\partial \hat{x}_i^{(j)}}\frac{\partial \hat{x}_i^{(j)}}{\partial \sigma_i^2} = -\frac{1}{2\sigma_i^3}\sum_{j=1}^{m}\frac{\partial L}{\hat{x}_i^{(j)}}(x_i^{(j)} - \mu_i)",
     "-1/(2*sqrtvar**3)*sum(dxhat*(x-mu))"),
    (r"\;\;\;\;\;\;= -\frac{1}{2\sigma_i^3}\sum_{j=1}^{m}\frac{\partial L}{a_i^{(j)}}\gamma_i(x_i^{(j)} - \mu_i)",
     "-1/(2*sqrtvar**3)*sum(dy*gamma*(x-mu))"),
    (r"\;\;\;\;\;\;= -\frac{1}{\sigma_i}\sum_{j=1}^{m}\frac{\partial L }{\hat{x}_i^{(j)}}-2\frac{\partial L}{\partial \sigma_i^2}\frac{\sum_{j=1}^{m}(x_i^{(j)} - \mu_i)}{m}",
     "-1/sqrtvar*sum(dxhat) - 2*dvar*sum(x-mu)/N"),
    (("$$\\;\\;\\;\\;\\;\\;=-\\frac{\\gamma_i}{\\mu_i}\\sum_{j=1}^{m}\\frac{\\partial L}{\\partial a_i^{(j)}}+\\left(\\frac{1}{\\sigma_i^3}\\right)$$\n"
     "$$\\;\\;\\;\\;\\;\\;\\;\\;\\;\\;\\left(\\sum_{j=1}^{m}\\frac{\\partial L}{\\partial a_i^{(j)}}\\gamma_i(x_i^{(j)} - \\mu_i)\\right)\\left(\\frac{\\sum_{j=1}^{m}(x_i^{(j)} - \\mu_i)}{m}\\right)$$"),
     "-gamma/mu*sum(dy) + 1/sqrtvar**3*sum(dy*gamma*(x-mu))*sum(x-mu)/N"),
]


@pytest.mark.parametrize("tex, expected", SEED_001_CASES)
def test_seed_001_formulas(tex: str, expected: str) -> None:
    assert_same(read_latex(tex, SEED_001), expected)


def test_seed_001_structure_of_dvar() -> None:
    got = read_latex(SEED_001_CASES[6][0], SEED_001)
    assert isinstance(got, Neg)
    assert got.arg.right == Call(
        "sum", BinOp("*", BinOp("*", Name("dy"), Name("gamma")), BinOp("-", Name("x"), Name("mu")))
    )
    assert got.arg.left.right == BinOp("*", Num(Fraction(2)), BinOp("**", Name("sqrtvar"), Num(Fraction(3))))


def test_seed_001_dmu_chain_rule_step_is_refused() -> None:
    tex = r"\frac{\partial L}{\partial \mu_i} = \sum_{j=1}^{m} \frac{\partial L}{\partial \hat{x}_i^{(j)}} \frac{\partial \hat{x}_i^{(j)}}{\partial \mu_i} + \frac{\partial L}{\partial \sigma_i^2}\frac{\partial \sigma_i^2 }{\partial \mu_i}"
    err = error(tex, SEED_001)
    assert tex[err.col - 1 :].startswith(r"\hat{x}_i^{(j)}}{\partial \mu_i}")


def test_seed_001_prose_in_brackets_is_an_error() -> None:
    tex = r"\frac{\partial L}{\hat{x}_i^{(r)}} = \gamma_i \frac{\partial L}{\partial a_i^{(r)}} \;\;[since\;\; a_i^{(r)} = \gamma_i x_i^{(r)} + \beta_i]"
    err = error(tex, SEED_001)
    assert err.col > tex.index("[since")


# --- the original BatchNorm paper's notation (sub- and superscripts in either order) -------

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


# --- symbols, normalisation -------------------------------------------------------------


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


def test_brackets_and_sizes() -> None:
    want = parse("(x - mu)*(var + eps)")
    for tex in [
        r"\left(x_j - \mu\right)\left[v + \epsilon\right]",
        r"\Big(x_j - \mu\Big)\bigl(v + \epsilon\bigr)",
        r"\left\{x_j - \mu\right\}\{v + \epsilon\}",
        r"{x_j - \mu}\cdot(v+\epsilon)",
        r"(x_j - \mu) \times \left.(v+\epsilon)\right.",
    ]:
        assert read_latex(tex, SEED_000) == want, tex


def test_spacing_commands_are_ignored() -> None:
    assert read_latex(r"\gamma\,\hat{x}_j \; + \! \beta \quad \ & \\ \text{}", SEED_000) == parse("gamma*xhat + beta")


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


def test_operators_functions_and_numbers() -> None:
    s = SEED_000
    assert read_latex(r"\dfrac{x_j}{2} - \tfrac{\mu}{N} + x_j/N", s) == parse("x/2 - mu/N + x/N")
    assert read_latex(r"2(x_j-\mu)", s) == parse("2*(x-mu)")
    assert read_latex(r"-x_j^{-1/2}", s) == Neg(BinOp("**", Name("x"), Neg(BinOp("/", Num(1), Num(2)))))
    assert read_latex(r"\sqrt{v + \epsilon}", s) == parse("sqrt(var + eps)")
    assert read_latex(r"\exp(x_j) + \exp x_j + \log(v) + \ln v", s) == parse("exp(x) + exp(x) + log(var) + log(var)")
    assert read_latex(r"\exp\left(x_j\right)^2", s) == parse("exp(x)**2")
    assert read_latex(r"\log x_j^2", s) == parse("log(x**2)")
    assert read_latex(r"e^{-x_j}", s) == parse("exp(-x)")
    got = read_latex("0.5 + 1. + .25 + 10", s)
    assert [n.value for n in _subtrees(got) if isinstance(n, Num)] == [Fraction(1, 2), 1, Fraction(1, 4), 10]
    assert read_latex(r"\frac12 + \frac1N", s) == parse("1/2 + 1/N")


def test_the_sum_operand_runs_to_the_next_plus_or_minus() -> None:
    s = {"a": "a", "b": "b", "c": "c", "N": "N"}
    assert read_latex(r"\sum_i a_i b_i + c", s) == parse("sum(a*b) + c")
    assert read_latex(r"\sum_{i=1}^{N} a_i - c", s) == parse("sum(a) - c")
    assert read_latex(r"c \sum_i (a_i + b_i) c", s) == parse("c*sum((a+b)*c)")
    assert read_latex(r"c \cdot \sum_i a_i", s) == parse("c*sum(a)")
    assert read_latex(r"\sum_i -a_i + c", s) == parse("sum(-a) + c")
    assert read_latex(r"\frac{1}{N}\sum_{i=1}^{N} a_i", s) == parse("1/N*sum(a)")
    assert read_latex(r"(\sum_i a_i) b_j", s) == parse("sum(a)*b")


@pytest.mark.parametrize(
    "tex",
    [r"\sum_i x_i", r"\sum_{i} x_i", r"\sum_{i=1}^{N} x_i", r"\sum_{i=1}^N x_i", r"\sum\limits_{i=1}^N x_i",
     r"\sum^N_{i=1} x_i", r"\sum_{i=0}^{N-1} x_i", r"\sum_{j=1}^{m} x_j"],
)
def test_sum_spellings(tex: str) -> None:
    assert read_latex(tex, {"x": "x", "N": "N", "m": "N"}) == Call("sum", Name("x"))


def test_free_index_inside_a_sum_is_pulled_out() -> None:
    s = {"a": "a", "b": "b", "c": "c", "N": "N"}
    assert read_latex(r"\sum_i a_j b_i", s) == parse("a*sum(b)")
    assert_same_ab(read_latex(r"\sum_i (a_j + b_i)(c - a_j) / a_j", s), "sum((aj + b)*(c - aj)/aj)")
    assert_same_ab(read_latex(r"\sum_i \frac{b_i}{a_j} - a_j", s), "sum(b)/aj - aj")
    assert_same_ab(read_latex(r"\sum_i -a_j c", s), "-N*aj*c")


def assert_same_ab(got: Expr, expected: str) -> None:
    """Compare with a formula in which aj stands for the row a at the free index J."""
    rng = random.Random(7)
    for _ in range(3):
        env: dict[str, object] = {name: [Fraction(rng.randint(1, 9)) for _ in range(N)] for name in "ab"}
        env.update(c=Fraction(rng.randint(1, 9)), N=Fraction(N), aj=env["a"][J])  # type: ignore[index]
        assert math.isclose(evaluate(got, env), evaluate(parse(expected), env), rel_tol=1e-12)


def test_row_superscript_style() -> None:
    s = SEED_001
    assert read_latex(r"x_i^{(r)} - \mu_i", s) == parse("x - mu")
    assert read_latex(r"\sum_{r=1}^{m} x_i^{(r)}", s) == parse("sum(x)")
    assert read_latex(r"\frac{\partial L}{\partial a_i^{(r)}} + \frac{\partial L}{\partial \mu_i}", s) == parse("dy + dmu")
    assert error(r"x_i^{(r)} + x_i^{(s)}", s).col == 19


def test_adjoint_spellings() -> None:
    s = SEED_000 | {r"\sigma^2": "var"}
    for tex in [r"\frac{\partial f}{\partial y_j}", r"\partial f / \partial y_j", r"\frac{\partial f}{y_j}",
                r"\frac{\partial f}{\partial Y}", r"\dfrac{\partial{f}}{\partial{y}}"]:
        assert read_latex(tex, s) == Name("dy"), tex
    assert read_latex(r"\frac{\partial f}{\partial \sigma^2}", s) == Name("dvar")
    assert read_latex(r"\frac{\partial f}{\partial \hat{x}_j}", s) == Name("dxhat")
    assert read_latex(r"\frac{\partial L}{\partial \mu}", {"L": "f", r"\mu": "mu"}) == Name("dmu")


def test_wrappers_and_left_hand_sides() -> None:
    for tex in ["$x_j$", "$$x_j$$", r"\[x_j\]", r"\frac{\partial f}{\partial x_j} = x_j", "a = b = x_j",
                r"\begin{aligned} y &= x_j \end{aligned}"]:
        assert read_latex(tex, SEED_000 | {"a": "a", "b": "b"}) == Name("x"), tex
    assert read_latex(r"\sum_{i=1}^N x_i", SEED_000) == Call("sum", Name("x"))  # '=' in braces is not a side


def test_columns_of_the_result_point_into_the_text() -> None:
    got = read_latex(r"\gamma + x_j", SEED_000)
    assert got.col == 8 and got.left.col == 1 and got.right.col == 10


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tex, col, words",
    [
        (r"\foo{x}", 1, "unknown symbol \\foo"),
        (r"\frac{1}{2", 9, "never closed"),
        (r"x_j + \mu}", 10, "closes nothing"),
        (r"(x_j + \mu]", 11, "does not close"),
        ("x_k + x_j", 9, "two free indices"),
        ("q", 1, "unknown symbol q"),
        (r"x_j + q", 7, "unknown symbol q"),
        (r"\frac{\partial \hat{x}}{\partial \mu}", 16, "loss"),
        (r"\sqrt[3]{x}", 6, "square roots"),
        ("", 1, "empty"),
        ("   ", 1, "empty"),
        ("x_j =", 6, "empty"),
        (r"x_j + \text{ where } x_j", 7, "prose"),
        (r"x_j +", 6, "ends too early"),
        ("x_j'", 4, "cannot read"),
        (r"x_j ^ ^ 2", 7, "unexpected"),
        (r"x_j^23", 6, "number after a factor"),
        (r"x_j 2", 5, "number after a factor"),
        (r"x_{ij}", 3, "subscript"),
        (r"x_1", 3, "subscript"),
        (r"\sum_{i=1}^{N-1} x_i", 1, "whole slice"),
        (r"\sum_{i=1} x_i", 1, "whole slice"),
        (r"\sum x_i", 1, "index"),
        (r"\sum_i \sum_k x_i", 17, "outer"),
        (r"\sum_i \sum_i x_i", 13, "already bound"),
        (r"\sum_i (x_i - x_j)^2", 20, "mixes"),
        (r"f + x_j", 1, "loss"),
        (r"\frac{\partial f}{\partial x^3}", 28, "with respect to"),
        (r"\frac{\partial f}{\partial f}", 28, "with respect to"),
        (r"\partial f", 1, "derivative"),
        (r"\frac{\partial (x_j - \mu)}{\partial x_j}", 16, "loss"),
        (r"\begin{cases} x \end{cases}", 1, "unknown symbol \\begin"),
        (r"x_j^{100}", 5, "exponent"),
        ("(" * 60 + "x" + ")" * 60, 51, "nested"),
        (r"\exp" * 400 + "x", 0, "nested"),
    ],
)
def test_errors_have_a_message_and_a_column(tex: str, col: int, words: str) -> None:
    err = error(tex)
    assert words in err.message
    if col:
        assert err.col == col, (err.message, err.col)


def test_not_a_string() -> None:
    with pytest.raises(ExprError):
        read_latex(None, SEED_000)  # type: ignore[arg-type]


def test_bad_symbol_table() -> None:
    with pytest.raises(ExprError, match="not one LaTeX symbol"):
        read_latex("x", {"x + y": "x"})
    with pytest.raises(ExprError, match="two names"):
        read_latex("x", {r"\epsilon": "eps", r"\varepsilon": "e2"})


def test_grammar_has_no_conflicts() -> None:
    from lark import Lark, logger

    records: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: records.append(record.getMessage())  # type: ignore[method-assign]
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        Lark(GRAMMAR, parser="lalr", lexer="contextual", debug=True)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert not [r for r in records if "conflict" in r.lower()]


# --- fuzzing --------------------------------------------------------------------------------

PIECES = [
    r"\frac", "{", "}", "^", "_", r"\sum", "x", "y", "i", "j", "N", "2", "1", ".", r"\partial", "(", ")",
    "+", "-", "/", r"\left(", r"\right)", r"\left.", r"\cdot", r"\hat", r"\mu", r"\sigma", r"\sqrt", "[", "]",
    "=", "f", r"\exp", r"\log", r"\{", r"\}", "$", " ", r"\,", r"\text", "&", "\\\\", r"\foo", "e", "'",
    r"\varepsilon", "(r)", r"\Big", "\\", "%", "q",
]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_fuzz_only_expr_errors(tex: str) -> None:
    symbols = {"x": "x", "y": "y", "f": "f", "N": "N", r"\mu": "mu", r"\sigma": "sqrtvar", r"\hat{x}": "xhat",
               r"\epsilon": "eps", r"\sigma^2": "var"}
    try:
        result = read_latex(tex, symbols)
    except ExprError as err:
        assert 0 <= err.col <= len(tex) + 1
    else:
        assert isinstance(result, (Num, Name, Neg, BinOp, Call))


# --- index styles (found by a soundness audit) ------------------------------------------------------

STYLE_SYMBOLS = {"x": "x", r"\hat{x}": "xhat", "v": "var", r"\gamma": "gamma", "y": "y", "f": "f", "N": "N"}


def test_exp_of_a_parenthesised_power_is_not_a_row_index():
    r"""e^{(v)} is exp(v); it once switched the formula into the ^{(r)} row style, where
    subscripts are dropped, and \hat{x}_j inside a sum over i read as \hat{x}_i."""
    plain = read_latex(r"\sum_{i=1}^N \hat{x}_j \hat{x}_i", STYLE_SYMBOLS)
    with_exp = read_latex(r"\sum_{i=1}^N \hat{x}_j \hat{x}_i + e^{(v)}", STYLE_SYMBOLS)
    assert with_exp == BinOp("+", plain, Call("exp", Name("var")))
    assert plain != read_latex(r"\sum_{i=1}^N \hat{x}_i \hat{x}_i", STYLE_SYMBOLS)  # the misreading differs


def test_one_index_written_two_ways_is_refused():
    with pytest.raises(ExprError, match=r"'j' is both a subscript and a row superscript"):
        read_latex(r"\hat{x}^{(j)} \hat{x}_j", STYLE_SYMBOLS)
    assert read_latex(r"\hat{x}^{(j)} \gamma_i", STYLE_SYMBOLS) == read_latex(r"\hat{x} \gamma", STYLE_SYMBOLS)


# --- readings a person would not mean (found by an adversarial review) ----------------------------

POWERED = {"x": "x", "N": "N", r"\gamma": "gamma", r"\sigma": "sqrtvar", r"\sigma^2": "var", r"\sigma^{-1}": "ivar"}


@pytest.mark.parametrize("tex", [r"\sigma \sigma^2", r"\sigma^{-1}(\sigma^2 + x)", r"\frac{\gamma}{\sigma} - \frac{x}{\sigma^2}"])
def test_a_symbol_and_its_mapped_power_in_one_formula_are_refused(tex):
    r"""batchnorm.toml maps \sigma to sqrtvar and (seed 001's) \sigma^2 to var, which is not
    sqrtvar**2: a formula using both once read as a mix, and a wrong one was proved."""
    with pytest.raises(ExprError, match=r"is read both as"):
        read_latex(tex, POWERED)
    assert read_latex(r"\sigma^2", POWERED) == Name("var") and read_latex(r"\sigma_i^3", POWERED) == BinOp(
        "**", Name("sqrtvar"), Num(Fraction(3)))


@pytest.mark.parametrize(("tex", "fix"), [(r"\gamma/N\sigma", r"\frac{a}{bc}"), ("1/2x", r"\frac{a}{bc}"),
                                          (r"\log 2x", r"\log(2x)"), (r"\exp 2x", r"\log(2x)")])
def test_ambiguous_juxtapositions_are_refused(tex, fix):
    """γ/Nσ once read as (γ/N)·σ and log 2x as log(2)·x."""
    with pytest.raises(ExprError, match=re.escape(fix)):
        read_latex(tex, POWERED)
    assert read_latex(r"\frac{\gamma}{N\sigma}", POWERED) == BinOp("/", Name("gamma"), BinOp("*", Name("N"), Name("sqrtvar")))
    assert read_latex(r"\log(2x)", POWERED) == Call("log", BinOp("*", Num(Fraction(2)), Name("x")))
