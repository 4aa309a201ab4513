"""Hand-written adversarial cases: each tries to make symbn say something false.

Every verdict is re-checked by exact evaluation (tests/proof/verdicts.py, tests/oracle.py): a
"proved" claim is evaluated at random points of the layer's real domain for N = 1..5 and every j,
a counterexample is re-evaluated at its own point.  Where a case lists the verdicts it allows,
"unknown" is allowed unless the case says otherwise; its reason is recorded and printed by the
last test (``pytest -s``), with every claim that took more than 2 s.

Cases that fail today because symbn is wrong (a wrong verdict, a counterexample that does not
hold, a crash, a hang) are strict xfails whose reason names the bug.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest
import sympy as sp

import symbn
from symbn.lang.derivation import SpecError
from symbn.lang.expr import parse
from symbn.proof.claims import check_one

from ..files import ROOT
from ..oracle import Poison, checked_formula_value
from .layers import CASES
from .verdicts import recheck

UNKNOWN: list = []  # (case, reason): unknowns a reader of the report may expect decided
SLOW: list = []  # (seconds, case)

LAYERS = {name: symbn.loads(case.toml, f"{name}.toml") for name, case in CASES.items()}
T_BN = "gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))"  # the truth for bn_in, d f/d x
T_ZC = CASES["zc"].truths["x"][0]
T_UB = CASES["unbiased"].truths["x"][0]


def layer_of(stages, inputs, closed_form, name="adv"):
    lines = ["[layer]", f'name = "{name}"', "stages = [" + ", ".join(f'"{s}"' for s in stages) + "]", 'output = "y"', "[inputs]"]
    lines += [f"{k} = {{ {v} }}" for k, v in inputs.items()]
    lines += ["[closed_form]"] + [f'{k} = "{v}"' for k, v in closed_form.items()]
    return symbn.loads("\n".join(lines) + "\n", f"{name}.toml")


def verdict(layer, wrt, formula, allowed=("proved", "refuted", "unknown"), time_limit=60, case=None, sizes=range(1, 6)):
    """symbn's verdict on one claim, re-checked; the verdict must be one of ``allowed``."""
    case = case or f"{layer.name}: d f/d {wrt} = {formula}"
    start = time.perf_counter()
    result = check_one(layer, wrt, formula=formula, time_limit=time_limit).items[0].result
    seconds = time.perf_counter() - start
    if seconds > 2:
        SLOW.append((round(seconds, 1), case, result.verdict))
    if result.verdict == "unknown":
        UNKNOWN.append((case, result.detail))
    assert result.verdict in allowed, f"{case}: {result.verdict} {result.detail} {result.counterexample}"
    problems = recheck(layer, wrt, formula, result, random.Random(formula), sizes=sizes, per_size=3)
    assert not problems, f"{case}: symbn says {result.verdict}\n" + "\n".join(problems)
    return result


PROVED, REFUTED = ("proved", "unknown"), ("refuted", "unknown")
ONLY_PROVED, ONLY_REFUTED = ("proved",), ("refuted",)


# --- signs and branches: sqrt(x**2), sqrt(a*b), log(a*b), cube roots ----------------------------

AB = layer_of(["y = a*x"], {"x": 'kind = "row"', "a": 'kind = "scalar"', "b": 'kind = "scalar"'},
              {"x": "a*dy", "a": "sum(dy*x)", "b": "0"}, "ab")


@pytest.mark.parametrize("formula, allowed", [
    ("sqrt(a**2)*dy", ONLY_REFUTED),  # |a| for a
    ("-sqrt(a**2)*dy", ONLY_REFUTED),
    ("a*dy*sqrt(x**2)/x", ONLY_REFUTED),
    ("a*dy*(a**2)**(1/2)/a", ONLY_REFUTED),
    ("a*dy*sqrt(a*b)/(sqrt(a)*sqrt(b))", ONLY_REFUTED),  # not real for a < 0 or b < 0
    ("a*dy + sqrt(a*b) - sqrt(a)*sqrt(b)", ONLY_REFUTED),
    ("a*dy + log(a*b) - log(a) - log(b)", ONLY_REFUTED),
    ("a*dy + log(a**2) - 2*log(a)", ONLY_REFUTED),
    ("a*dy*exp(log(a))/a", ONLY_REFUTED),
    ("a*dy + log(exp(a)) - a", ONLY_PROVED),
    ("a*dy*sqrt(x**2)**2/x**2", PROVED),
    ("a*dy*(x**2)**(1/2)/sqrt(x**2)", PROVED),
    # a fractional power of a negative number is not real (principal branch, as in SymPy and NumPy)
    ("a*dy + (-8)**(1/3) + 2", ONLY_REFUTED),
    ("a*dy + (-8)**(2/3)*0", ONLY_REFUTED),
    ("a*dy*((-8)**2)**(1/3)/4", PROVED),
])
def test_signs_and_branches(formula, allowed):
    verdict(AB, "x", formula, allowed)


