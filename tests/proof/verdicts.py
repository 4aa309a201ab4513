"""Re-checking symbn's verdicts by exact evaluation, independently of its engines.

``recheck(layer, wrt, formula, result)`` returns a list of problems (empty if the verdict holds),
each a ``Problem``: a message with a ``kind``, WRONG unless it is one of the known bugs below.

- ``proved``: at random exact points inside the layer's real domain, for N = 1..5 where the layer
  is defined there, and every j, the formula is real and equals the true gradient (exactly, or to
  50 digits), wherever the formula is defined (points where it divides by zero are skipped);
- ``refuted``: the counterexample's point is inside the layer's domain (constants included), ``lhs``
  is the true gradient there (SymPy's diff), and the claim's value differs from it, or is not real
  when ``rhs`` says "not real".

The domain, the claim's value and the gradient come from tests/oracle.py, which evaluates the stage
texts and the formula from their AST.

Two bugs it found, fixed since (test_wrong_verdicts.py keeps their cases; a problem of either kind now
fails the property test, named by its kind):

- ``OTHER_J``: "not real" is reported at a j where the claim is real; it is not real at another
  index of the same point, so the verdict holds but the counterexample's j is wrong;
- ``POWER``: a**b with b not a number literal is read as exp(b*log(a)), "not real" for a < 0, even
  where b is a whole number (x**N, x**(2*a/a)); such a claim may equal the truth everywhere.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

import sympy as sp

from symbn.lang.expr import parse

from ..oracle import (
    NOT_REAL,
    UNDEFINED,
    Indeterminate,
    OutsideDomain,
    Poison,
    checked_formula_value,
    domain_stages,
    gradient_at,
    same,
    true_gradient,
)

R = sp.Rational

WRONG, OTHER_J, POWER = "wrong", "not real at another j", "power with a non-literal exponent"


class Problem(str):
    """A message; ``kind`` is WRONG, or one of the known bugs."""

    def __new__(cls, message: str, kind: str = WRONG):
        self = super().__new__(cls, message)
        self.kind = kind
        return self


def _number(rng: random.Random, positive: bool = False, style: str = "mixed"):
    v = R(rng.randint(-12, 12), rng.choice([1, 1, 2, 3, 4]))
    if style == "small":
        v = R(rng.randint(-9, 9), rng.choice([4, 8, 16]))
    if style == "negative":
        v = -abs(v) - R(1, 2)
    if style == "positive" or positive:
        v = abs(v) or R(1, 7)
    return v


def random_point(layer, n: int, rng: random.Random, tries: int = 30):
    """A random exact point inside the layer's real domain at this N, or None if none was found.
    Rows are drawn mixed in sign, or all negative, all positive or small (so that sums of exp(x) below
    1, means of either sign and the like all occur); constants without a sign sometimes sit just below
    N, so that N - c is small and N - 2*c negative."""
    for _ in range(tries):
        style = rng.choice(["mixed", "mixed", "negative", "positive", "small"])
        pt = {}
        for name, spec in layer.inputs.items():
            if spec.kind == "row":
                pt[name] = [_number(rng, spec.positive, style) for _ in range(n)]
            elif spec.kind == "constant" and spec.positive:
                pt[name] = rng.choice([R(1, 10**5), R(1, 3), R(2), R(rng.randint(1, 30), rng.randint(1, 9))])
            elif spec.kind == "constant":
                pt[name] = rng.choice([R(1), R(0), R(-1), R(3, 2), R(rng.randint(-9, 9), rng.randint(1, 4)), n - R(1, 2), n - R(1, 10)])
            else:
                pt[name] = _number(rng, spec.positive, rng.choice(["mixed", style]))
        pt["dy"] = [_number(rng) for _ in range(n)] if layer.output_kind == "row" else _number(rng)
        try:
            domain_stages(layer, pt, n)
        except (OutsideDomain, Indeterminate):
            continue
        return pt
    return None


@dataclass
class Stats:
    verdicts: dict = field(default_factory=lambda: {"proved": 0, "refuted": 0, "unknown": 0})
    unknown: list = field(default_factory=list)  # (layer, wrt, formula, detail)
    slow: list = field(default_factory=list)  # (seconds, layer, wrt, formula, verdict)
    known: list = field(default_factory=list)  # (kind, layer, wrt, formula, message): known bugs seen

    def count(self, layer_name, wrt, formula, result, seconds):
        self.verdicts[result.verdict] = self.verdicts.get(result.verdict, 0) + 1
        if result.verdict == "unknown":
            self.unknown.append((layer_name, wrt, formula, result.detail))
        if seconds > 2:
            self.slow.append((round(seconds, 2), layer_name, wrt, formula, result.verdict))

    def total(self):
        return sum(self.verdicts.values())


def recheck(layer, wrt: str, formula: str, result, rng: random.Random | None = None, sizes=range(1, 6), per_size=1):
    """Problems with the verdict (an empty list if it holds); see the module docstring."""
    rng = rng or random.Random(0)
    expr = parse(formula)
    if result.verdict == "proved":
        return _recheck_proved(layer, wrt, formula, expr, rng, sizes, per_size)
    if result.verdict == "refuted":
        return recheck_counterexample(layer, wrt, formula, result.counterexample, expr)
    return []


def _recheck_proved(layer, wrt, formula, expr, rng, sizes, per_size):
    problems, defined = [], 0
    for n in sizes:
        for _ in range(per_size):
            pt = random_point(layer, n, rng)
            if pt is None:
                continue
            env = domain_stages(layer, pt, n)
            truth = gradient_at(layer, pt, wrt, n)
            try:
                values = checked_formula_value(layer, expr, pt, n, None, env)
            except Indeterminate:
                continue
            for j, t in enumerate(truth):
                value = values[j] if isinstance(values, list) else values
                if isinstance(value, Poison):
                    if UNDEFINED in value.kinds:
                        continue  # a division by zero at this point: not counted
                    problems.append(Problem(f"proved, but {formula!r} is not real at N={n}, j={j}, {pt}: {value.why}"))
                    continue
                defined += 1
                if not same(value, t):
                    problems.append(Problem(f"proved, but at N={n}, j={j}, {pt}: truth {t} ≈ {sp.N(t, 15)}, formula {value} ≈ {sp.N(value, 15)}"))
    return problems


def recheck_counterexample(layer, wrt, formula, ce, expr=None):
    """Problems with a refutation's counterexample (an empty list if it holds)."""
    expr = expr if expr is not None else parse(formula)
    if ce is None:
        return [Problem("refuted without a counterexample")]
    n, j, pt = ce.n, ce.j, {str(k): v for k, v in ce.values.items()}
    where = f"N={n}, j={j}, {pt}"
    row = layer.graph.kinds[wrt] == "row"
    if not (isinstance(n, int) and n >= 1) or not (0 <= j < (n if row else 1)):
        return [Problem(f"counterexample with N={n}, j={j}")]
    missing = (set(layer.inputs) | {"dy"}) - set(pt)
    if missing:
        return [Problem(f"counterexample without values for {sorted(missing)}")]
    try:
        env = domain_stages(layer, pt, n)
    except OutsideDomain as err:
        return [Problem(f"counterexample outside the layer's domain ({err}) at {where}")]
    truth = true_gradient(layer, pt, wrt, n, j)
    problems = []
    if not same(ce.lhs, truth):
        problems.append(Problem(f"lhs {ce.lhs} is not the true gradient {truth} at {where}"))
    value = checked_formula_value(layer, expr, pt, n, j, env)
    if ce.rhs == "not real":
        if not (isinstance(value, Poison) and NOT_REAL in value.kinds):
            message = f"rhs 'not real', but {formula!r} is {value} ≈ {_approx(value)} at {where}; truth {truth}"
            problems.append(Problem(message, _known_not_real(layer, expr, pt, n, env)))
        return problems
    if isinstance(value, Poison):
        problems.append(Problem(f"rhs {ce.rhs}, but {formula!r} is {value} at {where}"))
        return problems
    if not same(value, ce.rhs):
        problems.append(Problem(f"rhs {ce.rhs} is not the claim's value {value} at {where}"))
    if same(value, truth):
        problems.append(Problem(f"the claim equals the truth {truth} at {where}: no counterexample"))
    return problems


def _known_not_real(layer, expr, pt, n, env):
    """Which known bug explains a "not real" where the claim is real (WRONG if none does)."""
    every = checked_formula_value(layer, expr, pt, n, None, env)
    if isinstance(every, list) and any(isinstance(v, Poison) and NOT_REAL in v.kinds for v in every):
        return OTHER_J
    logs = checked_formula_value(layer, expr, pt, n, None, env, powers="log")
    logs = logs if isinstance(logs, list) else [logs]
    if any(isinstance(v, Poison) and NOT_REAL in v.kinds for v in logs):
        return POWER
    return WRONG


def _approx(v):
    return v if isinstance(v, Poison) else sp.N(v, 15)
