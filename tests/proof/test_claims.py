"""Claims: the seeds' formulas get the verdicts their authors' readers need, every
refutation is re-checked by the independent oracle, mutants of the closed form are
never proved, and random input never crashes or runs code."""

import random
from fractions import Fraction

import pytest
import sympy as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symbn
from symbn.lang.derivation import SpecError
from symbn.lang.expr import BinOp, Call, Name, Neg, Num, parse, to_text
from symbn.proof.claims import check_claims, check_one
from symbn.proof.prover import PROVED, REFUTED, Prover, check_formula
from symbn.proof.report import AGREES

from ..files import BATCHNORM, FILES, SEEDS
from ..oracle import formula_value, second_gradient, true_gradient


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_every_claim_gets_its_expected_verdict_and_refutations_hold(path):
    layer = symbn.load(path)
    report = check_claims(layer)
    assert report.exit_code == 0, report.table()
    for item in report.items:
        assert item.result.verdict == AGREES[item.expect], item.id
        ce = item.result.counterexample
        claim = next((c for c in layer.claims if item.id in (c.id, f"{c.id} (LaTeX)")), None)
        if ce is None or claim is None:
            continue  # code claims' counterexamples are re-checked by running the code (tests/proof/test_code.py)
        if claim.shards:
            continue  # on a split slice: tests/proof/test_shards.py re-checks it
        oracle = true_gradient if claim.order == 1 else second_gradient
        truth = oracle(layer, ce.values, claim.wrt, ce.n, ce.j)
        claimed = formula_value(layer, claim.formula.expr, ce.values, ce.n, ce.j)
        assert sp.simplify(truth - ce.lhs) == 0 and sp.simplify(claimed - ce.rhs) == 0
        assert sp.simplify(truth - claimed) != 0, item.id


def test_the_seeds_are_all_there(bn):
    ids = {c.id for c in bn.claims}
    assert {"seed-000-dX", "seed-000-dX-vectorised", "seed-001-dvar", "seed-001-dmu", "seed-001-dx", "seed-003-staged-dx"} <= ids
    wrong = {c.id for c in bn.claims if c.expect == "wrong" and c.order == 1 and not c.shards}
    assert wrong == {"seed-001-dmu", "seed-001-dx", "seed-001-dx-dy"}
    assert all(c.note for c in bn.claims if c.expect == "wrong")


SEED_000_DX = r"\gamma(v + \epsilon)^{-\frac{1}{2}} \left(-\frac{1}{N} \sum_{i=1}^N \frac{\partial f}{\partial y_i} - (x_j - \mu)(v + \epsilon)^{-1} \frac{1}{N} \sum_{i=1}^N (x_i - \mu) \frac{\partial f}{\partial y_i} + \frac{\partial f}{\partial y_j} \right)"


def test_seed_000_pasted_as_latex_is_proved(bn):
    (item,) = check_one(bn, "x", tex=SEED_000_DX).items
    assert item.result.verdict == PROVED


def test_seed_000_writes_it_so():
    text = SEEDS / "000_b1e12a8b3f037b83.txt"
    if not text.exists():
        pytest.skip(f"the seeds are not beside this checkout ({SEEDS})")
    assert SEED_000_DX in text.read_text()  # exactly as written there


# --- seed 000's vectorised formula: X for x, df/dY for dy, at the free index ---------------------


def _vectorised(bn):
    return next(c for c in bn.claims if c.id == "seed-000-dX-vectorised")


def test_seed_000_vectorised_formula_is_in_the_file_as_the_seed_writes_it(bn):
    text = SEEDS / "000_b1e12a8b3f037b83.txt"
    if not text.exists():
        pytest.skip(f"the seeds are not beside this checkout ({SEEDS})")
    claim = _vectorised(bn)
    assert r"(X - \mu)" in claim.latex and r"{\partial Y}" in claim.latex
    assert claim.latex in text.read_text()  # byte for byte


def test_seed_000_vectorised_formula_is_proved(bn):
    report = check_claims(bn)
    verdicts = {item.id: item.result.verdict for item in report.items}
    assert verdicts["seed-000-dX-vectorised (LaTeX)"] == PROVED
    assert verdicts["seed-000-dX-vectorised"] == PROVED


@pytest.mark.parametrize(
    "slip, fixed",
    [(r"- (X - \mu)", r"+ (X - \mu)"),  # a sign flipped
     (r"\frac{1}{N} \sum_{i=1}^N (x_i", r"\sum_{i=1}^N (x_i"),  # 1/N dropped
     (r"(v + \epsilon)^{-1}", r"(v + \epsilon)^{-\frac{1}{2}}")],  # a changed power
)
def test_seed_000_vectorised_formula_with_a_slip_is_refuted(bn, slip, fixed):
    tex = _vectorised(bn).latex
    assert tex.count(slip) == 1
    (item,) = check_one(bn, "x", tex=tex.replace(slip, fixed)).items
    assert item.result.verdict == REFUTED