SAB = layer_of(["r = sqrt(a*b)", "y = r*x"], {"x": 'kind = "row"', "a": 'kind = "scalar"', "b": 'kind = "scalar"'},
               {"x": "dy*r", "a": "sum(dy*x)*b/(2*r)", "b": "sum(dy*x)*a/(2*r)"}, "sab")
LAB = layer_of(["r = log(a*b)", "y = r*x"], {"x": 'kind = "row"', "a": 'kind = "scalar"', "b": 'kind = "scalar"'},
               {"x": "dy*r", "a": "sum(dy*x)/a", "b": "sum(dy*x)/b"}, "lab")


@pytest.mark.parametrize("layer, wrt, formula, allowed", [
    # the layer takes sqrt(a*b): a and b may both be negative
    (SAB, "x", "dy*sqrt(a)*sqrt(b)", ONLY_REFUTED),
    (SAB, "x", "dy*sqrt(-a)*sqrt(-b)", ONLY_REFUTED),
    (SAB, "x", "dy*sqrt(a*b)", PROVED),
    (SAB, "x", "dy*sqrt(a**2*b**2)/sqrt(a*b)", PROVED),
    (SAB, "a", "sum(dy*x)*sqrt(b)/(2*sqrt(a))", ONLY_REFUTED),
    (SAB, "a", "sum(dy*x)*sqrt(b/a)/2", ONLY_REFUTED),  # real, but the wrong sign for a, b < 0
    (SAB, "a", "sum(dy*x)*r/(2*a)", PROVED),
    # the layer takes log(a*b)
    (LAB, "x", "dy*(log(a) + log(b))", ONLY_REFUTED),
    (LAB, "x", "dy*(log(-a) + log(-b))", ONLY_REFUTED),
    (LAB, "x", "dy*log(a*b)", PROVED),  # the stage itself: a*b > 0 on the domain
    (LAB, "x", "dy*(log(a**2) + log(b**2))/2", PROVED),
    (LAB, "a", "sum(dy*x)/a", PROVED),
])
def test_roots_and_logs_of_products_whose_factors_have_no_sign(layer, wrt, formula, allowed):
    verdict(layer, wrt, formula, allowed)


# --- N: claims right only for N >= 2, only at N = 1, only for N <= 7, and N in roots -------------


@pytest.mark.parametrize("name, formula, allowed", [
    ("bn_in", f"{T_BN} + (N - 1)*dy", ONLY_REFUTED),  # right only at N = 1
    ("bn_in", f"{T_BN} + (sqrt((N - 2)**2) - (N - 2))*dy", ONLY_REFUTED),  # right only for N >= 2
    ("bn_in", f"{T_BN} + 0**(N - 1)*dy", REFUTED),  # 0**0 = 1 at N = 1 only
    ("bn_in", f"{T_BN}*(N - 1)/(N - 1)", ONLY_PROVED),  # 0/0 at N = 1 only (README)
    ("bn_in", f"{T_BN} + (N-1)*(N-2)*(N-3)*(N-4)*(N-5)*(N-6)*(N-7)*dy", REFUTED),  # wrong from N = 8 on
    ("bn_in", f"{T_BN} + (N-1)*(N-2)*(N-3)*(N-4)*(N-5)*(N-6)*(N-7)*(N-8)*(N-9)*(N-10)*(N-11)*(N-12)*dy", REFUTED),
    ("bn_in", f"{T_BN} + dy/((N-1)*(N-2)*(N-3)*(N-4)*(N-5)*(N-6))", REFUTED),  # defined, and wrong, from N = 7
    ("bn_in", f"{T_BN} + sqrt(1 - N)*0", ONLY_REFUTED),
    ("bn_in", f"{T_BN} + sqrt(N - 1)*0", ONLY_PROVED),
    ("unbiased", f"{T_UB} + sqrt(N - 2)*0", PROVED),  # the layer divides by N - 1, so N >= 2
    ("unbiased", f"{T_UB} + sqrt(N - 3/2)*0", PROVED),
    ("unbiased", f"{T_UB} + sqrt(N - 3)*0", ONLY_REFUTED),  # not real at N = 2
    ("unbiased", f"{T_UB}*sqrt(N - 1)**2/(N - 1)", PROVED),
    ("unbiased", f"{T_UB} + (N - 2)*dy", ONLY_REFUTED),
    ("zc", f"{T_ZC} + sqrt(N - c)*0", ONLY_PROVED),  # N > c on the domain
    ("zc", f"{T_ZC} + (sqrt((N - c)**2) - (N - c))*dy", ONLY_PROVED),
    ("zc", f"{T_ZC} + (sqrt((c - N)**2) - (N - c))*dy", ONLY_PROVED),
    ("zc", f"{T_ZC} + (sqrt((N - c)**2) + (N - c))*dy", ONLY_REFUTED),
    ("zc", f"{T_ZC} + sqrt(c - N)*0", ONLY_REFUTED),
    ("zc", f"{T_ZC} + (c - sqrt(c**2))*dy", ONLY_REFUTED),  # c < 0 is in the domain
    ("zc", f"{T_ZC}*sqrt(c)**2/c", ONLY_REFUTED),
])
def test_claims_that_depend_on_n_or_on_a_constant(name, formula, allowed):
    verdict(LAYERS[name], "x", formula, allowed)


