"""The interpreter: one loop that evaluates equations on any realisation.

A realisation ``B`` (:mod:`symbn.realise.protocol`) supplies the values and the
operations that are not Python's operators (``B.sum``, ``B.sqrt`` ...); what each
primitive computes is its record's ``impl`` (:mod:`symbn.ir.primitives`).  The
forward and reverse modes (:mod:`symbn.ad.jvp`, :mod:`symbn.ad.vjp`) read primal
values computed here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from typing import Any

from symbn.ir.graph import Atom, Eqn, Graph


class Zero:
    """The tangent or adjoint of a variable that does not depend on (or reach) the
    variable being differentiated: symbolic zero.  Rules are never called on it."""

    _instance: Zero | None = None

    def __new__(cls):
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "zero"

    def __bool__(self) -> bool:
        return False


zero = Zero()


def read(env: Mapping[str, Any], B, atom: Atom):
    return B.const(atom) if isinstance(atom, Fraction) else env[atom]


def run(eqns: Iterable[Eqn], env: dict[str, Any], B, then: Callable[[Eqn, Any], Any] | None = None) -> dict[str, Any]:
    """Evaluate equations in order, extending ``env`` (variable -> value) in place.
    ``then(eqn, value)``, if given, may replace each value as it is computed."""
    for eqn in eqns:
        value = eqn.prim.impl(B, *(read(env, B, a) for a in eqn.args))
        env[eqn.out] = value if then is None else then(eqn, value)
    return env


def inputs_env(graph: Graph, B) -> dict[str, Any]:
    """Primal values of the graph's inputs, plus N (and Nk, a shard's size, where a split reads it)."""
    env = {v: B.input(v) for v in graph.inputs}
    env[graph.N] = B.N
    for v in graph.extra:  # Nk: each shard's size
        env[v] = getattr(B, str(v))
    return env


def primal(graph: Graph, B) -> dict[str, Any]:
    """Every variable of the graph, evaluated on realisation B."""
    return run(graph.eqns, inputs_env(graph, B), B)


__all__ = ["Zero", "inputs_env", "primal", "read", "run", "zero"]