def test_a_capital_for_a_row_inside_a_sum_is_refused(bn):
    with pytest.raises(SpecError, match=r"X is all of x, one value per position of the slice: inside \\sum_i"):
        check_one(bn, "x", tex=r"\frac{1}{N}\sum_{i=1}^N (X - \mu) \frac{\partial f}{\partial y_i}")
    with pytest.raises(SpecError, match="takes no index"):
        check_one(bn, "x", tex=r"\gamma \frac{\partial f}{\partial Y_j}")


# --- mutation testing ---------------------------------------------------------------

BASES = [
    "gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))",
    "gamma*(var+eps)**(-1/2)*(dy - mean(dy) - (x-mu)*(var+eps)**(-1)*mean((x-mu)*dy))",
    "ivar*gamma*(dy - mean(dy) - xmu*ivar**2*mean(dy*xmu))",
    "gamma*ivar/N*(N*dy - sum(dy) - xhat*sum(dy*xhat))",
    "gamma*ivar*dy - gamma*ivar*mean(dy) - gamma*ivar*xhat*mean(dy*xhat)",
    "gamma/sqrt(var + eps)*(dy - mean(dy) - (x - mu)/(var + eps)*mean(dy*(x - mu)))",
    "gamma*ivar*((dy - xhat*mean(dy*xhat)) - mean(dy - xhat*mean(dy*xhat)))",
]


def mutants(e):
    """Every single-site mutation of the kinds people make."""
    yield from _here(e)
    if isinstance(e, BinOp):
        for m in mutants(e.left):
            yield BinOp(e.op, m, e.right)
        for m in mutants(e.right):
            yield BinOp(e.op, e.left, m)
    elif isinstance(e, (Neg, Call)):
        for m in mutants(e.arg):
            yield type(e)(e.fn, m) if isinstance(e, Call) else Neg(m)


def _here(e):
    two = Num(Fraction(2))
    if isinstance(e, BinOp) and e.op in "+-":
        yield e.left  # a dropped term
        yield e.right if e.op == "+" else Neg(e.right)
        yield BinOp("-" if e.op == "+" else "+", e.left, e.right)  # a flipped sign
    if isinstance(e, BinOp) and e.op == "*":
        yield BinOp("*", two, e)
        yield BinOp("/", e.left, e.right)
    if isinstance(e, BinOp) and e.op == "**":
        yield BinOp("**", e.left, BinOp("*", two, e.right))  # a changed power
    if isinstance(e, Call) and e.fn == "mean":
        yield Call("sum", e.arg)  # mean <-> sum
        yield BinOp("/", Call("sum", e.arg), BinOp("-", Name("N"), Num(Fraction(1))))  # 1/N -> 1/(N-1)
    if isinstance(e, Call) and e.fn == "sum":
        yield Call("mean", e.arg)
    if isinstance(e, Num):
        yield Num(e.value + 1)  # a wrong constant
    if isinstance(e, Name):
        swap = {"gamma": Num(Fraction(1)), "x": Name("xhat"), "xhat": Name("x"), "ivar": Name("sqrtvar"), "N": BinOp("-", Name("N"), Num(Fraction(1)))}
        if e.id in swap:
            yield swap[e.id]  # gamma missing, x <-> xhat, sigma for 1/sigma, N-1 for N
        if e.id == "ivar":
            yield BinOp("**", e, two)


def all_mutants():
    seen, out = set(), []
    for base in BASES:
        for m in mutants(parse(base)):
            text = to_text(m)
            if text not in seen:
                seen.add(text)
                out.append(text)
    return out


def test_at_least_200_mutants_none_proved(bn):
    texts = all_mutants()
    assert len(texts) >= 200, len(texts)
    prover = Prover(bn)
    rng = random.Random(1)
    refuted = 0
    for text in texts:
        result = check_formula(bn, "x", bn.formula(text, "mutant"), "mutant", prover=prover)
        if result.verdict == PROVED:  # only if the mutation happens to be an identity: the oracle must agree
            point = {"x": [sp.Rational(rng.randint(-9, 9), 2) for _ in range(3)], "dy": [sp.Rational(rng.randint(-9, 9)) for _ in range(3)], "gamma": sp.Rational(3, 2), "beta": 1, "eps": sp.Rational(1, 3)}
            assert sp.simplify(true_gradient(bn, point, "x", 3, 1) - formula_value(bn, parse(text), point, 3, 1)) == 0, text
        else:
            assert result.verdict == "refuted", (text, result.detail)
            refuted += 1
    assert refuted >= 200


