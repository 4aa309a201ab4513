"""Reverse mode: adjoint accumulation over the stages in reverse (the seeds' steps 9 -> 0).

Starting from ȳ = dy, each equation, last to first, sends its output's adjoint to
its arguments through a VJP rule (local derivative × upstream adjoint); adjoints
arriving at one variable are added up (the seeds' "two gradients coming to one
node").  The adjoint of *every* stage is kept: ∂f/∂μ and ∂f/∂σ² as Ioffe and
Szegedy write them are ``adjoints["mu"]`` and ``adjoints["var"]``.

The VJP rules are symbn's own and are written independently of the JVP rules in
:mod:`symbn.forward`.  A rule returns the elementwise contribution for each
argument; where a scalar argument met a row (broadcasting, as for gamma in
``gamma*xhat``), the interpreter sums the contribution over the slice.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from typing import Any

from symbn.ad.interpret import read
from symbn.ir.graph import CONSTANT, ROW, Graph

vjp_rules: dict[str, Callable[..., tuple]] = {}


def defvjp(prim: str):
    def register(rule):
        vjp_rules[prim] = rule
        return rule

    return register


@defvjp("add")
def add_vjp(B, g, primals, out):
    return g, g


@defvjp("sub")
def sub_vjp(B, g, primals, out):
    return g, -g


@defvjp("mul")
def mul_vjp(B, g, primals, out):
    x, y = primals
    return g * y, g * x


@defvjp("div")
def div_vjp(B, g, primals, out):
    x, y = primals
    return g / y, -g * x / y**2


@defvjp("neg")
def neg_vjp(B, g, primals, out):
    return (-g,)


@defvjp("pow")
def pow_vjp(B, g, primals, out):
    x, y = primals
    return g * y * x ** (y - 1), g * out * B.log(x)


@defvjp("sqrt")
def sqrt_vjp(B, g, primals, out):
    (x,) = primals
    return (g * x ** (-Fraction(1, 2)) / 2,)


@defvjp("exp")
def exp_vjp(B, g, primals, out):
    (x,) = primals
    return (g * B.exp(x),)


@defvjp("log")
def log_vjp(B, g, primals, out):
    (x,) = primals
    return (g / x,)


@defvjp("mean")
def mean_vjp(B, g, primals, out):
    return (g / B.N,)  # a scalar adjoint, spread evenly over the row


@defvjp("sum")
def sum_vjp(B, g, primals, out):
    return (g,)


@defvjp("id")
def id_vjp(B, g, primals, out):
    return (g,)


def vjp(graph: Graph, B, env: dict[str, Any], dy) -> dict[str, Any]:
    """Adjoints ∂f/∂v of every variable v (inputs and stages) given ȳ = dy."""
    adjoints: dict[str, Any] = {graph.output: dy}
    for eqn in reversed(graph.eqns):
        g = adjoints.get(eqn.out)
        if g is None:
            continue  # does not reach the output
        wanted = [isinstance(a, str) and graph.kinds.get(a, CONSTANT) != CONSTANT for a in eqn.args]
        if not any(wanted):
            continue
        primals = tuple(read(env, B, a) for a in eqn.args)
        parts = vjp_rules[eqn.prim](B, g, primals, env[eqn.out])
        for arg, part, want in zip(eqn.args, parts, wanted):
            if not want:
                continue
            if graph.kinds[arg] != ROW and graph.kinds[eqn.out] == ROW:
                part = B.sum(part)  # unbroadcast: a scalar fed every row
            adjoints[arg] = part if arg not in adjoints else adjoints[arg] + part
    return adjoints
