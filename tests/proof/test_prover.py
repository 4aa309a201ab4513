"""The prover: proofs for every N and for N = 1..6, refutations with exact
counterexamples re-checked by an independent oracle, agreement of the two
realisations, and a property test that perturbations are never proved."""


import random
import re

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbn
import symbn.lang.expr
from symbn.proof.claims import check_one
from symbn.proof.prover import PROVED, REFUTED, UNKNOWN, prove
from symbn.proof.refute import Refuter
from symbn.proof.routes import ROUTES, Routes, realisation
from symbn.realise.moments import Moments
from symbn.realise.protocol import Point

from ..files import FILES, POSITIVE_SCALAR, ROOT
from ..oracle import formula_value, true_gradient
from .verdicts import random_point


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_file_is_proved_for_every_n(path):
    layer = symbn.load(path)
    proof = prove(layer)
    assert proof.verdict == PROVED, proof.table()
    routes = {"direct", "forward", "reverse", "closed_form"}
    for wrt in layer.differentiable:
        pairs = {(r.route, r.against) for r in proof.results if r.wrt == wrt}
        assert len(pairs) == 6 and {x for p in pairs for x in p} == routes


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_every_file_is_proved_for_each_small_n(path, n):
    """Proved at each N, except where the layer (or its gradient) has no value at that N at all (an N - 1
    variance at N = 1, the derivative of sqrt(var) at var = 0 with eps outside the root): there the
    verdict is unknown and says so, and the oracle finds no point of the domain either."""
    layer = symbn.load(path)
    proof = prove(layer, n=n)
    undefined = [r for r in proof.results if r.verdict != PROVED]
    if undefined:
        assert all(r.verdict == "unknown" and re.search(rf"(for every input at N = {n}|has no value there)", r.detail)
                   for r in undefined), proof.table()
        assert n == 1, f"{path.stem}: undefined at N = {n}"
        # the oracle, independently of symbn's domain: no random point inside the layer's real domain at this N
        assert random_point(layer, n, random.Random(n)) is None, path.stem
        return
    assert proof.verdict == PROVED, proof.table()


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6])
def test_general_n_agrees_with_concrete_n(path, n):
    """Each route's general-N expression, evaluated at a concrete point, equals the
    concrete-N route (explicit symbols) at that point, for every j: exactly."""
    layer = symbn.load(path)
    general = Routes(layer, realisation(layer, None))
    found = Refuter(layer, n, seed=n).point(n)
    if found is None:  # symbn finds no point of the domain at this N: nor may the oracle
        assert random_point(layer, n, random.Random(n)) is None, path.stem
        pytest.skip(f"{path.stem} has no point of its real domain at N = {n}")
    point = _exact(found.values)
    gradients = {(wrt, route): general.gradient(route, wrt) for wrt in layer.differentiable for route in ROUTES}
    for j in range(n):
        concrete = Routes(layer, realisation(layer, n, j))
        sub_g = general.B.substitution(Point(n, j, point))  # after the gradients: their moments are known
        for (wrt, route), g in gradients.items():
            c = concrete.gradient(route, wrt)
            want = sp.sympify(c).xreplace(concrete.B.substitution(Point(n, j, point)))
            got = sp.sympify(g).xreplace(sub_g)
            assert sp.simplify(got - want) == 0, (wrt, route, j)


def _exact(values):
    """A point's values as SymPy rationals."""
    return {k: [sp.Rational(a) for a in v] if isinstance(v, list) else sp.Rational(v) for k, v in values.items()}


WRONG = {  # BatchNorm's dx, mistakes as published
    "projection without 1/N": "gamma*ivar*(dy - mean(dy) - xhat*sum(dy*xhat))",
    "mean term without 1/N": "gamma*ivar*(dy - sum(dy) - xhat*mean(dy*xhat))",
    "gamma missing": "ivar*(dy - mean(dy) - xhat*mean(dy*xhat))",
    "sign flipped": "gamma*ivar*(dy - mean(dy) + xhat*mean(dy*xhat))",
    "unbiased variance in the backward": (
        "gamma*(sum(sq)/(N-1) + eps)**(-1/2)*(dy - mean(dy) - xmu*(sum(sq)/(N-1) + eps)**(-1)*mean(dy*xmu))"
    ),
    "sigma for sigma squared": "gamma*ivar*(dy - mean(dy) - xmu*ivar*mean(dy*xmu))",
    "x for xhat": "gamma*ivar*(dy - mean(dy) - x*mean(dy*xhat))",
}


