"""The primal interpreter: what each primitive computes, on any realisation.

A realisation ``B`` (:class:`~symbn.moments.Moments` or :class:`~symbn.concrete.Concrete`)
supplies ``B.N``, ``B.const``, ``B.sqrt/exp/log`` and ``B.sum``; elementwise
arithmetic is Python's operators, which both realisations' values support.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

from symbn.ir.graph import Atom, Eqn, Graph

impl_rules: dict[str, Callable[..., Any]] = {
    "add": lambda B, x, y: x + y,
    "sub": lambda B, x, y: x - y,
    "mul": lambda B, x, y: x * y,
    "div": lambda B, x, y: x / y,
    "neg": lambda B, x: -x,
    "pow": lambda B, x, y: x**y,
    "sqrt": lambda B, x: B.sqrt(x),
    "exp": lambda B, x: B.exp(x),
    "log": lambda B, x: B.log(x),
    "mean": lambda B, x: B.sum(x) / B.N,
    "sum": lambda B, x: B.sum(x),
    "id": lambda B, x: x,
}


def read(env: Mapping[str, Any], B, atom: Atom):
    return B.const(atom) if isinstance(atom, Fraction) else env[atom]


def run(eqns: Iterable[Eqn], env: dict[str, Any], B) -> dict[str, Any]:
    """Evaluate equations in order, extending ``env`` (name -> value) in place."""
    for eqn in eqns:
        env[eqn.out] = impl_rules[eqn.prim](B, *(read(env, B, a) for a in eqn.args))
    return env


def inputs_env(graph: Graph, B) -> dict[str, Any]:
    """Primal values of the graph's inputs, plus N."""
    env = {name: B.input(name) for name in graph.inputs}
    env["N"] = B.N
    return env


def primal(graph: Graph, B) -> dict[str, Any]:
    """Every variable of the graph, evaluated on realisation B."""
    return run(graph.eqns, inputs_env(graph, B), B)
