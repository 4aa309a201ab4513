r"""Tests for symbn.lang.latex.prepare: wrappers, left-hand sides, spacing, brackets; columns never move."""

from __future__ import annotations

import pytest

from symbn.lang.expr import Call, Name, parse
from symbn.lang.latex import read_latex
from symbn.lang.latex.prepare import prepare
from symbn.lang.latex.reader import read_sides

from .support import SEED_000, error


def test_wrappers_and_left_hand_sides() -> None:
    for tex in ["$x_j$", "$$x_j$$", r"\[x_j\]", r"\frac{\partial f}{\partial x_j} = x_j", "a = b = x_j",
                r"\begin{aligned} y &= x_j \end{aligned}"]:
        assert read_latex(tex, SEED_000 | {"a": "a", "b": "b"}) == Name("x"), tex
    assert read_latex(r"\sum_{i=1}^N x_i", SEED_000) == Call("sum", Name("x"))  # '=' in braces is not a side


def test_spacing_commands_are_ignored() -> None:
    assert read_latex(r"\gamma\,\hat{x}_j \; + \! \beta \quad \ & \\ \text{}", SEED_000) == parse("gamma*xhat + beta")


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


def test_preparing_blanks_and_never_moves_a_column() -> None:
    tex = r"$$\frac{\partial f}{\partial x_j} = \gamma \, x_j \text{} $$"
    label, text = prepare(tex)
    assert len(text) == len(label) == len(tex)
    assert text.strip() == r"\gamma \, x_j"
    assert label.strip() == r"\frac{\partial f}{\partial x_j}"
    assert text.index(r"\gamma") == tex.index(r"\gamma")


def test_an_equation_is_cut_into_its_sides_at_each_top_level_equals() -> None:
    """Every side is read (tests/proof/test_claims.py: every one but the label is checked)."""
    tex = r"\begin{aligned} a &= \sum_{i=1}^{N} b_i \\ &= c \end{aligned}"
    sides = prepare(tex)
    assert [" ".join(s.replace("&", " ").replace("\\\\", " ").split()) for s in sides] == ["a", r"\sum_{i=1}^{N} b_i", "c"]
    assert all(len(s) == len(tex) for s in sides)
    assert read_sides(r"x_j = \mu = \beta", SEED_000) == [Name("x"), Name("mu"), Name("beta")]


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tex, col, words",
    [
        (r"\frac{1}{2", 9, "never closed"),
        (r"x_j + \mu}", 10, "closes nothing"),
        (r"(x_j + \mu]", 11, "does not close"),
        ("", 1, "empty"),
        ("   ", 1, "empty"),
        ("x_j =", 6, "empty"),
        ("x_j = = y_j", 7, "empty before"),
        (r"x_j + \text{ where } x_j", 7, "prose"),
        ("(" * 60 + "x" + ")" * 60, 51, "nested"),
    ],
)
def test_errors_have_a_message_and_a_column(tex: str, col: int, words: str) -> None:
    err = error(tex)
    assert words in err.message
    if col:
        assert err.col == col, (err.message, err.col)
