"""The direct route: SymPy's own ``diff`` of the fully composed output.

No stage-by-stage rules here: the layer is composed into one expression and
differentiated by SymPy.

- Concrete n: f = Σ_k dy_k y_k(x_1..x_n) and ∂f/∂x_j = ``sympy.diff(f, x_j)``.
- General N: y_i is an expression in i-atoms and moment atoms S[m].  SymPy
  differentiates with respect to those atoms; the one fact it cannot know is how a
  moment moves with the data, ∂S[m]/∂x_j = ∂m/∂x (at j), which is applied here::

      ∂f/∂x_j = dy_j ∂y/∂x (at j) + Σ_M (Σ_i dy_i ∂y_i/∂M) · ∂M/∂x_j
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from symbn.ad.interpret import primal
from symbn.ir.graph import ROW, Graph
from symbn.realise.concrete import Concrete, Row
from symbn.realise.moments import Moments


def gradient_moments(graph: Graph, B: Moments, wrt: str) -> sp.Expr:
    """∂f/∂wrt (at the free index j for a row input) in the moment algebra."""
    y = sp.sympify(primal(graph, B)[graph.output])
    dy = B.input("dy")
    row_out = graph.kinds[graph.output] == ROW
    row_wrt = graph.kinds[wrt] == ROW
    theta = B.input(wrt)

    def reduce(e: sp.Expr) -> sp.Expr:  # Σ_i over the slice, weighted by dy_i
        return B.sum(dy * e) if row_out else dy * e

    def local(e: sp.Expr, weight: sp.Expr) -> sp.Expr:  # the direct dependence on wrt
        d = sp.diff(e, theta)
        return B.at_j(weight * d) if row_wrt else B.sum(weight * d) if e.free_symbols & B.i_atoms else weight * d

    cache: dict[sp.Symbol, sp.Expr] = {}

    def d_moment(M: sp.Symbol) -> sp.Expr:
        if M not in cache:
            body = B.moment_body[M]
            inner = [K for K in body.free_symbols if K in B.moment_body]
            cache[M] = local(body, 1) + sp.Add(*(B.sum(sp.diff(body, K)) * d_moment(K) for K in inner))
        return cache[M]

    head = local(y, dy)  # the δ_ij term; zero when y reaches wrt only through moments
    moments = [M for M in y.free_symbols if M in B.moment_body]
    return head + sp.Add(*(reduce(sp.diff(y, M)) * d_moment(M) for M in moments))


def gradient_concrete(graph: Graph, B: Concrete, wrt: str, js: tuple[int, ...]) -> tuple[sp.Expr, ...] | sp.Expr:
    """∂f/∂wrt: a tuple over ``js`` for a row input, one expression for a scalar.

    Composed and differentiated in the raw coordinates x_1..x_n (one ``diff`` per j),
    then written in B's coordinates (which may be centred)."""
    raw, f, to_b = _composed_loss(graph, B)
    theta = raw.input(wrt)
    if graph.kinds[wrt] != ROW:
        return sp.diff(f, theta).xreplace(to_b)
    return tuple(sp.diff(f, theta.items[j]).xreplace(to_b) for j in js)


def _composed_loss(graph: Graph, B: Concrete):
    """f = Σ_k dy_k y_k in raw coordinates, and the map to B's coordinates; once per B."""
    cached = getattr(B, "_composed_loss", None)
    if cached is None:
        raw = Concrete(B.n, B.kinds, B.positive)
        y = primal(graph, raw)[graph.output]
        dy = raw.input("dy")
        f: Any = sp.Add(*(a * b for a, b in zip(dy.items, y.items))) if graph.kinds[graph.output] == ROW else dy * y
        to_b = {}
        for name, value in raw.symbols.items():
            if isinstance(value, Row):
                to_b.update(zip(value.items, B.input(name).items))
        cached = B._composed_loss = (raw, f, to_b)
    return cached