@pytest.mark.parametrize("layer, wrt, formula", [
    ("bn_in", "x", f"{T_BN} + sqrt(N - 2)*0"),  # not real at N = 1, where BatchNorm is defined
    ("bn_in", "gamma", "sum(dy*xhat) + sqrt(N - 2) - sqrt(N - 2)"),
    ("zc", "x", f"{T_ZC} + sqrt(N - c - 1)*0"),  # not real for c < N < c + 1, e.g. c = 5/2, N = 3
    ("zc_c10", "x", f"{T_ZC}*sqrt(10 - c)**2/(10 - c)"),  # not real for 10 < c < N, e.g. c = 21/2, N = 11
    ("unbiased", "var", "-sum(gamma*dy*xmu)/(2*sd**3) + sqrt(mu) - sqrt(mu)"),  # mu = mean(x) < 0
    ("unbiased", "var", "-sum(gamma*dy*xmu)/(2*sd**3) + log(mu) - log(mu)"),
    ("posg", "r", "sum(dy*x**2) + log(lg) - log(lg)"),  # lg = log(g) < 0 for g < 1
    ("posg", "r", "sum(dy*x**2) + sqrt(lg)*0"),
    ("logsoftmax", "x", "dy*exp(log(lse))/lse - e/Z*sum(dy)"),  # lse < 0 when sum(exp(x)) < 1
    ("logsoftmax", "lse", "-sum(dy) + sqrt(lse)*0"),
    ("softmax", "t", "sum(dy*p)*exp(log(log(Z)))/log(Z)"),
    ("zc", "xmu", "(dy/sd - sum(dy*xmu)*xmu/((N - c)*sd**3))*exp(log(N - 2*c))/(N - 2*c)"),  # N - 2*c < 0 for N/2 < c < N
])
def test_a_claim_that_is_not_real_somewhere_in_the_domain_is_never_proved(layer, wrt, formula):
    layer = ZC_C10 if layer == "zc_c10" else LAYERS[layer]
    verdict(layer, wrt, formula, REFUTED, sizes=range(1, 6) if layer is not ZC_C10 else ())
    if layer is ZC_C10:  # the oracle's points have N <= 5 < c: check the point c = 21/2, N = 11 by hand
        R = sp.Rational
        value = checked_formula_value(layer, parse(formula), {"x": [R(k) for k in range(11)], "c": R(21, 2), "dy": [R(1)] * 11}, 11, 0)
        assert isinstance(value, Poison) and value.kinds == {"not real"}


# --- 0/0 and claims defined nowhere -------------------------------------------------------------


@pytest.mark.parametrize("formula, allowed", [
    (f"{T_BN}*(x - mu)/(x - mu)", ONLY_PROVED),  # 0/0 at isolated points only
    (f"{T_BN}*dy/dy", ONLY_PROVED),
    (f"{T_BN}*log(x**2)/log(x**2)", ONLY_PROVED),
    (f"{T_BN} + (x - x)/(x - x)", PROVED),  # defined nowhere: never refuted
    (f"{T_BN} + 1/sum(xmu)", PROVED),
    (f"{T_BN} + log(sum(xmu)**2)*0", PROVED),
])
def test_zero_over_zero(formula, allowed):
    verdict(LAYERS["bn_in"], "x", formula, allowed)