# --- fuzzing ----------------------------------------------------------------------

NAMES = ["x", "gamma", "beta", "eps", "mu", "xmu", "var", "ivar", "xhat", "dy", "N", "dmu", "dvar", "q"]
leaf = st.one_of(st.sampled_from(NAMES), st.integers(-3, 9).map(str), st.sampled_from(["0.5", "1e-3"]))
tree = st.recursive(
    leaf,
    lambda t: st.one_of(
        st.tuples(t, st.sampled_from(["+", "-", "*", "/", "**"]), t).map(lambda a: f"({a[0]} {a[1]} {a[2]})"),
        st.tuples(st.sampled_from(["mean", "sum", "sqrt", "exp", "log", "-"]), t).map(lambda a: f"{a[0]}({a[1]})"),
    ),
    max_leaves=8,
)
junk = st.text(alphabet="xyNdmue+-*/()._[]'\"\\ 0123456789,=:;lambdaimport", max_size=40)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(tree, junk))
def test_random_formulas_end_in_a_verdict_or_a_clean_error(bn, text):
    try:
        report = check_one(bn, "x", formula=text, time_limit=5)
    except SpecError as err:
        assert str(err).startswith(f"{bn.path}: --formula") or "--wrt" in str(err)
        return
    assert report.items[0].result.verdict in ("proved", "refuted", "unknown")


