"""The direct route: SymPy's own ``diff`` of the composed loss.

No rule table of symbn's here.  The layer is composed by the interpreter into the
loss f = Σ_i dy_i y_i (dy·y for a per-slice output), and the realisation
differentiates it with SymPy (``B.diff``): in explicit symbols at a given N, through
the moment atoms for every N (:meth:`symbn.realise.moments.Moments.diff`).

A per-slice stage (μ, v, σ ...) is read by every element, so in the composed
expression its value appears N times, and SymPy's diff, which does not remember
what it has differentiated, would differentiate it N times.  So each per-slice stage
is first a symbol w[s] with its definition, and the derivative is assembled by the
chain rule for total derivatives: df = ∂f + Σ_s ∂f/∂w[s]·dw[s], dw[s] = ∂def_s +
Σ_r ∂def_s/∂w[r]·dw[r], every partial derivative SymPy's.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from symbn.ad.interpret import inputs_env, run
from symbn.ir.graph import Graph
from symbn.ir.primitives import CONSTANT, ROW


def loss(graph: Graph, B, env: dict[str, Any], dy) -> Any:
    """f = Σ_i dy_i y_i for a row output, dy·y for a per-slice one."""
    y = env[graph.output]
    return B.sum(dy * y) if graph.output.kind == ROW else dy * y


def gradient(graph: Graph, B, env: dict[str, Any], dy, wrt: str) -> Any:
    """∂f/∂wrt (at the free index j for a row input), by SymPy's diff."""
    B.atoms(wrt)  # a realisation of numbers has no symbols to differentiate: it raises NotSymbolic here
    symbols: dict[str, sp.Symbol] = {}
    definitions: dict[sp.Symbol, Any] = {}

    def name_stage(eqn, value):  # a per-slice stage computed from data becomes a symbol
        if eqn.out.temp or eqn.out.kind == ROW or eqn.out.kind == CONSTANT or eqn.out == graph.output:
            return value
        w = symbols[eqn.out] = sp.Symbol(f"w[{eqn.out}]")  # brackets: never a file's name
        definitions[w] = value
        return w

    named = run(graph.eqns, inputs_env(graph, B), B, then=name_stage)
    f = sp.sympify(loss(graph, B, named, dy))
    total: dict[sp.Symbol, Any] = {}  # w -> dw/d(wrt)
    for w, value in definitions.items():  # in computation order
        value = sp.sympify(value)
        total[w] = B.diff(value, wrt) + sp.Add(*(sp.diff(value, r) * total[r] for r in value.free_symbols & set(total)))
    d = B.diff(f, wrt) + sp.Add(*(sp.diff(f, w) * total[w] for w in f.free_symbols & set(total)))
    return sp.sympify(d).xreplace({symbols[s]: sp.sympify(env[s]) for s in symbols})


def second_order(graph: Graph, B, directions: dict[str, str], shift: str, wrt: str) -> Any:
    """∂h/∂wrt for h = Σ_k ⟨dd<k>, ∂f/∂k⟩, by SymPy's diff twice: h is the derivative of
    the loss along the directions, d/dt f(θ + t·dd) at t = 0, and then ∂h/∂wrt."""
    B.atoms(wrt)  # numbers: NotSymbolic
    t = B.input(shift)
    env = inputs_env(graph, B)
    for k, d in directions.items():
        env[k] = env[k] + t * B.input(d)
    f = sp.sympify(loss(graph, B, run(graph.eqns, env, B), B.input("dy")))
    return B.zero(B.diff(B.diff(f, shift), wrt), shift)


def second_tangent(graph: Graph, B, tangents: dict[str, str], shift: str) -> Any:
    """ÿ (at j for a row output) along the tangents: d²/dt² y(θ + t·θ̇) at t = 0, by SymPy's diff twice."""
    B.atoms(shift)  # numbers: NotSymbolic
    t = B.input(shift)
    env = inputs_env(graph, B)
    for k, d in tangents.items():
        env[k] = env[k] + t * B.input(d)
    y = run(graph.eqns, env, B)[graph.output]
    y = B.at_j(y) if graph.output.kind == ROW else sp.sympify(y)
    return B.zero(B.diff(B.diff(y, shift), shift), shift)


__all__ = ["gradient", "loss", "second_order", "second_tangent"]