def test_a_literal_zero_over_zero_is_refused_in_one_line():
    with pytest.raises(SpecError, match="division by a constant that is zero"):
        check_one(LAYERS["bn_in"], "x", formula=f"{T_BN} + 0/0")


# --- powers: large exponents, and exponents that are not number literals ------------------------


@pytest.mark.parametrize("formula, allowed", [
    (f"{T_BN}*(var + eps)**64/(var + eps)**64", ONLY_PROVED),
    (f"{T_BN}*x**64/x**64", ONLY_PROVED),
    (f"{T_BN} + 0*(x**64)**64", ONLY_PROVED),
    (f"{T_BN}*(var + eps)**(8*8)/(var + eps)**64", ONLY_PROVED),
    (f"{T_BN}*exp(10**30)/exp(10**30)", ONLY_PROVED),
    (f"{T_BN} + exp(exp(exp(exp(x))))*0", ONLY_PROVED),
    (f"{T_BN}*sqrt(xmu**6)/xmu**3", ONLY_REFUTED),
    (f"{T_BN}*(xmu**6)**(1/3)/xmu**2", PROVED),
    (f"{T_BN}*sqrt(xmu**4)/xmu**2", PROVED),
])
def test_powers(formula, allowed):
    verdict(LAYERS["bn_in"], "x", formula, allowed)


def test_an_exponent_beyond_64_is_refused_in_one_line():
    with pytest.raises(SpecError, match="larger than 64"):
        check_one(LAYERS["bn_in"], "x", formula=f"{T_BN}*x**65/x**65")


# Fixed: the refuter no longer judges a power whose exponent is not a literal as "not real".
POWER_BUG = ("symbn reads a**b, for an exponent that is not a number literal, as exp(b*log(a)) and calls it "
             "'not real' for a < 0, even where b is a whole number (x**N, (-1)**(2*N)); the claim equals "
             "the true gradient at every point, and the counterexample's rhs is real")


@pytest.mark.parametrize("formula", [
    f"{T_BN}*x**N/x**N",  # N is a whole number: x**N is real for every x
    f"{T_BN}*(-1)**(2*N)",
    f"{T_BN}*xmu**(2*N/N)/xmu**2",
    f"{T_BN}*((xmu**2)**(N/2)/xmu**N)",  # |xmu|**N / xmu**N is -1 for xmu < 0 and N odd: refuted, but not "not real"
])
def test_a_power_with_a_whole_number_exponent_is_real(formula):
    verdict(LAYERS["bn_in"], "x", formula)


# Fixed: a "not real" counterexample is given at the element where the claim is not real.
OTHER_J_BUG = ("the counterexample says 'not real' at j = 0, where the claim is real (and equal to the truth); "
               "the root or log of a negative number is taken at another index of the same point")


@pytest.mark.parametrize("name, formula", [
    ("zc", f"{T_ZC}*sqrt(xmu)**2/xmu"),
    ("bn_in", f"{T_BN} + 0*sqrt(xmu)"),
    ("bn_in", f"{T_BN} + 0*log(x)"),
    ("bn_in", f"{T_BN} + x**(1/3)*0"),
    ("logsoftmax", "dy - exp(x - log(sum(exp(x))))*sum(dy)*sqrt(x)**2/x"),
])
def test_a_not_real_counterexample_is_not_real_at_its_own_j(name, formula):
    verdict(LAYERS[name], "x", formula, ONLY_REFUTED)


# --- adjoints d<stage>, gradients with respect to stages, aliases, dead stages, x**N layers -------

BN_FILE = symbn.load(ROOT / "derivations" / "batchnorm.toml")
ALIAS = layer_of(["z = x", "dead = mean(x)**2", "y = z*z"], {"x": 'kind = "row"'}, {"x": "2*dy*x"}, "alias")
POW_N = layer_of(["y = x**N"], {"x": 'kind = "row"'}, {"x": "dy*N*x**(N - 1)"}, "pow_n")  # real for every x
SIGN_N = layer_of(["y = x*(-1)**N"], {"x": 'kind = "row"'}, {"x": "dy*(-1)**N"}, "sign_n")


