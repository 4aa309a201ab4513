"""An independent exact oracle for the tests.

It evaluates the file's formulas straight from their AST on explicit lists of
SymPy numbers or symbols: no graph, no realisation, no rule table of symbn's.  The
true gradient is SymPy's ``diff`` of f = Σ dy_i y_i composed this way.  Tests use
it to re-check counterexamples and proofs independently of the engines.
"""

from __future__ import annotations

import mpmath
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


# --- the real domain: checked evaluation -------------------------------------------------------
#
# The functions above evaluate with SymPy's principal branches (sqrt(-4) = 2*I).  The ones below
# decide, exactly, whether a point is inside a layer's real domain (every square root the layer
# takes has a positive radicand, every log a positive argument, every divisor is non-zero, inputs
# declared positive are positive) and whether a formula is real and defined there.  A value that
# is not real or not defined is a ``Poison``; it propagates through arithmetic and reductions, so a
# formula's value at the free index j is poisoned only by what is taken at j or inside a sum.

NOT_REAL = "not real"
UNDEFINED = "undefined"


class Indeterminate(Exception):
    """The sign of an exact value could not be decided (it is within 1e-50 of 0, but not 0)."""


class OutsideDomain(Exception):
    """The point is not in the layer's real domain; the message says why."""


class Poison:
    """Not a real number: ``kinds`` holds NOT_REAL and/or UNDEFINED, ``why`` the first reason."""

    def __init__(self, kinds, why: str):
        self.kinds, self.why = frozenset(kinds), why

    def __or__(self, other):
        if isinstance(other, Poison):
            return Poison(self.kinds | other.kinds, self.why)
        return self

    def __repr__(self) -> str:
        return f"Poison({sorted(self.kinds)}, {self.why!r})"


def sign(v) -> int:
    """The exact sign of a real SymPy number: -1, 0 or 1 (Indeterminate if undecidable here)."""
    v = sp.sympify(v)
    if v.is_Rational:
        return int(bool(v > 0)) - int(bool(v < 0))
    if v.has(sp.I):
        raise Indeterminate(f"{v} is not a real number")
    with mpmath.workdps(100):
        approx = _mp(v, {})  # 100 working digits; a value this far from 0 has the sign shown
    if abs(approx) > mpmath.mpf(10) ** -50:
        return 1 if approx > 0 else -1
    if v.equals(0) is True:
        return 0
    raise Indeterminate(f"the sign of {v} (≈ {approx}) is not decided at 100 digits")


def _checked_call(fn: str, a, strict: bool):
    if isinstance(a, Poison):
        return a
    if fn == "exp":
        return sp.exp(a)
    s = sign(a)
    if fn == "sqrt":
        if s < 0 or (strict and s == 0):
            return Poison([NOT_REAL if s < 0 else UNDEFINED], f"sqrt of {a}")
        return sp.sqrt(a)
    if fn == "log":
        if s <= 0:
            return Poison([NOT_REAL if s < 0 else UNDEFINED], f"log of {a}")
        return sp.log(a)
    raise ValueError(fn)


def _checked_op(op: str, a, b, strict: bool, literal_exponent: bool = True):
    if isinstance(a, Poison) or isinstance(b, Poison):
        return (a if isinstance(a, Poison) else b) | (b if isinstance(b, Poison) else a)
    if op == "+":
        return a + b
    if op == "-":
        return a - b
    if op == "*":
        return a * b
    if op == "/":
        if sign(b) == 0:
            return Poison([UNDEFINED], f"division of {a} by 0")
        return a / b
    # a**b: real for an integer b (a != 0 when b < 0); otherwise the base must be positive
    # (or 0 with a positive exponent, outside a layer's stages)
    b = sp.sympify(b)
    if not literal_exponent and sign(a) < 0:
        return Poison([NOT_REAL], f"({a})**({b}), an exponent that is not a number in the formula")
    if b.is_Integer:
        if b < 0 and sign(a) == 0:
            return Poison([UNDEFINED], f"0**{b}")
        return a**b
    s = sign(a)
    if s < 0:
        return Poison([NOT_REAL], f"({a})**({b})")
    if s == 0 and (strict or sign(b) <= 0):
        return Poison([UNDEFINED], f"0**({b})")
    return a**b


