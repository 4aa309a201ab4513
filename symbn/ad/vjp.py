"""Reverse mode: adjoints accumulated over the equations in reverse (the seeds' steps 9 -> 0).

Starting from ȳ = dy, each equation, last to first, sends its output's adjoint to
its arguments through a VJP rule (local derivative × upstream adjoint); adjoints
arriving at one variable are added up (the seeds' "two gradients coming to one
node").  The adjoint of every stage asked for is kept: ∂f/∂μ and ∂f/∂σ² as Ioffe and
Szegedy write them are ``adjoints["mu"]`` and ``adjoints["var"]``.

The table holds one rule per primitive and argument, ``rule(B, g, ans, *primals)``:
the elementwise adjoint that argument receives from the result's adjoint ``g``.
Where a per-slice argument met a row (broadcasting, as gamma in ``gamma*xhat``) the
interpreter sums that contribution over the slice.  The table is written
independently of the JVP table (:mod:`symbn.ad.jvp`), as in HIPS/autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from fractions import Fraction
from typing import Any

from symbn.ad.interpret import read
from symbn.ir.graph import Eqn, Graph, Var
from symbn.ir.primitives import (
    CONSTANT,
    ROW,
    SHARD,
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

VjpRule = Callable[..., Any]
vjp_rules: dict[Primitive, tuple[VjpRule, ...]] = {}


def defvjp(prim: Primitive, *rules: VjpRule) -> None:
    """Register the VJP of ``prim``: one rule per argument, in order."""
    assert len(rules) == prim.arity, f"{prim.name} takes {prim.arity} arguments"
    vjp_rules[prim] = rules


defvjp(add_p, lambda B, g, ans, x, y: g,
              lambda B, g, ans, x, y: g)
defvjp(sub_p, lambda B, g, ans, x, y: g,
              lambda B, g, ans, x, y: -g)
defvjp(mul_p, lambda B, g, ans, x, y: g * y,
              lambda B, g, ans, x, y: g * x)
defvjp(div_p, lambda B, g, ans, x, y: g / y,
              lambda B, g, ans, x, y: -g * x / y**2)
defvjp(pow_p, lambda B, g, ans, x, y: g * y * x ** (y - 1),
              lambda B, g, ans, x, y: g * ans * B.log(x))
defvjp(neg_p, lambda B, g, ans, x: -g)
defvjp(sqrt_p, lambda B, g, ans, x: g * x ** B.const(Fraction(-1, 2)) / 2)
defvjp(exp_p, lambda B, g, ans, x: g * B.exp(x))
defvjp(log_p, lambda B, g, ans, x: g / x)
defvjp(mean_p, lambda B, g, ans, x: g / B.N)  # a per-slice adjoint, spread evenly over the row
defvjp(sum_p, lambda B, g, ans, x: g)
defvjp(id_p, lambda B, g, ans, x: g)
defvjp(shard_sum_p, lambda B, g, ans, x: g)  # each element receives its shard's adjoint
defvjp(shard_mean_p, lambda B, g, ans, x: g / B.Nk)
defvjp(allreduce_p, lambda B, g, ans, x: g)  # every shard's value receives the merged adjoint


def unbroadcast(B, part, arg: str, out: str):
    """The adjoint a value receives from a result that varies more than it: a per-slice value
    fed every row (summed over the slice), a per-shard one its shard's rows, a merged one every shard."""
    if out == ROW and arg == SHARD:
        return B.shard_sum(part)
    if out == ROW and arg != ROW:
        return B.sum(part)
    if out == SHARD and arg not in (ROW, SHARD):
        return B.allreduce(part)
    return part


def depends_on(eqns: Iterable[Eqn], roots: Iterable[str]) -> set[str]:
    """The variables computed from any of ``roots`` (the roots included)."""
    out = set(roots)
    for eqn in eqns:
        if any(a in out for a in eqn.vars):
            out.add(eqn.out)
    return out


def vjp(graph: Graph, B, env: dict[str, Any], dy, wanted: Iterable[str] | None = None) -> dict[str, Any]:
    """Adjoints ∂f/∂v given ȳ = dy, for every variable on a path from ``wanted``
    (default: every input and stage that is not a constant) to the output."""
    wanted = [graph.vars.get(w, w) for w in ([*graph.inputs, *graph.stages] if wanted is None else wanted)]
    needed = depends_on(graph.eqns, (w for w in wanted if isinstance(w, Var) and w.kind != CONSTANT))
    adjoints: dict[str, Any] = {graph.output: dy}
    for eqn in reversed(graph.eqns):
        g = adjoints.get(eqn.out)
        if g is None:
            continue  # does not reach the output
        args = [(k, a) for k, a in enumerate(eqn.args) if isinstance(a, Var) and a in needed and a.kind != CONSTANT]
        if not args:
            continue
        rules = vjp_rules.get(eqn.prim)
        if rules is None:
            raise MissingRule("reverse mode", eqn.prim)
        primals = [read(env, B, a) for a in eqn.args]
        for k, a in args:
            part = unbroadcast(B, rules[k](B, g, env[eqn.out], *primals), a.kind, eqn.out.kind)
            adjoints[a] = part if a not in adjoints else adjoints[a] + part
    return adjoints


__all__ = ["defvjp", "depends_on", "vjp", "vjp_rules"]