@pytest.mark.parametrize("formula", WRONG.values(), ids=list(WRONG))
def test_wrong_closed_forms_are_refuted_and_the_counterexample_holds(bn, formula):
    (item,) = check_one(bn, "x", formula=formula).items
    result = item.result
    assert result.verdict == REFUTED
    ce = result.counterexample
    assert ce.n >= 1 and 0 <= ce.j < ce.n
    # re-check by exact evaluation, independently of the engines
    truth = true_gradient(bn, ce.values, "x", ce.n, ce.j)
    claimed = formula_value(bn, symbn.lang.expr.parse(formula), ce.values, ce.n, ce.j)
    assert sp.simplify(truth - ce.lhs) == 0
    assert sp.simplify(claimed - ce.rhs) == 0
    assert sp.simplify(truth - claimed) != 0


def test_wrong_scalar_gradients_are_refuted(bn):
    for wrt, formula in [("gamma", "sum(dy*xmu)"), ("gamma", "mean(dy*xhat)"), ("beta", "mean(dy)"), ("beta", "sum(dy*gamma)")]:
        (item,) = check_one(bn, wrt, formula=formula).items
        ce = item.result.counterexample
        assert item.result.verdict == REFUTED
        assert true_gradient(bn, ce.values, wrt, ce.n, 0) == ce.lhs != ce.rhs


RIGHT = {
    "as in the file": "gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))",
    "expanded": "gamma*ivar*dy - gamma*ivar*mean(dy) - gamma*ivar*xhat*mean(dy*xhat)",
    "radicals written out": "gamma/sqrt(var + eps)*(dy - mean(dy) - (x - mu)/(var + eps)*mean(dy*(x - mu)))",
    "seed 000": "gamma*(var+eps)**(-1/2)*(dy - mean(dy) - (x-mu)*(var+eps)**(-1)*mean((x-mu)*dy))",
    "sums over N": "gamma*ivar/N*(N*dy - sum(dy) - xhat*sum(dy*xhat))",
    "pytorch cpu": "ivar*gamma*(dy - mean(dy) - xmu*ivar**2*mean(dy*xmu))",
    "c - mean(c)": "gamma*ivar*((dy - xhat*mean(dy*xhat)) - mean(dy - xhat*mean(dy*xhat)))",
    "factored": "(gamma*ivar)*(dy - (mean(dy) + xhat*mean(dy*xhat)))",
}

# interchangeable spellings of the same quantity, for the property test below
SPELLINGS = {
    "IVAR": ["ivar", "1/sqrt(var + eps)", "(var + eps)**(-1/2)", "1/sqrtvar", "sqrtvar**(-1)"],
    "XHAT": ["xhat", "xmu*ivar", "(x - mu)/sqrtvar", "(x - mean(x))*ivar"],
    "MEANDY": ["mean(dy)", "sum(dy)/N", "mean(dy*1)"],
    "PROJ": ["mean(dy*XHAT)", "sum(XHAT*dy)/N", "mean(dy*xmu)*IVAR"],
}


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), shape=st.sampled_from(["gamma*IVAR*(dy - MEANDY - XHAT*PROJ)", "gamma*IVAR*dy - gamma*IVAR*MEANDY - gamma*IVAR*XHAT*PROJ", "IVAR*gamma*(dy - (MEANDY + PROJ*XHAT))"]))
def test_equivalent_rewritings_are_always_proved(bn, data, shape):
    formula = shape
    for key in ("PROJ", "IVAR", "XHAT", "MEANDY", "IVAR", "XHAT"):  # PROJ brings its own IVAR and XHAT
        while key in formula:
            formula = formula.replace(key, f"({data.draw(st.sampled_from(SPELLINGS[key]))})", 1)
    (item,) = check_one(bn, "x", formula=formula).items
    assert item.result.verdict == PROVED, formula


@pytest.mark.parametrize("formula", RIGHT.values(), ids=list(RIGHT))
def test_equivalent_rewritings_are_proved(bn, formula):
    (item,) = check_one(bn, "x", formula=formula).items
    assert item.result.verdict == PROVED


def test_stage_adjoints_are_checked_against_reverse_mode(bn):
    ok = check_one(bn, "mu", formula="-gamma*ivar*sum(dy)").items[0].result
    bad = check_one(bn, "mu", formula="-gamma/mu*sum(dy)").items[0].result  # seed 001's σ ↔ μ slip
    assert ok.verdict == PROVED and bad.verdict == REFUTED


TERMS = ["dy", "xhat", "mean(dy)", "mean(dy*xhat)", "ivar", "xhat*mean(dy*xhat)", "1"]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    kind=st.sampled_from(["add", "scale", "power"]),
    term=st.sampled_from(TERMS),
    c=st.fractions(min_value=-5, max_value=5, max_denominator=4).filter(lambda c: c != 0),
)
def test_perturbations_of_the_closed_form_are_never_proved(bn, kind, term, c):
    base = "gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))"
    c = f"({c.numerator}/{c.denominator})"
    formula = {
        "add": f"{base} + {c}*{term}",
        "scale": f"{base}*(1 + {c})",
        "power": f"gamma*ivar**(1 + {c})*(dy - mean(dy) - xhat*mean(dy*xhat))",
    }[kind]
    (item,) = check_one(bn, "x", formula=formula).items
    assert item.result.verdict != PROVED, formula