@pytest.mark.parametrize("layer, wrt, formula, allowed", [
    (BN_FILE, "x", "dxhat*ivar + dmu/N + dvar*2*xmu/N", ONLY_PROVED),
    (BN_FILE, "x", "dxmu - mean(dxmu)", ONLY_PROVED),
    (BN_FILE, "x", "dxhat/N + dmu/N + dvar*2*xmu/N", ONLY_REFUTED),  # seed 001's slip
    (BN_FILE, "mu", "-sum(dxmu)", ONLY_PROVED),
    (BN_FILE, "sqrtvar", "-divar/sqrtvar**2", ONLY_PROVED),
    (BN_FILE, "var", "dsqrtvar/(2*sqrtvar)", ONLY_PROVED),
    (BN_FILE, "var", "dsqrtvar/(2*var)", ONLY_REFUTED),
    (BN_FILE, "x", "dx", ONLY_PROVED),
    (ALIAS, "z", "2*dy*z", ONLY_PROVED),
    (ALIAS, "x", "dz", ONLY_PROVED),
    (ALIAS, "dead", "0", ONLY_PROVED),
    (ALIAS, "dead", "1", ONLY_REFUTED),
    (POW_N, "x", "dy*N*x**(N - 1)", PROVED),
    (POW_N, "x", "dy*N*y/x", PROVED),
    (POW_N, "x", "dy*N*sqrt(x**2)**(N - 1)", REFUTED),  # |x|**(N-1): wrong for x < 0, N even
    (POW_N, "x", "dy*N*exp((N - 1)*log(x))", REFUTED),  # not real for x < 0
    (SIGN_N, "x", "dy*(-1)**N", PROVED),
    (SIGN_N, "x", "dy", REFUTED),  # wrong for odd N
    (SIGN_N, "x", "dy*12345", REFUTED),
])
def test_adjoints_stages_and_whole_number_powers(layer, wrt, formula, allowed):
    verdict(layer, wrt, formula, allowed)


# --- names that look like symbn's atoms --------------------------------------------------------

ATOM_NAMES = ["s", "S", "s1", "x_j", "x_i", "x_1", "m_x", "S_x", "exp_x", "log_x", "sqrt_x", "delta", "E", "I", "pi", "oo", "nan", "zoo", "O", "Q"]


@pytest.mark.parametrize("name", ATOM_NAMES)
def test_a_scalar_named_like_an_atom_is_not_the_atom(name):
    """y = k*x + x**2 with k named like "x at j": 3*dy*x (right only if k were x_j) is refuted."""
    layer = layer_of([f"y = {name}*x + x**2"], {"x": 'kind = "row"', name: 'kind = "scalar"'},
                     {"x": f"dy*{name} + 2*dy*x", name: "sum(dy*x)"}, f"atom_{name}")
    assert symbn.prove(layer).verdict == "proved"
    verdict(layer, "x", f"dy*{name} + 2*x*dy", ONLY_PROVED)
    verdict(layer, "x", "3*dy*x", ONLY_REFUTED)
    verdict(layer, name, "sum(dy*x)", ONLY_PROVED)


FUNCTION_OF_X = {"exp": ("exp(x)", "exp(x)"), "log": ("log(x**2 + 1)", "2*x/(x**2 + 1)"), "sqrt": ("sqrt(x**2 + 1)", "x/sqrt(x**2 + 1)")}


@pytest.mark.parametrize("name, fn", [("exp_x", "exp"), ("log_x", "log"), ("sqrt_x", "sqrt")])
def test_a_row_named_like_a_function_of_x_is_not_that_function(name, fn):
    value, derivative = FUNCTION_OF_X[fn]
    layer = layer_of([f"y = {value} + {name}"], {"x": 'kind = "row"', name: 'kind = "row"'},
                     {"x": f"dy*{derivative}", name: "dy"}, f"fn_{name}")
    proof = symbn.prove(layer)
    assert proof.verdict in ("proved", "unknown")
    if proof.verdict == "unknown":
        UNKNOWN.append((f"symbn prove on y = {value} + {name}", "; ".join(r.detail for r in proof.results if r.detail)[:300]))
    verdict(layer, "x", f"dy*{name}", ONLY_REFUTED)
    verdict(layer, "x", f"dy*{derivative}", PROVED)
    verdict(layer, name, "dy", ONLY_PROVED)


def test_a_scalar_named_S_is_not_a_sum():
    layer = layer_of(["m = sum(x)", "y = x*S + m"], {"x": 'kind = "row"', "S": 'kind = "scalar"'},
                     {"x": "dy*S + sum(dy)", "S": "sum(dy*x)"}, "bigS")
    verdict(layer, "x", "dy*sum(x) + sum(dy)", ONLY_REFUTED)
    verdict(layer, "x", "dy*S + sum(dy)", ONLY_PROVED)


# --- constants: declared positive, not declared, a default outside the domain ------------------


