"""An independent exact oracle for the tests.

It evaluates the file's formulas straight from their AST on explicit lists of
SymPy numbers or symbols: no graph, no realisation, no rule table of symbn's.  The
true gradient is SymPy's ``diff`` of f = Σ dy_i y_i composed this way.  Tests use
it to re-check counterexamples and proofs independently of the engines.
"""

from __future__ import annotations

import sympy as sp

from symbn.lang.derivation import Layer
from symbn.lang.expr import Call, Name, Neg, Num


def evaluate(e, env: dict, n: int):
    """Value of a formula: a list of n entries (row) or one expression (scalar)."""
    if isinstance(e, Num):
        return sp.Rational(e.value.numerator, e.value.denominator)
    if isinstance(e, Name):
        return sp.Integer(n) if e.id == "N" else env[e.id]
    if isinstance(e, Neg):
        return _map(lambda a: -a, evaluate(e.arg, env, n))
    if isinstance(e, Call):
        v = evaluate(e.arg, env, n)
        if e.fn == "sum":
            return sp.Add(*v)
        if e.fn == "mean":
            return sp.Add(*v) / n
        return _map(getattr(sp, e.fn), v)
    a, b = evaluate(e.left, env, n), evaluate(e.right, env, n)
    op = {"+": lambda x, y: x + y, "-": lambda x, y: x - y, "*": lambda x, y: x * y, "/": lambda x, y: x / y, "**": lambda x, y: x**y}[e.op]
    if isinstance(a, list) or isinstance(b, list):
        a = a if isinstance(a, list) else [a] * n
        b = b if isinstance(b, list) else [b] * n
        return [op(x, y) for x, y in zip(a, b)]
    return op(a, b)


def _map(f, v):
    return [f(a) for a in v] if isinstance(v, list) else f(v)


def stages(layer: Layer, env: dict, n: int, nudge: tuple | None = None) -> dict:
    """Every stage, computed from the stage texts (parsed again, evaluated here).
    ``nudge = (stage, j, t)`` adds t to that stage (at j for a row) as it is computed."""
    from symbn.lang.expr import parse_assignment

    env = dict(env)
    for text in layer.stage_text.values():
        name, expr = parse_assignment(text)
        env[name] = evaluate(expr, env, n)
        if nudge is not None and nudge[0] == name:
            value, (_, j, t) = env[name], nudge
            env[name] = [v + t if k == j else v for k, v in enumerate(value)] if isinstance(value, list) else value + t
    return env


def _f(layer: Layer, env: dict, n: int, nudge=None):
    y = stages(layer, env, n, nudge)[layer.graph.output]
    dy = env["dy"]
    return sp.Add(*(a * b for a, b in zip(dy, y))) if isinstance(y, list) else dy * y


def true_gradient(layer: Layer, point: dict, wrt: str, n: int, j: int):
    """∂f/∂wrt (at j for a row input) at an exact point, by SymPy's diff."""
    t = sp.Symbol("t")
    env = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in point.items()}
    if wrt in layer.graph.stages:  # ∂f/∂stage: nudge the stage itself, recompute what follows
        return sp.diff(_f(layer, env, n, (wrt, j, t)), t).subs(t, 0)
    if isinstance(env[wrt], list):
        env[wrt] = [v + t if k == j else v for k, v in enumerate(env[wrt])]
    else:
        env[wrt] = env[wrt] + t
    return sp.diff(_f(layer, env, n), t).subs(t, 0)


def formula_value(layer: Layer, expr, point: dict, n: int, j: int):
    """A formula's value; adjoint names d<stage> get the oracle's own ∂f/∂stage."""
    from symbn.lang.expr import names

    env = stages(layer, {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in point.items()}, n)
    for name in names(expr):
        target = name[1:]
        if name.startswith("d") and name != "dy" and (target in layer.graph.stages or target in layer.inputs):
            row = layer.graph.kinds[target] == "row"
            env[name] = [true_gradient(layer, point, target, n, k) for k in range(n)] if row else true_gradient(layer, point, target, n, 0)
    v = evaluate(expr, env, n)
    return v[j] if isinstance(v, list) else v


def second_gradient(layer: Layer, point: dict, wrt: str, n: int, j: int):
    """∂h/∂wrt (at j for a row) for h = Σ_k <dd_k, ∂f/∂k>, by SymPy's diff twice on the
    stages composed here: h is d/dt f(θ + t·dd) at t = 0, and wrt is nudged by s."""
    t, s = sp.symbols("t s")
    env = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in point.items()}
    for k in layer.differentiable:
        d = env["dd" + k]
        env[k] = [a + t * b for a, b in zip(env[k], d)] if isinstance(env[k], list) else env[k] + t * d
    if isinstance(env[wrt], list):
        env[wrt] = [v + s if k == j else v for k, v in enumerate(env[wrt])]
    else:
        env[wrt] = env[wrt] + s
    return sp.diff(_f(layer, env, n), t, s).subs({t: 0, s: 0})