def checked_evaluate(e, env: dict, n: int, strict: bool = False, powers: str = "value"):
    """Like ``evaluate``, but every entry that is not real or not defined is a Poison.  ``strict``
    (a layer's stages) also poisons sqrt(0) and 0**p for a fractional p: the layer's domain asks
    for positive radicands.  ``powers``: "value" makes a**b real when the value of b is an integer
    (x**N, x**(2*a/a)); "log" reads a**b as exp(b*log(a)) for an exponent that is not a number
    literal, not real for a < 0 (used to recognise that reading in a verdict)."""
    if isinstance(e, Num):
        return sp.Rational(e.value.numerator, e.value.denominator)
    if isinstance(e, Name):
        return sp.Integer(n) if e.id == "N" else env[e.id]
    if isinstance(e, Neg):
        return _map(lambda a: a if isinstance(a, Poison) else -a, checked_evaluate(e.arg, env, n, strict, powers))
    if isinstance(e, Call):
        v = checked_evaluate(e.arg, env, n, strict, powers)
        if e.fn in ("sum", "mean"):
            bad = [a for a in v if isinstance(a, Poison)]
            if bad:
                out = bad[0]
                for p in bad[1:]:
                    out = out | p
                return out
            return sp.Add(*v) / (n if e.fn == "mean" else 1)
        return _map(lambda a: _checked_call(e.fn, a, strict), v)
    a, b = checked_evaluate(e.left, env, n, strict, powers), checked_evaluate(e.right, env, n, strict, powers)
    literal = powers == "value" or isinstance(e.right, Num) or (isinstance(e.right, Neg) and isinstance(e.right.arg, Num))
    if isinstance(a, list) or isinstance(b, list):
        a = a if isinstance(a, list) else [a] * n
        b = b if isinstance(b, list) else [b] * n
        return [_checked_op(e.op, x, y, strict, literal) for x, y in zip(a, b)]
    return _checked_op(e.op, a, b, strict, literal)


def domain_stages(layer: Layer, point: dict, n: int) -> dict:
    """Every stage at an exact point, after checking that the point is in the layer's real domain
    (raises OutsideDomain with the reason otherwise)."""
    from symbn.lang.expr import parse_assignment

    if n < 1:
        raise OutsideDomain(f"N = {n} < 1")
    env = {k: (list(v) if isinstance(v, (list, tuple)) else v) for k, v in point.items()}
    for name, spec in layer.inputs.items():
        if name not in env:
            raise OutsideDomain(f"no value for input {name}")
        if getattr(spec, "positive", False):
            vals = env[name] if isinstance(env[name], list) else [env[name]]
            if any(sign(v) <= 0 for v in vals):
                raise OutsideDomain(f"{name} is declared positive but is {env[name]}")
        if isinstance(env[name], list) and len(env[name]) != n:
            raise OutsideDomain(f"{name} has {len(env[name])} entries, N = {n}")
    for text in layer.stage_text.values():
        name, expr = parse_assignment(text)
        value = checked_evaluate(expr, env, n, strict=True)
        bad = [a for a in (value if isinstance(value, list) else [value]) if isinstance(a, Poison)]
        if bad:
            raise OutsideDomain(f"stage {name}: {bad[0].why}")
        env[name] = value
    return env


def in_domain(layer: Layer, point: dict, n: int) -> bool:
    try:
        domain_stages(layer, point, n)
    except OutsideDomain:
        return False
    return True


def checked_formula_value(layer: Layer, expr, point: dict, n: int, j: int | None, env: dict | None = None, powers: str = "value"):
    """A formula's value at j, or a Poison if it is not real or not defined there.  The point must
    be in the layer's domain.  ``env`` (from domain_stages) may be passed to save the work.
    ``j = None`` gives every j (a list for a row formula)."""
    from symbn.lang.expr import names

    env = dict(env if env is not None else domain_stages(layer, point, n))
    for name in names(expr):
        target = name[1:]
        if name.startswith("d") and name != "dy" and (target in layer.graph.stages or target in layer.inputs):
            row = layer.graph.kinds[target] == "row"
            grad = gradient_at(layer, point, target, n)
            env[name] = grad if row else grad[0]
    v = checked_evaluate(expr, env, n, powers=powers)
    return v[j] if isinstance(v, list) and j is not None else v


def same(a, b, digits: int = 50) -> bool:
    """a == b: exactly for rationals; otherwise both sides evaluated with mpmath at digits + 50
    working digits must agree to ``digits`` relative digits (radicals, exp, log)."""
    a, b = sp.sympify(a), sp.sympify(b)
    if a.is_Rational and b.is_Rational:
        return a == b
    with mpmath.workdps(digits + 50):
        fa, fb = _mp(a, {}), _mp(b, {})
        if fa == fb:
            return True
        return bool(abs(fa - fb) <= max(abs(fa), abs(fb)) * mpmath.mpf(10) ** -digits)


def _mp(e, memo):
    """A real SymPy number (rationals, +, *, **, exp, log, E) as an mpmath number at the working
    precision: a plain walk of the tree, much faster than evalf on large nested radicals."""
    if e in memo:
        return memo[e]
    if e.is_Rational:
        v = mpmath.mpf(e.p) / e.q
    elif isinstance(e, sp.Add):
        v = mpmath.fsum(_mp(t, memo) for t in e.args)
    elif isinstance(e, sp.Mul):
        v = mpmath.fprod(_mp(t, memo) for t in e.args)
    elif isinstance(e, sp.Pow):
        base, ex = _mp(e.base, memo), e.exp
        v = base ** (int(ex) if ex.is_Integer else _mp(ex, memo))
    elif isinstance(e, sp.exp):
        v = mpmath.exp(_mp(e.args[0], memo))
    elif isinstance(e, sp.log):
        v = mpmath.log(_mp(e.args[0], memo))
    else:
        v = mpmath.mpf(sp.N(e, mpmath.mp.dps))
    memo[e] = v
    return v