def _with(toml, old, new):
    assert old in toml
    return toml.replace(old, new)


BN_EPS_ANY = symbn.loads(_with(CASES["bn_in"].toml, "positive = true, ", ""), "bn_eps_any.toml")  # eps of either sign
ZC_C10 = symbn.loads(_with(CASES["zc"].toml, "default = 1", "default = 10"), "zc_c10.toml")  # N > 10 for a default c
VME = layer_of(["mu = mean(x)", "xmu = x - mu", "var = mean(xmu**2)", "sd = sqrt(var - eps)", "y = xmu/sd"],
               {"x": 'kind = "row"', "eps": 'kind = "constant", positive = true, default = 0.5'},
               {"x": "(dy - mean(dy) - xmu*sum(dy*xmu)/(N*sd**2))/sd"}, "vme")  # var > eps > 0
POSG = LAYERS["posg"]


@pytest.mark.parametrize("layer, wrt, formula, allowed", [
    (BN_EPS_ANY, "x", T_BN, ONLY_PROVED),
    (BN_EPS_ANY, "x", f"{T_BN}*sqrt(eps)**2/eps", ONLY_REFUTED),  # eps < 0 < var + eps is in the domain
    (BN_EPS_ANY, "x", f"{T_BN} + (eps - sqrt(eps**2))*dy", ONLY_REFUTED),
    (LAYERS["bn_in"], "x", f"{T_BN} + (eps - sqrt(eps**2))*dy", ONLY_PROVED),
    (LAYERS["bn_in"], "x", f"{T_BN}*sqrt(var + 2*eps)**2/(var + 2*eps)", PROVED),
    (LAYERS["bn_in"], "x", f"{T_BN}*sqrt(var)**2/var", ONLY_PROVED),
    (LAYERS["bn_in"], "x", f"{T_BN} + sqrt(-var)*0", ONLY_REFUTED),
    (LAYERS["bn_in"], "x", f"{T_BN} + sqrt(sqrt(eps) - sd)*0", ONLY_REFUTED),
    (ZC_C10, "x", T_ZC, ONLY_PROVED),
    (ZC_C10, "x", f"{T_ZC} + 1", ONLY_REFUTED),  # the counterexample has N > c, whatever the default
    (ZC_C10, "x", f"{T_ZC}*sqrt(N - 10)**2/(N - 10)", ONLY_REFUTED),
    (VME, "x", "(dy - mean(dy) - xmu*sum(dy*xmu)/(N*sd**2))/sd", ONLY_PROVED),
    (VME, "x", "(dy - mean(dy) - xmu*sum(dy*xmu)/(N*(var - eps)))/sd", ONLY_PROVED),
    (VME, "x", "(dy - mean(dy) - xmu*sum(dy*xmu)/(N*sd**2))/sd + sqrt(eps - var)*0", ONLY_REFUTED),
    (VME, "x", "(dy - mean(dy) - xmu*sum(dy*xmu)/(N*var))/sd", ONLY_REFUTED),
    (POSG, "h", "sum(dy)*sqrt(g)**2/g", ONLY_PROVED),
    (POSG, "h", "sum(dy)*sqrt(-g)**2/(-g)", ONLY_REFUTED),
    (POSG, "h", "sum(dy)*sqrt(h)**2/h", ONLY_REFUTED),  # h has no sign
    (POSG, "h", "sum(dy) + log(g*g) - 2*log(g)", ONLY_PROVED),
])
def test_constants_and_positive_inputs(layer, wrt, formula, allowed):
    verdict(layer, wrt, formula, allowed)


@pytest.mark.parametrize("formula", [f"{T_BN}*sqrt(eps)**2/eps", f"{T_BN}*log(eps)/log(eps)", f"{T_BN} + sqrt(eps)*0",
                                     f"{T_BN}*exp(log(N))/N"])
def test_a_constant_declared_positive_is_positive_in_claims(formula):
    """Proved at this branch's start (85fe93c).  On main at 07755b4 these are "unknown": "the two sides are
    equal where eps = eps is positive, but the layer's domain does not say that it is" (and "N = N")."""
    verdict(LAYERS["bn_in"], "x", formula, ONLY_PROVED)


# --- the issue's z-score layer: sd = sqrt(sum(xmu**2)/(N - c)) ----------------------------------


def test_the_issues_right_claim_for_d_sd_is_proved():
    verdict(LAYERS["zc"], "sd", "-sum(dy*xmu)*sqrt(N - c)/(sd*sqrt(sum(xmu**2)))", PROVED)
    verdict(LAYERS["zc"], "sd", "-sum(dy*xmu)/sd**2", PROVED)


