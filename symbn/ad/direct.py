"""The direct route: SymPy's own ``diff`` of the composed loss (twice, for second order).

No rule table of symbn's here.  The layer is composed by the interpreter into the
loss f = Σ_i dy_i y_i (dy·y for a per-slice output), and the realisation
differentiates it with SymPy (``B.diff``): in explicit symbols at a given N, through
the moment atoms for every N (:meth:`symbn.realise.moments.Moments.diff`).

A per-slice stage (μ, v, σ ...) is read by every element, so in the composed
expression its value appears N times, and SymPy's diff, which does not remember
what it has differentiated, would differentiate it N times.  So each per-slice stage
is a symbol w[s] with its definition, and a derivative is assembled by the chain
rule for total derivatives: D e = ∂e + Σ_s ∂e/∂w[s]·D w[s], every partial SymPy's.
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


class Composed:
    """The layer composed on realisation ``B`` with its per-slice stages as symbols,
    inputs moved by ``shift`` (input -> an added value) if given."""

    def __init__(self, graph: Graph, B, shift: dict[str, Any] | None = None):
        self.graph, self.B = graph, B
        self.symbols: dict[sp.Symbol, Any] = {}  # w[s] -> its definition, in computation order
        self._full: dict[sp.Symbol, sp.Expr] | None = None
        env = inputs_env(graph, B)
        for k, step in (shift or {}).items():
            env[k] = env[k] + step
        self.env = run(graph.eqns, env, B, then=self._name)
        self._totals: dict[tuple[sp.Symbol, str], Any] = {}

    def _name(self, eqn, value):
        if eqn.out.temp or eqn.out.kind in (ROW, CONSTANT) or eqn.out == self.graph.output:
            return value
        w = sp.Symbol(f"w[{eqn.out}]")  # brackets: never a file's name
        self.symbols[w] = sp.sympify(value)
        return w

    def total(self, e, name: str) -> sp.Expr:
        """D e / D name: SymPy's partial derivatives, chained through the stage symbols."""
        e = sp.sympify(e)
        return self.B.diff(e, name) + sp.Add(*(sp.diff(e, w) * self._total(w, name) for w in e.free_symbols & set(self.symbols)))

    def _total(self, w: sp.Symbol, name: str):
        key = (w, name)
        if key not in self._totals:
            self._totals[key] = self.total(self.symbols[w], name)
        return self._totals[key]

    def expand(self, e, values: dict[str, Any] | None = None) -> sp.Expr:
        """e with every stage symbol replaced by the stage's value: ``values`` (the stages as
        computed without symbols, when the caller has them), else the definitions, expanded."""
        if values is not None:
            return sp.sympify(e).xreplace({w: sp.sympify(values[str(w)[2:-1]]) for w in self.symbols})
        if self._full is None:
            self._full = {}
            for w, definition in self.symbols.items():
                self._full[w] = definition.xreplace(self._full)
        return sp.sympify(e).xreplace(self._full)


def gradient(graph: Graph, B, env: dict[str, Any], dy, wrt: str) -> Any:
    """∂f/∂wrt (at the free index j for a row input), by SymPy's diff."""
    B.atoms(wrt)  # a realisation of numbers has no symbols to differentiate: it raises NotSymbolic here
    c = Composed(graph, B)
    return c.expand(c.total(loss(graph, B, c.env, dy), wrt), env)


def second_order(graph: Graph, B, directions: dict[str, str], shift: str, wrt: str) -> Any:
    """∂h/∂wrt for h = Σ_k ⟨dd<k>, ∂f/∂k⟩, by SymPy's diff twice: h is the derivative of
    the loss along the directions, d/dt f(θ + t·dd) at t = 0, and then ∂h/∂wrt."""
    B.atoms(wrt)  # numbers: NotSymbolic
    t = B.input(shift)
    c = Composed(graph, B, {k: t * B.input(d) for k, d in directions.items()})
    f = loss(graph, B, c.env, B.input("dy"))
    return B.zero(c.expand(c.total(c.total(f, shift), wrt)), shift)


def second_tangent(graph: Graph, B, tangents: dict[str, str], shift: str) -> Any:
    """ÿ (at j for a row output) along the tangents: d²/dt² y(θ + t·θ̇) at t = 0, by SymPy's diff twice."""
    B.atoms(shift)  # numbers: NotSymbolic
    t = B.input(shift)
    c = Composed(graph, B, {k: t * B.input(d) for k, d in tangents.items()})
    y = c.env[graph.output]
    y = B.at_j(y) if graph.output.kind == ROW else sp.sympify(y)
    return B.zero(c.expand(c.total(c.total(y, shift), shift)), shift)


__all__ = ["Composed", "gradient", "loss", "second_order", "second_tangent"]
