"""Forward mode: tangents pushed through the equations (seed 000's derivation).

Seeding the input being differentiated with the tangent e_j (ẋ_i = δ_ij, or 1 for
a scalar) and pushing it through every equation yields, for every stage s, the
building block ∂s/∂x_j (∂μ/∂x_j = 1/N, ∂v/∂x_j = 2/N (x_j - μ), ∂x̂_i/∂x_j, ...).
Contracting the output's tangent with dy gives ∂f/∂x_j = Σ_i dy_i ∂y_i/∂x_j.

The table holds one rule per primitive and argument, ``rule(B, x_dot, ans, *primals)``:
the tangent that argument's tangent ``x_dot`` contributes to the result.  It is
written independently of the VJP table (:mod:`symbn.ad.vjp`); a rule is called
only for an argument whose tangent is not :data:`~symbn.ad.interpret.zero`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from symbn.ad.interpret import read, zero
from symbn.ir.graph import Eqn, Var
from symbn.ir.primitives import (
    ROW,
    MissingRule,
    Primitive,
    add_p,
    allreduce_p,
    div_p,
    exp_p,
    id_p,
    log_p,
    mean_p,
    mul_p,
    neg_p,
    pow_p,
    shard_mean_p,
    shard_sum_p,
    sqrt_p,
    sub_p,
    sum_p,
)

JvpRule = Callable[..., Any]
jvp_rules: dict[Primitive, tuple[JvpRule, ...]] = {}


def defjvp(prim: Primitive, *rules: JvpRule) -> None:
    """Register the JVP of ``prim``: one rule per argument, in order."""
    assert len(rules) == prim.arity, f"{prim.name} takes {prim.arity} arguments"
    jvp_rules[prim] = rules


defjvp(add_p, lambda B, x_dot, ans, x, y: x_dot,
              lambda B, y_dot, ans, x, y: y_dot)
defjvp(sub_p, lambda B, x_dot, ans, x, y: x_dot,
              lambda B, y_dot, ans, x, y: -y_dot)
defjvp(mul_p, lambda B, x_dot, ans, x, y: x_dot * y,
              lambda B, y_dot, ans, x, y: x * y_dot)
defjvp(div_p, lambda B, x_dot, ans, x, y: x_dot / y,
              lambda B, y_dot, ans, x, y: -ans * y_dot / y)
defjvp(pow_p, lambda B, x_dot, ans, x, y: y * x ** (y - 1) * x_dot,
              lambda B, y_dot, ans, x, y: ans * B.log(x) * y_dot)
defjvp(neg_p, lambda B, x_dot, ans, x: -x_dot)
defjvp(sqrt_p, lambda B, x_dot, ans, x: x_dot / (2 * ans))
defjvp(exp_p, lambda B, x_dot, ans, x: ans * x_dot)
defjvp(log_p, lambda B, x_dot, ans, x: x_dot / x)
defjvp(mean_p, lambda B, x_dot, ans, x: B.sum(x_dot) / B.N)
defjvp(sum_p, lambda B, x_dot, ans, x: B.sum(x_dot))
defjvp(id_p, lambda B, x_dot, ans, x: x_dot)
defjvp(shard_sum_p, lambda B, x_dot, ans, x: B.shard_sum(x_dot))
defjvp(shard_mean_p, lambda B, x_dot, ans, x: B.shard_sum(x_dot) / B.Nk)
defjvp(allreduce_p, lambda B, x_dot, ans, x: B.allreduce(x_dot))


def jvp(eqns: Iterable[Eqn], B, env: dict[str, Any], seeds: dict[str, Any]) -> dict[str, Any]:
    """Tangents of every variable, given primal values ``env`` and the tangents of
    the seeded variables (anything else starts at zero).  A seeded *stage* keeps its
    seed: its tangent is that of an independent variable, as for ∂f/∂μ."""
    tangents: dict[str, Any] = dict(seeds)
    for eqn in eqns:
        if eqn.out in seeds:
            continue
        dots = [tangents.get(a, zero) if isinstance(a, Var) else zero for a in eqn.args]
        if all(d is zero for d in dots):
            continue
        rules = jvp_rules.get(eqn.prim)
        if rules is None:
            raise MissingRule("forward mode", eqn.prim)
        primals = [read(env, B, a) for a in eqn.args]
        parts = [rules[k](B, d, env[eqn.out], *primals) for k, d in enumerate(dots) if d is not zero]
        total = parts[0]
        for p in parts[1:]:
            total = total + p
        tangents[eqn.out] = total
    return tangents


def contract(output: Var, B, tangent_out, dy) -> Any:
    """∂f/∂θ = Σ_i dy_i ẏ_i for a row output, dy·ẏ for a scalar output."""
    if tangent_out is zero:
        return B.const(Fraction(0))
    return B.sum(dy * tangent_out) if output.kind == ROW else dy * tangent_out


__all__ = ["contract", "defjvp", "jvp", "jvp_rules"]