def test_the_issues_claim_with_sqrt_of_minus_one_is_refuted():
    result = verdict(LAYERS["zc"], "sd", "sum(dy*xmu)/sd*sqrt(N - c)*sqrt(-1)/sqrt(-sum(xmu**2))", ONLY_REFUTED)
    assert result.counterexample.rhs == "not real"


def test_the_issues_right_claim_in_latex_is_proved():
    tex = r"-\frac{\sqrt{N - c}}{sd \sqrt{\sum_{i=1}^N xmu_i^2}} \sum_{i=1}^N \frac{\partial f}{\partial y_i} xmu_i"
    try:
        result = check_one(LAYERS["zc"], "sd", tex=tex).items[0].result
    except SpecError as err:  # the LaTeX reader may not know these names: then it says so in one line
        assert "\n" not in str(err)
        UNKNOWN.append(("zc: the issue's right claim in LaTeX", f"refused: {err}"))
        return
    assert result.verdict in PROVED, result


# --- LayerNorm followed by RMSNorm: two eps, or one shared ---------------------------------------

DH = "(dy/rms - h*sum(dy*h)/(N*rms**3))"
LN_RMS_X = f"(gamma*{DH} - mean(gamma*{DH}) - xhat*mean(xhat*gamma*{DH}))/sd"


def ln_rms(shared: bool):
    e2 = "eps" if shared else "eps2"
    inputs = {"x": 'kind = "row"', "gamma": 'kind = "row"', "beta": 'kind = "row"', "eps": 'kind = "constant", positive = true, default = 1e-5'}
    if not shared:
        inputs["eps2"] = 'kind = "constant", positive = true, default = 1e-6'
    stages = ["mu = mean(x)", "xmu = x - mu", "var = mean(xmu**2)", "sd = sqrt(var + eps)", "xhat = xmu/sd",
              "h = gamma*xhat + beta", "ms = mean(h**2)", f"rms = sqrt(ms + {e2})", "y = h/rms"]
    return layer_of(stages, inputs, {"x": LN_RMS_X, "gamma": f"xhat*{DH}", "beta": DH}, "ln_rms_" + ("shared" if shared else "two"))


@pytest.mark.parametrize("shared", [False, True], ids=["two eps", "one eps"])
def test_layernorm_then_rmsnorm(shared):
    layer = ln_rms(shared)
    right = LN_RMS_X if shared else "(gamma*dh - mean(gamma*dh) - xhat*mean(gamma*dh*xhat))/sd"
    verdict(layer, "x", right, PROVED, sizes=range(1, 5))  # takes 15-40 s today (recorded as slow)
    verdict(layer, "x", LN_RMS_X.replace("N*rms**3", "rms**3"), ONLY_REFUTED)  # a 1/N dropped
    verdict(layer, "x", LN_RMS_X.replace("/sd", "/rms"), ONLY_REFUTED)  # the two norms' scales confused
    if not shared:  # the other norm's eps
        verdict(layer, "beta", "dy/sqrt(ms + eps) - h*sum(dy*h)/(N*(ms + eps)**(3/2))", ONLY_REFUTED)


# --- softmax and log-softmax, log p written x - log(sum(exp(x))) ---------------------------------

LOGSOFTMAX_ONE_STAGE = layer_of(["y = x - log(sum(exp(x)))"], {"x": 'kind = "row"'},
                                {"x": "dy - exp(x - log(sum(exp(x))))*sum(dy)"}, "logsoftmax1")


@pytest.mark.parametrize("layer, formula, allowed", [
    (LOGSOFTMAX_ONE_STAGE, "dy - exp(x - log(sum(exp(x))))*sum(dy)", ONLY_PROVED),
    (LOGSOFTMAX_ONE_STAGE, "dy - exp(x)/sum(exp(x))*sum(dy)", ONLY_PROVED),
    (LOGSOFTMAX_ONE_STAGE, "dy - exp(x)*sum(dy)", ONLY_REFUTED),
    (LOGSOFTMAX_ONE_STAGE, "dy - exp(x - log(sum(exp(x))))*mean(dy)", ONLY_REFUTED),
    (LAYERS["softmax"], "t*exp(x - log(sum(exp(x))))*(dy - sum(dy*exp(x - log(sum(exp(x))))))", ONLY_PROVED),
    (LAYERS["softmax"], "t*p*(dy - sum(dy*exp(log(p))))", ONLY_PROVED),
    (LAYERS["softmax"], "t*p*(dy - sum(dy*exp(x - log(Z))))", ONLY_PROVED),
    (LAYERS["softmax"], "t*p*(dy - mean(dy*p))", ONLY_REFUTED),
    (LAYERS["logsoftmax"], "dy - exp(x - lse)*sum(dy)", ONLY_PROVED),
    (LAYERS["logsoftmax"], "dy - exp(x)/exp(lse)*sum(dy)", ONLY_PROVED),
    (LAYERS["logsoftmax"], "dy - exp(x - log(sum(exp(x))))*sum(dy)", ONLY_PROVED),
])
def test_softmax_and_log_softmax(layer, formula, allowed):
    verdict(layer, "x", formula, allowed)