TEX = ["\\frac{", "}{", "}", "^", "_", "\\sum_{i=1}^{N}", "x_i", "x_j", "\\mu", "\\sigma", "\\gamma", "\\hat{x}_j", "(", ")", "+", "-", "\\cdot", "2", "N", "\\partial", "\\frac{\\partial f}{\\partial y_i}", "\\left(", "\\right)", "\\sqrt{", "v", "\\epsilon"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(parts=st.lists(st.sampled_from(TEX), max_size=14))
def test_random_latex_ends_in_a_verdict_or_a_clean_error(bn, parts):
    tex = " ".join(parts)
    try:
        report = check_one(bn, "x", tex=tex, time_limit=5)
    except SpecError as err:
        assert "--latex" in str(err)
        return
    assert report.items[0].result.verdict in ("proved", "refuted", "unknown")


CONSTANT_STAGE = BATCHNORM.read_text().split("[notation]")[0].replace(
    '"sqrtvar = sqrt(var + eps)",', '"e2 = 2*eps", "sqrtvar = sqrt(var + e2)",').replace(
    "default = 1e-5", "default = 5e-6")


def test_a_stage_of_constants_is_not_differentiated():
    """e2 = 2*eps is a constant: asking for d f/d e2 (or using de2) is refused, where
    it once read as 0 and '0' was proved (found by a soundness audit)."""
    layer = symbn.loads(CONSTANT_STAGE, "e2.toml")
    assert layer.graph.kinds["e2"] == "constant"
    with pytest.raises(SpecError, match="'e2' is computed from constants only"):
        check_one(layer, "e2", formula="0")
    with pytest.raises(SpecError, match="unknown name 'de2'"):
        check_one(layer, "x", formula="gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat)) + 1000*de2")
    (item,) = check_one(layer, "var", formula="-1/(2*sqrtvar**3)*sum(dy*gamma*xmu)").items
    assert item.result.verdict == PROVED


def test_a_row_symbol_without_index_inside_a_sum_is_refused(bn):
    r"""\hat{x} in a sum over i is neither clearly \hat{x}_i nor \hat{x}_j; it was read as
    \hat{x}_i, and a correct formula was refuted (found by an adversarial review)."""
    tex = (r"\frac{\gamma}{N\sigma}\left(N\frac{\partial f}{\partial y_j} - \sum_{i=1}^N \frac{\partial f}{\partial y_i}"
           r" - \sum_{i=1}^N \frac{\partial f}{\partial y_i}\hat{x}_i\hat{x}\right)")
    with pytest.raises(SpecError, match=r"xhat inside \\sum_i has no index"):
        check_one(bn, "x", tex=tex)
    (item,) = check_one(bn, "x", tex=tex.replace(r"\hat{x}\right", r"\hat{x}_j\right")).items
    assert item.result.verdict == PROVED


DY = r"\sum_{i=1}^N \frac{\partial f}{\partial y_i}"
DY_XHAT = r"\sum_{i=1}^N \frac{\partial f}{\partial y_i}\hat{x}_i"


def _verdicts(layer, wrt, tex):
    return [(item.id, item.result.verdict) for item in check_one(layer, wrt, tex=tex).items]


def test_every_step_of_an_equation_is_checked_not_only_the_last(bn):
    """A chain is a claim that each of its sides is the derivative: a wrong step before a right one is refuted
    (the step named), and the same chain with the step right is proved."""
    assert _verdicts(bn, "gamma", f"{DY} = {DY_XHAT}") == [("formula (side 1)", REFUTED), ("formula (side 2)", PROVED)]
    assert _verdicts(bn, "gamma", f"{DY_XHAT} = {DY_XHAT}") == [("formula (side 1)", PROVED), ("formula (side 2)", PROVED)]
    aligned = r"\begin{aligned} \frac{\partial f}{\partial \beta} &= 0 \\ &= " + DY + r" \end{aligned}"
    assert _verdicts(bn, "beta", aligned) == [("formula (side 2)", REFUTED), ("formula (side 3)", PROVED)]


def test_a_left_hand_side_is_the_label_only_when_it_names_the_derivative_checked(bn):
    r"""∂f/∂γ = Σ dy·x̂ is proved with one side checked; ∂f/∂β = Σ dy·x̂ for --wrt gamma is refuted, not read as
    a label; a lone ∂f/∂γ says what is missing."""
    assert _verdicts(bn, "gamma", r"\frac{\partial f}{\partial \gamma} = " + DY_XHAT) == [("formula", PROVED)]
    assert _verdicts(bn, "gamma", r"\frac{\partial f}{\partial \beta} = " + DY_XHAT) == [("formula (side 1)", REFUTED), ("formula (side 2)", PROVED)]
    with pytest.raises(SpecError, match="only names the derivative"):
        check_one(bn, "gamma", tex=r"\frac{\partial f}{\partial \gamma}")


BN_DX_J = (r"\frac{\gamma}{N\sqrt{\sigma^2+\epsilon}}\left(N\frac{\partial f}{\partial y_j} - \sum_i \frac{\partial f}{\partial y_i}"
           r" - \hat{x}_j\sum_i \frac{\partial f}{\partial y_i}\hat{x}_i\right)")


@pytest.mark.parametrize("lhs, ok", [(r"\frac{\partial f}{\partial x_j}", True), (r"\frac{\partial f}{\partial x}", True),
                                     (r"\frac{\partial f}{\partial x_i}", False), (r"\frac{\partial f}{\partial x_k}", False)])
def test_an_equations_sides_are_at_one_index(bn, lhs, ok):
    r"""∂f/∂x_i = (a formula whose free index is j) relates two elements: refused in words, where it was proved
    (each side read alone, its own free index); ∂f/∂x_j or an unindexed ∂f/∂x with the same right-hand side is
    proved."""
    if ok:
        assert _verdicts(bn, "x", f"{lhs} = {BN_DX_J}") == [("formula", PROVED)]
    else:
        with pytest.raises(SpecError, match=r"side 1's x_\w \(column 30\) is at \w and side 2's y_j at j.*same free index"):
            check_one(bn, "x", tex=f"{lhs} = {BN_DX_J}")


def test_a_step_in_notation_not_read_is_said_to_be_unchecked(bn):
    r"""The chain rule's ∂y_i/∂γ is not read: the verdict is the other sides', and the id says which was not."""
    chain = r"\frac{\partial f}{\partial \gamma} = \sum_{i=1}^N \frac{\partial f}{\partial y_i}\frac{\partial y_i}{\partial \gamma} = "
    assert _verdicts(bn, "gamma", chain + DY_XHAT) == [("formula (side 3; side 2 not read)", PROVED)]
    assert _verdicts(bn, "gamma", chain + DY) == [("formula (side 3; side 2 not read)", REFUTED)]


L2_DX = r"\left(\frac{\partial f}{\partial y_j} - y_j\sum_i \frac{\partial f}{\partial y_i} y_i\right)"


@pytest.mark.parametrize("tex, verdict", [
    (r"\frac{1}{\sqrt{\lVert x \rVert^2 + \epsilon}}" + L2_DX, PROVED),  # l2norm.toml's own ‖x‖²
    (r"\frac{1}{\sqrt{\left\| x \right\|^2 + \epsilon}}" + L2_DX, PROVED),
    (r"\frac{1}{\lVert x \rVert}" + L2_DX, REFUTED),  # the norm without eps: the framework's max(‖x‖, eps) form
    (r"\frac{1}{\lVert x \rVert^2 + \epsilon}" + L2_DX, REFUTED),
])
def test_l2norm_read_with_its_declared_norm(tex, verdict):
    """l2norm.toml writes ss as \\lVert x \\rVert^2; a formula in that notation gets a verdict, not 'unknown symbol'."""
    (item,) = check_one(symbn.load("derivations/l2norm.toml"), "x", tex=tex).items
    assert item.result.verdict == verdict
