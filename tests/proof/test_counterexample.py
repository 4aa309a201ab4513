"""A counterexample as printed: exact values, simplified, with a decimal beside any that is not rational."""

import sympy as sp

from symbn.proof.counterexample import Counterexample, show, simplified

R = sp.sqrt(362)
NEST = 3 * (6 - R) ** 2 * (1448 - 1245 * R) / 76943824  # as the routes give it (issue 15: unreadable)


def test_an_irrational_value_reads_a_plus_b_root_with_its_decimal():
    assert simplified(NEST) == sp.Rational(12399, 53138) - sp.Rational(769329, 38471912) * R
    assert show(NEST) == "12399/53138 - 769329*sqrt(362)/38471912 (≈ -0.147136)"


def test_a_rational_value_is_itself():
    assert show(sp.Rational(-73, 378)) == "-73/378"


def test_the_line_shows_both_sides_and_the_data():
    ce = Counterexample(3, 0, {"x": [sp.Rational(3, 2), -4, sp.Rational(7, 2)], "eps": 1}, NEST, sp.Rational(1, 2))
    assert str(ce) == ("N=3, j=0: 12399/53138 - 769329*sqrt(362)/38471912 (≈ -0.147136) != 1/2 at "
                       "x=[3/2, -4, 7/2], eps=1")


def test_a_value_too_large_for_a_decimal_is_still_shown():
    """exp(exp(exp(exp(3/2)))) has an exponent of 43 digits: Python's Decimal refuses it, format() went through it."""
    huge = sp.exp(sp.exp(sp.exp(sp.exp(sp.Rational(3, 2)))))
    assert "e+105291994104484703201202159822130141903" in show(huge)
    assert "e-105291994104484703201202159822130141904" in show(1 / huge)
    assert show(sp.Rational(1, 3)) == "1/3"


def test_sides_that_agree_to_six_digits_say_how_far_apart_they_are():
    """621/2000 against 621/(200 sqrt(10000 + 1e-298)): both print 0.310500, so the line adds the gap;
    sides whose six digits differ do not get it."""
    lhs = sp.Rational(621, 2000)
    rhs = sp.Rational(621, 200) / sp.sqrt(100 + sp.Rational(1, 10**300))
    line = str(Counterexample(3, 0, {"x": [1, 2, 3]}, lhs, rhs))
    assert "(rhs - lhs ≈ -1.55e-303)" in line
    assert "rhs - lhs" not in str(Counterexample(3, 0, {"x": [1, 2, 3]}, lhs, lhs + sp.Rational(1, 1000)))
