"""What the LaTeX reader's tests share: the seeds' symbol tables and a tiny evaluator in which
rows are N values and the free index is J."""

from __future__ import annotations

import math
import random
from fractions import Fraction

import pytest

from symbn.lang.expr import BinOp, Call, Expr, ExprError, Name, Neg, Num, parse
from symbn.lang.latex import read_latex

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


# a table that maps \sigma and a power of it to different stages, as batchnorm.toml does
POWERED = {"x": "x", "N": "N", r"\gamma": "gamma", r"\sigma": "sqrtvar", r"\sigma^2": "var", r"\sigma^{-1}": "ivar"}
