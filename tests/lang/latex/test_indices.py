r"""Tests for symbn.lang.latex.indices: sums, the free index pulled out of them, the row-superscript style."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from symbn.lang.expr import BinOp, Call, Expr, ExprError, Name, parse
from symbn.lang.latex import read_latex

from .support import SEED_000, SEED_001, J, N, error, evaluate


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


# --- index styles (found by a soundness audit) ----------------------------------------------------

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


# --- a capital for a whole row (seed 000's vectorised formula) -----------------------------------

WHOLE = ("X", "Y")  # in SEED_000, X is x and Y is y


def test_a_capital_for_a_row_is_the_row_at_the_free_index() -> None:
    rows = ("x", "y", "dy")
    got = read_latex(r"(X - \mu) \frac{1}{N}\sum_{i=1}^N (x_i - \mu) + \frac{\partial f}{\partial Y}", SEED_000, rows, WHOLE)
    assert got == parse("(x - mu)*(1/N)*sum(x - mu) + dy")
    assert read_latex(r"X^2 + x_j", SEED_000, rows, WHOLE) == parse("x**2 + x")  # the same element
    assert read_latex(r"\sum_i x_i X", SEED_000) == parse("sum(x*x)")  # not a whole-slice symbol: as before


@pytest.mark.parametrize(
    ("tex", "at", "words"),
    [(r"\frac{1}{N}\sum_{i=1}^N (X - \mu)", "X", r"inside \sum_i it could mean x_i or x_j"),
     (r"x_k \sum_{i=1}^N X", "X", r"write x_i for the summed element or x_k"),
     (r"\sum_j \frac{\partial f}{\partial Y}", "Y", r"Y is all of y"),
     (r"X_i", "i", "takes no index: write x_i"),
     (r"\frac{\partial f}{\partial Y_j}", "j", "takes no index: write y_j")],
)
def test_a_capital_for_a_row_is_refused_inside_a_sum_or_with_an_index(tex: str, at: str, words: str) -> None:
    with pytest.raises(ExprError) as info:
        read_latex(tex, SEED_000, ("x", "y", "dy"), WHOLE)
    assert words in info.value.message
    assert info.value.col == tex.rindex(at) + 1, (info.value.message, info.value.col)


def test_a_whole_slice_symbol_must_be_in_the_table() -> None:
    with pytest.raises(ExprError, match="must be a key of the symbol table"):
        read_latex("x_j", SEED_000, ("x",), ("Z",))


# --- indices that are not indices (unclear messages, last session) -------------------------------


def test_a_capital_subscript_is_not_an_index() -> None:
    r"""\mu_B (the BatchNorm paper's batch mean) once read as mu at a free index B."""
    tex = r"\sum_i(x_i-\mu_B)"
    err = error(tex)
    assert "B is not an index" in err.message and r"put \mu_B in the symbol table" in err.message
    assert err.col == tex.index("B") + 1
    assert read_latex(tex, SEED_000 | {r"\mu_B": "mu"}) == parse("sum(x - mu)")  # the fix it names


def test_two_free_indices_say_which_symbol_has_which() -> None:
    tex = r"(x_j - \mu_b) + \sum_i x_i"
    with pytest.raises(ExprError) as info:
        read_latex(tex, SEED_000, ("x",))
    message = info.value.message
    assert "x_j (column 4) is at j" in message and r"\mu_b at b" in message, message
    assert r"if \mu_b is one symbol, put it in the symbol table" in message  # mu is no row: b is a label
    assert info.value.col == tex.index("b") + 1


@pytest.mark.parametrize(
    ("tex", "shown"),
    [("x_N", "x_N"), (r"\gamma(x_N - \mu)", "x_N"), (r"\frac{\partial f}{\partial y_N}", "y_N"), ("x_m", "x_m")],
)
def test_the_last_element_is_refused(tex: str, shown: str) -> None:
    """x_N once read as x at a free index N."""
    err = error(tex, SEED_000 | {"m": "N"})
    assert f"{shown} is one fixed element, the last" in err.message
    assert err.col == tex.rindex(shown[-1]) + 1


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tex, col, words",
    [
        ("x_k + x_j", 9, "two free indices"),
        (r"\sum_{i=1}^{N-1} x_i", 1, "whole slice"),
        (r"\sum_{i=1} x_i", 1, "whole slice"),
        (r"\sum x_i", 1, "index"),
        (r"\sum_i \sum_k x_i", 17, "outer"),
        (r"\sum_i \sum_i x_i", 13, "already bound"),
        (r"\sum_i (x_i - x_j)^2", 20, "mixes"),
    ],
)
def test_errors_have_a_message_and_a_column(tex: str, col: int, words: str) -> None:
    err = error(tex)
    assert words in err.message
    if col:
        assert err.col == col, (err.message, err.col)