def test_time_limit_gives_unknown(bn):
    proof = prove(bn, time_limit=1e-6)
    assert proof.verdict == UNKNOWN and proof.exit_code == 3
    assert all(r.verdict in (PROVED, UNKNOWN) for r in proof.results)


def test_json_shape(bn):
    data = check_one(bn, "x", formula=WRONG["gamma missing"]).to_json()
    (r,) = data["results"]
    assert data["layer"] == "batchnorm" and data["n"] == "all"
    assert set(r) >= {"wrt", "route", "against", "verdict", "counterexample", "seconds"}
    ce = r["counterexample"]
    assert set(ce) == {"N", "j", "values", "lhs", "rhs"}
    assert len(ce["values"]["x"]) == ce["N"] and all(isinstance(v, str) for v in ce["values"]["x"])
    assert set(ce["values"]) == {"x", "gamma", "beta", "eps", "dy"}


def test_a_concrete_n_refutation_stays_at_that_n(bn):
    (item,) = check_one(bn, "x", formula=WRONG["gamma missing"], n=4).items
    assert item.result.verdict == REFUTED and item.result.counterexample.n == 4


def test_the_moment_algebra_sums_deltas_and_moments():
    B = Moments({"x": "row", "dy": "row"})
    x, dy = B.input("x"), B.input("dy")
    from symbn.realise.moments import DELTA, N

    assert B.sum(3) == 3 * N
    assert B.sum(DELTA * dy * x) == B.j_atom["dy"] * B.j_atom["x"]
    assert B.sum(x - B.sum(x) / N) == 0  # Σ(x_i - μ) = 0
    assert B.sum(2 * x * dy) == 2 * B.moment(dy * x)


SOFTMAX = """
[layer]
name = "softmax"
stages = ["c = x - mean(x)", "e = exp(c)", "s = sum(e)", "y = e/s"]
output = "y"
[inputs]
x = { kind = "row" }
[closed_form]
x = "y*(dy - sum(dy*y))"
"""

MEAN_SCALE = """
[layer]
name = "meanscale"
stages = ["m = mean(x)", "y = m*gamma"]
output = "y"
[inputs]
x = { kind = "row" }
gamma = { kind = "scalar" }
[closed_form]
x = "gamma*dy/N"
gamma = "dy*m"
"""


@pytest.mark.parametrize("text, wrong", [(SOFTMAX, "y*(dy - mean(dy*y))"), (MEAN_SCALE, "gamma*dy")], ids=["softmax", "scalar-output"])
def test_nothing_is_batchnorm_specific(text, wrong):
    """exp, division by a sum, a moment of a non-polynomial body (S[exp(x_i - mu)]),
    and a scalar output: proved for every N and each small N; a wrong form refuted."""
    layer = symbn.loads(text, "inline.toml")
    assert prove(layer).verdict == PROVED
    assert all(prove(layer, n=n).verdict == PROVED for n in (1, 2, 3, 4))
    (item,) = check_one(layer, "x", formula=wrong).items
    ce = item.result.counterexample
    assert item.result.verdict == REFUTED
    truth = true_gradient(layer, ce.values, "x", ce.n, ce.j)
    assert abs(sp.N(truth - ce.lhs, 30)) < 1e-25 and abs(sp.N(truth - ce.rhs, 30)) > 1e-10


def test_general_n_agrees_with_concrete_n_for_nested_moments():
    layer = symbn.loads(SOFTMAX, "softmax.toml")
    general = Routes(layer, realisation(layer, None))
    point = _exact(Refuter(layer, 3).point(3).values)
    g = general.gradient("direct", "x")
    for j in range(3):
        concrete = Routes(layer, realisation(layer, 3, j))
        c = concrete.gradient("reverse", "x")
        diff = sp.sympify(g).xreplace(general.B.substitution(Point(3, j, point))) - c.xreplace(concrete.B.substitution(Point(3, j, point)))
        assert abs(sp.N(diff, 40)) < 1e-30


CASES = [(path, wrt) for path in FILES for wrt in symbn.load(path).closed_form]


