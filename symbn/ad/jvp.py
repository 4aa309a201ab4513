"""Forward mode: tangent propagation through the stages (seed 000's derivation).

Seeding the input being differentiated with the tangent e_j (ẋ_i = δ_ij, or 1 for
a scalar) and pushing it through every equation yields, for every stage s, the
building block ∂s/∂x_j (∂μ/∂x_j = 1/N, ∂v/∂x_j = 2/N (x_j - μ), ∂x̂_i/∂x_j, ...).
Contracting the output's tangent with dy gives ∂f/∂x_j = Σ_i dy_i ∂y_i/∂x_j.

The JVP rules are symbn's own and are written independently of the VJP rules in
:mod:`symbn.reverse`; every rule has one signature and unpacks on its first line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from symbn.ad.interpret import read
from symbn.ir.graph import ROW, Graph

Zero = 0  # the tangent of anything that does not depend on the seed

jvp_rules: dict[str, Callable[..., Any]] = {}


def defjvp(prim: str):
    def register(rule):
        jvp_rules[prim] = rule
        return rule

    return register


@defjvp("add")
def add_jvp(B, primals, tangents, out):
    (x_dot, y_dot) = tangents
    return x_dot + y_dot


@defjvp("sub")
def sub_jvp(B, primals, tangents, out):
    (x_dot, y_dot) = tangents
    return x_dot - y_dot


@defjvp("mul")
def mul_jvp(B, primals, tangents, out):
    (x, y), (x_dot, y_dot) = primals, tangents
    return x_dot * y + x * y_dot


@defjvp("div")
def div_jvp(B, primals, tangents, out):
    (_, y), (x_dot, y_dot) = primals, tangents
    return (x_dot - out * y_dot) / y


@defjvp("neg")
def neg_jvp(B, primals, tangents, out):
    (x_dot,) = tangents
    return -x_dot


@defjvp("pow")
def pow_jvp(B, primals, tangents, out):
    (x, y), (x_dot, y_dot) = primals, tangents
    dx = y * x ** (y - 1) * x_dot if x_dot is not Zero else Zero
    dy = out * B.log(x) * y_dot if y_dot is not Zero else Zero
    return dx + dy


@defjvp("sqrt")
def sqrt_jvp(B, primals, tangents, out):
    (x_dot,) = tangents
    return x_dot / (2 * out)


@defjvp("exp")
def exp_jvp(B, primals, tangents, out):
    (x_dot,) = tangents
    return out * x_dot


@defjvp("log")
def log_jvp(B, primals, tangents, out):
    (x,), (x_dot,) = primals, tangents
    return x_dot / x


@defjvp("mean")
def mean_jvp(B, primals, tangents, out):
    (x_dot,) = tangents
    return B.sum(x_dot) / B.N


@defjvp("sum")
def sum_jvp(B, primals, tangents, out):
    (x_dot,) = tangents
    return B.sum(x_dot)


@defjvp("id")
def id_jvp(B, primals, tangents, out):
    (x_dot,) = tangents
    return x_dot


def jvp(graph: Graph, B, env: dict[str, Any], seeds: dict[str, Any]) -> dict[str, Any]:
    """Tangents of every variable, given primal values ``env`` and the tangents of
    the seeded variables (anything else starts at zero).  A seeded *stage* keeps its
    seed: its tangent is that of an independent variable, as for ∂f/∂μ."""
    tangents: dict[str, Any] = dict(seeds)
    for eqn in graph.eqns:
        if eqn.out in seeds:
            continue
        dots = tuple(tangents.get(a, Zero) if isinstance(a, str) else Zero for a in eqn.args)
        if all(d is Zero for d in dots):
            continue
        primals = tuple(read(env, B, a) for a in eqn.args)
        tangents[eqn.out] = jvp_rules[eqn.prim](B, primals, dots, env[eqn.out])
    return tangents


def contract(graph: Graph, B, tangent_out, dy) -> Any:
    """∂f/∂θ = Σ_i dy_i ẏ_i for a row output, dy·ẏ for a scalar output."""
    if tangent_out is Zero:
        return 0
    return B.sum(dy * tangent_out) if graph.kinds[graph.output] == ROW else dy * tangent_out