# --- the eps-outside-the-root convention (the Annotated Transformer's LayerNorm) ----------------

ANNOTATED = layer_of(["mu = mean(x)", "xmu = x - mu", "std = sqrt(sum(xmu**2)/(N - 1))", "den = std + eps", "y = a*xmu/den + b"],
                     {"x": 'kind = "row"', "a": 'kind = "row"', "b": 'kind = "row"', "eps": 'kind = "constant", positive = true, default = 1e-6'},
                     {"x": "(a*dy - mean(a*dy))/den - xmu*sum(a*dy*xmu)/((N - 1)*std*den**2)", "a": "dy*xmu/den", "b": "dy"}, "annotated")


def test_eps_outside_the_root_is_never_wrong():
    right = "(a*dy - mean(a*dy))/den - xmu*sum(a*dy*xmu)/((N - 1)*std*den**2)"
    verdict(ANNOTATED, "x", right, PROVED)
    verdict(ANNOTATED, "x", right.replace("(N - 1)*", "N*"), REFUTED)
    verdict(ANNOTATED, "std", "-sum(a*dy*xmu)/den**2", PROVED)
    proof = symbn.prove(ANNOTATED)
    if proof.verdict != "proved":
        UNKNOWN.append(("annotated LayerNorm, eps outside the root: symbn prove", "; ".join(
            f"{r.wrt} {r.route}/{r.against}: {r.verdict} ({r.detail})" for r in proof.results if r.verdict != "proved")))
    assert proof.verdict in ("proved", "unknown")


# --- bad input: one line, exit status 2, never a traceback or a hang ----------------------------

BASE = """
[layer]
name = "b"
stages = ["mu = mean(x)", "y = x - mu"]
output = "y"
[inputs]
x = { kind = "row" }
[closed_form]
x = "dy - mean(dy)"
"""


def _cli(*args, timeout=30):
    """Run the CLI in its own process group; on a timeout, end that group (workers included)."""
    proc = subprocess.Popen([sys.executable, "-m", "symbn", *args], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        raise
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


@pytest.mark.parametrize("default", ["nan", "inf", "-inf", "1e400"])
def test_a_default_that_is_not_a_finite_number_is_refused(default, tmp_path):
    text = BASE.replace('x = { kind = "row" }', f'x = {{ kind = "row" }}\nc = {{ kind = "constant", default = {default} }}')
    path = tmp_path / "b.toml"
    path.write_text(text)
    run = _cli("prove", str(path))
    assert run.returncode == 2 and "Traceback" not in run.stderr, run.stderr[-400:]


def test_a_counterexample_with_a_huge_value_is_printed(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text(BASE)
    run = _cli("check", str(path), "--wrt", "x", "--formula", "dy*((10**39)**64)**2")
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr[-400:]


def test_a_tower_of_powers_ends_within_the_time_limit(tmp_path):
    path = tmp_path / "b.toml"
    path.write_text(BASE)
    run = _cli("check", str(path), "--wrt", "x", "--formula", "dy - mean(dy) + 0*2**64**64", "--time-limit", "2", timeout=15)
    assert run.returncode in (0, 2, 3), run.stderr[-400:]


# --- the record ----------------------------------------------------------------------------------


def test_zz_print_the_unknowns_and_the_slow_claims():
    """Runs last in this file: what a reader of the report should see (pytest -s)."""
    print(f"\n{len(UNKNOWN)} unknown verdicts in the hand-written cases:")
    for case, reason in UNKNOWN:
        print(f"  {case}\n      {reason}")
    print(f"{len(SLOW)} claims took more than 2 s:")
    for seconds, case, v in sorted(SLOW, reverse=True):
        print(f"  {seconds:6.1f} s  {v}  {case[:160]}")