@pytest.mark.parametrize("path, wrt", CASES, ids=[f"{p.stem}-{w}" for p, w in CASES])
@pytest.mark.parametrize("change", ["2*({})", "({})*(1 + 1/N)"])
def test_every_files_closed_forms_refuted_when_wrong(path, wrt, change):
    """The twin of test_every_file_is_proved_*: each closed form, changed, is refuted,
    and the counterexample holds by the oracle."""
    layer = symbn.load(path)
    formula = change.format(layer.closed_form[wrt].text)
    (item,) = check_one(layer, wrt, formula=formula).items
    assert item.result.verdict == REFUTED, formula
    ce = item.result.counterexample
    truth = true_gradient(layer, ce.values, wrt, ce.n, ce.j)
    claimed = formula_value(layer, symbn.lang.expr.parse(formula), ce.values, ce.n, ce.j)
    assert sp.simplify(truth - ce.lhs) == 0 and sp.simplify(claimed - ce.rhs) == 0 and truth != claimed


# --- a file's names never meet symbn's own atoms (found by a soundness audit) ---------------------

def _layer_with_scalar(name: str) -> str:
    """y = x*x + <name>*mean(x): a scalar input whose name looks like one of symbn's
    atoms (x_j, x_i, x_1, m_x, δ_ij), with the same assumptions, so that before the
    atoms were renamed the two were one symbol."""
    positive = ""
    return f"""
[layer]
name = "clash"
stages = ["m = mean(x)", "y = x*x + {name}*m"]
output = "y"
[inputs]
x = {{ kind = "row" }}
"{name}" = {{ kind = "scalar"{positive} }}
[closed_form]
x = "2*x*dy + {name}*mean(dy)"
"{name}" = "sum(dy)*m"
"""


@pytest.mark.parametrize("name", ["x_j", "x_i", "x_1", "m_x", "c_x_1", "δ_ij"])
def test_names_like_symbns_atoms_are_just_names(name):
    """The atoms' names hold brackets (x[j], s[1], δ[i,j]), which no file name has:
    the closed form is proved, and a form that is right only if the name were the
    atom (x_j for x at j) is refuted, at every N and at N = 3."""
    layer = symbn.loads(_layer_with_scalar(name), "clash.toml")
    assert prove(layer).verdict == PROVED and prove(layer, n=3).verdict == PROVED
    for n in (None, 3):
        (item,) = check_one(layer, "x", formula=f"2*{name}*dy + {name}*mean(dy)", n=n).items
        ce = item.result.counterexample
        assert item.result.verdict == REFUTED
        truth = true_gradient(layer, ce.values, "x", ce.n, ce.j)
        assert sp.simplify(truth - ce.lhs) == 0 and sp.simplify(truth - ce.rhs) != 0


def test_a_constant_named_like_a_root_is_not_the_root():
    """BatchNorm with an unused positive constant s1: the root s = N·σ was once the
    symbol s1 too, and this wrong form (N/s1 for 1/σ) was proved."""
    text = (ROOT / "derivations/batchnorm.toml").read_text().split("[notation]")[0]
    text = text.replace('"y = gamma*xhat + beta",', '"y = gamma*xhat + beta + 0*s1",').replace(
        "[latex]", 's1    = { kind = "constant", positive = true, default = 2.0 }\n\n[latex]')
    layer = symbn.loads(text, "bn_s1.toml")
    assert "s1" in layer.inputs and prove(layer).verdict == PROVED
    (item,) = check_one(layer, "x", formula="gamma*N/s1*(dy - mean(dy) - xmu*N/s1*mean(dy*xhat))").items
    assert item.result.verdict == REFUTED



def test_counterexamples_keep_declared_signs():
    """g is declared positive, so sqrt(g**2) = g: a counterexample must have g > 0.
    A true form is never refuted (it was, at g = -4, with a wrong lhs), and a wrong
    one is refuted at a positive g (found by a soundness audit)."""
    layer = symbn.loads(POSITIVE_SCALAR, "pos.toml")
    assert prove(layer).verdict == PROVED
    (item,) = check_one(layer, "x", formula="(sqrt(g**2 + 2*g + 1) - 1)*dy").items
    assert item.result.verdict != REFUTED
    for n in (None, 3):
        (item,) = check_one(layer, "x", formula="-g*dy", n=n).items
        ce = item.result.counterexample
        assert item.result.verdict == REFUTED and ce.values["g"] > 0
        assert sp.simplify(true_gradient(layer, ce.values, "x", ce.n, ce.j) - ce.lhs) == 0


@pytest.mark.parametrize("formula, words", [
    ("+ sqrt(var - mean(sq))", "the formula takes the square root of 0 for every input"),
    ("*(-1)**(2*N)", "a power of -1 whose exponent is not an integer constant"),
])
def test_an_unknown_names_the_root_or_power_the_formula_takes(formula, words):
    """Equal to the truth but not proved: the reason names the operation and its value (it said 'equal
    where 0 is positive' and 'where -1 is positive', and 'root or log' for a power)."""
    layer = symbn.load("derivations/batchnorm.toml")
    (item,) = check_one(layer, "x", formula="gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat)) " + formula).items
    result = item.result
    assert result.verdict == "unknown" and words in result.detail and "the two sides are equal, but" in result.detail