class _Dual:
    """An exact value and its partial derivatives with respect to n nudges (forward mode)."""

    __slots__ = ("d", "v")

    def __init__(self, v, d):
        self.v, self.d = v, d


def _lift(a, width):
    return a if isinstance(a, _Dual) else _Dual(a, [sp.Integer(0)] * width)


def _dual_op(op, a, b):
    if op == "+":
        return _Dual(a.v + b.v, [p + q for p, q in zip(a.d, b.d)])
    if op == "-":
        return _Dual(a.v - b.v, [p - q for p, q in zip(a.d, b.d)])
    if op == "*":
        return _Dual(a.v * b.v, [a.v * q + b.v * p for p, q in zip(a.d, b.d)])
    if op == "/":
        return _Dual(a.v / b.v, [(p * b.v - a.v * q) / b.v**2 for p, q in zip(a.d, b.d)])
    value = a.v**b.v
    if all(q == 0 for q in b.d):  # a**c
        return _Dual(value, [b.v * a.v ** (b.v - 1) * p for p in a.d])
    return _Dual(value, [value * (q * sp.log(a.v) + b.v * p / a.v) for p, q in zip(a.d, b.d)])


def _dual_call(fn, a):
    if fn == "sqrt":
        r = sp.sqrt(a.v)
        return _Dual(r, [p / (2 * r) for p in a.d])
    if fn == "exp":
        e = sp.exp(a.v)
        return _Dual(e, [e * p for p in a.d])
    return _Dual(sp.log(a.v), [p / a.v for p in a.d])  # log


def _dual_evaluate(e, env, n, width):
    if isinstance(e, Num):
        return _lift(sp.Rational(e.value.numerator, e.value.denominator), width)
    if isinstance(e, Name):
        return _lift(sp.Integer(n), width) if e.id == "N" else env[e.id]
    if isinstance(e, Neg):
        return _map(lambda a: _Dual(-a.v, [-p for p in a.d]), _dual_evaluate(e.arg, env, n, width))
    if isinstance(e, Call):
        v = _dual_evaluate(e.arg, env, n, width)
        if e.fn in ("sum", "mean"):
            total = _Dual(sp.Add(*(a.v for a in v)), [sp.Add(*ps) for ps in zip(*(a.d for a in v))])
            return total if e.fn == "sum" else _Dual(total.v / n, [p / n for p in total.d])
        return _map(lambda a: _dual_call(e.fn, a), v)
    a, b = _dual_evaluate(e.left, env, n, width), _dual_evaluate(e.right, env, n, width)
    if isinstance(a, list) or isinstance(b, list):
        a = a if isinstance(a, list) else [a] * n
        b = b if isinstance(b, list) else [b] * n
        return [_dual_op(e.op, x, y) for x, y in zip(a, b)]
    return _dual_op(e.op, a, b)


def gradient_at(layer: Layer, point: dict, wrt: str, n: int) -> list:
    """∂f/∂wrt at every j (one entry for a scalar wrt) at an exact point, by forward mode on exact
    numbers with this file's own six derivative rules (dual numbers): much faster than SymPy's
    diff at N = 5, and checked against ``true_gradient`` by the tests that use it."""
    from symbn.lang.expr import parse_assignment

    row = layer.graph.kinds[wrt] == "row"
    width = n if row else 1
    zero = [sp.Integer(0)] * width

    def unit(k):
        return [sp.Integer(int(i == k)) for i in range(width)]

    env = {}
    for name, v in point.items():
        if name == wrt:
            env[name] = [_Dual(a, unit(k)) for k, a in enumerate(v)] if row else _Dual(v, unit(0))
        else:
            env[name] = [_Dual(a, zero) for a in v] if isinstance(v, (list, tuple)) else _Dual(v, zero)
    for text in layer.stage_text.values():
        name, expr = parse_assignment(text)
        env[name] = _dual_evaluate(expr, env, n, width)
        if name == wrt:
            v = env[name]
            env[name] = [_Dual(a.v, unit(k)) for k, a in enumerate(v)] if row else _Dual(v.v, unit(0))
    y, dy = env[layer.graph.output], env["dy"]
    if isinstance(y, list):
        return [sp.Add(*ps) for ps in zip(*([a.v * p for p in b.d] for a, b in zip(dy, y)))]
    return [dy.v * p for p in y.d]


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
