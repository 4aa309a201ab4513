r"""Tests for symbn.lang.latex.reader: the seed formulas, operators, adjoints, parse errors, fuzzing."""

from __future__ import annotations

import ast
import re
from fractions import Fraction
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symbn.lang.latex
from symbn.lang.expr import BinOp, Call, Expr, ExprError, Name, Neg, Num, parse
from symbn.lang.latex import read_latex

from .support import POWERED, SEED_000, SEED_001, assert_same, error

# --- seed 000 -------------------------------------------------------------------------------------

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


# --- seed 001 -------------------------------------------------------------------------------------

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


# --- operators, functions, sums, adjoints ---------------------------------------------------------


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


def test_adjoint_spellings() -> None:
    s = SEED_000 | {r"\sigma^2": "var"}
    for tex in [r"\frac{\partial f}{\partial y_j}", r"\partial f / \partial y_j", r"\frac{\partial f}{y_j}",
                r"\frac{\partial f}{\partial Y}", r"\dfrac{\partial{f}}{\partial{y}}"]:
        assert read_latex(tex, s) == Name("dy"), tex
    assert read_latex(r"\frac{\partial f}{\partial \sigma^2}", s) == Name("dvar")
    assert read_latex(r"\frac{\partial f}{\partial \hat{x}_j}", s) == Name("dxhat")
    assert read_latex(r"\frac{\partial L}{\partial \mu}", {"L": "f", r"\mu": "mu"}) == Name("dmu")


def test_columns_of_the_result_point_into_the_text() -> None:
    got = read_latex(r"\gamma + x_j", SEED_000)
    assert got.col == 8 and got.left.col == 1 and got.right.col == 10


def test_not_a_string() -> None:
    with pytest.raises(ExprError):
        read_latex(None, SEED_000)  # type: ignore[arg-type]


# --- readings a person would not mean (found by an adversarial review) ----------------------------


@pytest.mark.parametrize(("tex", "fix"), [(r"\gamma/N\sigma", r"\frac{a}{bc}"), ("1/2x", r"\frac{a}{bc}"),
                                          (r"\log 2x", r"\log(2x)"), (r"\exp 2x", r"\log(2x)")])
def test_ambiguous_juxtapositions_are_refused(tex, fix):
    """γ/Nσ once read as (γ/N)·σ and log 2x as log(2)·x."""
    with pytest.raises(ExprError, match=re.escape(fix)):
        read_latex(tex, POWERED)
    assert read_latex(r"\frac{\gamma}{N\sigma}", POWERED) == BinOp("/", Name("gamma"), BinOp("*", Name("N"), Name("sqrtvar")))
    assert read_latex(r"\log(2x)", POWERED) == Call("log", BinOp("*", Num(Fraction(2)), Name("x")))


# --- errors ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tex, col, words",
    [
        (r"\frac{\partial \hat{x}}{\partial \mu}", 16, "loss"),
        (r"\sqrt[3]{x}", 6, "square roots"),
        (r"x_j +", 6, "ends too early"),
        ("x_j'", 4, "cannot read"),
        (r"x_j ^ ^ 2", 7, "unexpected"),
        (r"x_j^23", 6, "number after a factor"),
        (r"x_j 2", 5, "number after a factor"),
        (r"f + x_j", 1, "loss"),
        (r"\frac{\partial f}{\partial x^3}", 28, "with respect to"),
        (r"\frac{\partial f}{\partial f}", 28, "with respect to"),
        (r"\partial f", 1, "derivative"),
        (r"\frac{\partial (x_j - \mu)}{\partial x_j}", 16, "loss"),
        (r"x_j^{100}", 5, "exponent"),
        (r"\exp" * 400 + "x", 0, "nested"),
    ],
)
def test_errors_have_a_message_and_a_column(tex: str, col: int, words: str) -> None:
    err = error(tex)
    assert words in err.message
    if col:
        assert err.col == col, (err.message, err.col)


# --- fuzzing --------------------------------------------------------------------------------------

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


# --- the package's layering ---------------------------------------------------------------------


def test_the_modules_import_each_other_without_a_cycle() -> None:
    """grammar < symbols < indices < reader, prepare beside them: each module imports only
    those below it, at any level (a function-level import would hide a cycle)."""
    package = Path(symbn.lang.latex.__file__).parent
    order = ["prepare", "grammar", "symbols", "indices", "reader"]
    for rank, name in enumerate(order):
        tree = ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))
        imported = {
            node.module.rsplit(".", 1)[-1]
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("symbn.lang.latex.")
        }
        assert imported <= set(order[:rank]), (name, imported)
        assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree)), name


def test_a_braced_symbol_with_a_power_is_the_symbol_with_the_power():
    r"""{\sigma}^2 prints as \sigma^2, so it is the notation's \sigma^2 (BatchNorm's variance, seed 001), not σ·σ;
    (\sigma)^2 prints otherwise and is σ·σ."""
    import symbn
    from symbn.proof.claims import latex_symbols

    table = latex_symbols(symbn.load(Path(__file__).parents[3] / "derivations" / "batchnorm.toml"))
    assert read_latex(r"\sigma^2", table) == read_latex(r"{\sigma}^2", table) == read_latex(r"{\sigma}^{2}", table) == Name("var")
    assert read_latex(r"(\sigma)^2", table) == BinOp("**", Name("sqrtvar"), Num(2))


# --- norms ----------------------------------------------------------------------------------------

NORM = {"x": "x", "N": "N", "r": "r", r"\lVert x \rVert^2": "ss"}  # l2norm.toml names ss so


@pytest.mark.parametrize("tex, text", [
    (r"\lVert x \rVert^2", "ss"),
    (r"\lVert x\rVert^{2}", "ss"),
    (r"\left\| x \right\|^2", "ss"),
    (r"\left\Vert x \right\Vert_2^2", "ss"),
    (r"\lVert x \rVert", "sqrt(ss)"),
    (r"\frac{x_j}{\lVert x \rVert}", "x/sqrt(ss)"),
    (r"\lVert x \rVert^{3}", "ss**(3/2)"),
    (r"\lVert x \rVert^{-2}", "ss**(-2/2)"),
])
def test_a_norm_reads_as_the_stage_its_square_names(tex, text):
    """The file declares ‖x‖² (a stage's [latex]); ‖x‖ is its square root, ‖x‖^p its p/2-th power."""
    from symbn.lang.expr import to_text

    assert to_text(read_latex(tex, NORM)) == text


@pytest.mark.parametrize("tex, words, column", [
    (r"\frac{1}{\|x\|}", r"a bare \| does not say", 10),
    (r"\Vert x \Vert", r"a bare \Vert", 1),
    (r"\lVert r \rVert", r"\lVert r \rVert is not in the symbol table", 1),
    (r"\lVert x \rVert_1", "only the 2-norm", 17),
    (r"\frac{1}{\lVert x}", r"expected \rVert", 18),
])
def test_a_norm_the_reader_cannot_take_is_refused_in_words(tex, words, column):
    err = error(tex, NORM)
    assert words in str(err) and err.col == column, (str(err), err.col)


def test_a_power_of_ten_reads_as_its_exact_number():
    """10^{-300} in LaTeX is 1e-300; x^{65} is still refused (it would expand)."""
    from symbn.lang.expr import to_text

    assert to_text(read_latex(r"10^{-300} x_j", NORM)) == "10**(-300)*x"
    assert "larger than 64" in str(error(r"x_j^{65}", NORM))
