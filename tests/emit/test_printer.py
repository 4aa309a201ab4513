"""The NumPy text of expressions and stage equations, from the primitives' records."""

from __future__ import annotations

from fractions import Fraction

import pytest

from symbn.emit.printer import Printer, call, number
from symbn.ir.primitives import PRIMITIVES, add_p, mul_p
from symbn.lang.expr import parse


def _printer(kinds=None):
    kinds = kinds or {"x": "row", "dy": "row", "a": "scalar", "b": "scalar", "c": "scalar", "N": "constant"}
    return Printer(kinds, "x", ["x"], set())


@pytest.mark.parametrize(("text", "printed"), [
    ("(a + b)*c", "(a + b) * c"),
    ("a - (b - c)", "a - (b - c)"),
    ("a/(b*c)", "a / (b * c)"),
    ("a**b**c", "a**b**c"),
    ("(a**b)**c", "(a**b)**c"),
    ("-a**2", "-a**2"),
    ("(-a)**2", "(-a)**2"),
    ("a*-1/2", "a * -1 / 2"),
    ("sqrt(a + b)/N", "np.sqrt(a + b) / n"),
    ("exp(-a)", "np.exp(-a)"),
])
def test_scalar_text_has_only_the_parentheses_needed(text, printed):
    assert _printer().scalar(parse(text)) == printed


def test_a_sum_is_hoisted_once_and_named_after_what_it_sums():
    p = _printer()
    assert p.scalar(parse("a*mean(dy*x) + sum(dy*x)")) == "a * (sum_dy_x / n) + sum_dy_x"
    assert p.lines == ["    sum_dy_x = _sum(axes, dy, x)"]


def test_row_text_names_its_ufuncs_by_the_records():
    assert _printer().row_text(parse("-(x - a)**2/exp(x)")) == "np.divide(np.negative(np.power(np.subtract(x, a), 2)), np.exp(x))"


def test_calls_take_their_name_from_the_record_and_may_write_in_place():
    assert call(add_p.numpy, ["a", "b"]) == "np.add(a, b)"
    assert call(mul_p.numpy, ["a", "b"], out="a") == "np.multiply(a, b, out=a)"
    assert all(p.numpy.startswith("np.") or p.name in ("id", "allreduce") for p in PRIMITIVES.values())


def test_numbers():
    assert number(Fraction(3)) == "3" and number(Fraction(1, 100000)) == "1e-05"


def test_a_scalar_temporary_read_once_is_inlined(bn):
    p = Printer({**{e.out: e.out.kind for e in bn.graph.eqns}, **bn.graph.kinds}, "x", ["x"], set())
    p.equations(tuple(e for e in bn.graph.eqns if e.stage in ("sqrtvar", "ivar")), {"ivar"})
    assert p.lines == ["    sqrtvar = np.sqrt(var + eps)", "    ivar = 1 / sqrtvar"]
