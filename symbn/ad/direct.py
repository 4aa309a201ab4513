"""The direct route: SymPy's own ``diff`` of the composed loss.

No stage-by-stage rules here.  The layer is composed into one expression, the loss
f = Σ_i dy_i y_i (dy·y for a per-slice output), by the interpreter, and the
realisation differentiates it with SymPy (``B.diff``): at a given N in explicit
symbols, for every N through the moment atoms (see :meth:`symbn.realise.moments.Moments.diff`).
"""

from __future__ import annotations

from typing import Any

from symbn.ir.graph import Graph
from symbn.ir.primitives import ROW


def loss(graph: Graph, B, env: dict[str, Any], dy) -> Any:
    """f = Σ_i dy_i y_i for a row output, dy·y for a per-slice one."""
    y = env[graph.output]
    return B.sum(dy * y) if graph.output.kind == ROW else dy * y


def gradient(graph: Graph, B, env: dict[str, Any], dy, wrt: str) -> Any:
    """∂f/∂wrt (at the free index j for a row input), by SymPy's diff."""
    return B.diff(loss(graph, B, env, dy), wrt)


__all__ = ["gradient", "loss"]
