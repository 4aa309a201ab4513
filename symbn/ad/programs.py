"""The backward pass and the tangent pass, written down as programs of their own.

Reverse mode run on the tracing realisation (:mod:`symbn.realise.trace`) records
the layer's backward pass: a graph whose inputs are the layer's inputs, ``dy`` and
the incoming directions ``dd<k>``, whose stages are the primal stages followed by
the adjoints ``d<name>``, and whose output is the second-order quantity

    h = Σ_k ⟨dd<k>, ∂f/∂k⟩     (a sum over the slice for a row k),

PyTorch's double backward: its gradients are ``gI``, ``gG``, ``ggO``.  Forward mode
run on it records the tangent pass: inputs and tangents ``dot<k>``, output ẏ.  The
engines then differentiate these programs like any layer.
"""

from __future__ import annotations

from collections.abc import Mapping

from symbn.ad.jvp import jvp
from symbn.ad.vjp import vjp
from symbn.ir.graph import Builder, Graph
from symbn.ir.primitives import CONSTANT, ROW
from symbn.realise.trace import Traced, Tracer, atom


def _primal(graph: Graph, extra: Mapping[str, str]) -> tuple[Builder, dict]:
    """A builder holding the layer's own equations, with ``extra`` inputs beside its own."""
    b = Builder({**{v: v.kind for v in graph.inputs}, **extra, "N": CONSTANT})
    b.eqns = list(graph.eqns)
    b.vars.update(graph.vars)
    b._count = len(graph.eqns)
    return b, {v: v for v in (*graph.inputs, graph.N, *(e.out for e in graph.eqns))}


def backward_program(graph: Graph, differentiable: tuple[str, ...], directions: Mapping[str, str]) -> Graph:
    """The backward pass of ``graph`` as a graph computing h = Σ_k ⟨dd<k>, ∂f/∂k⟩.

    ``directions``: input k -> the name of its direction (dd<k>).  The adjoint of every
    input and stage that reaches the output is a stage named d<name>."""
    extra = {"dy": graph.output.kind, **{d: graph.kinds[k] for k, d in directions.items()}}
    b, values = _primal(graph, extra)
    T = Tracer(b, stage="backward")
    env = {v: Traced(v, T) for v in values}
    adjoints = vjp(graph, T, env, T.var("dy"))
    stages = list(graph.stages)
    for name in [*graph.stages, *differentiable]:  # each adjoint, named: dxhat, dvar, ..., dx
        if name in adjoints and name != graph.output:
            b.define("d" + name, atom(adjoints[name]), "d" + name)
            stages.append("d" + name)
    h = T.const(0)
    for k, d in directions.items():
        g = T.var("d" + k) if "d" + k in b.vars else T.const(0)
        h = h + (T.sum(T.var(d) * g) if graph.kinds[k] == ROW else T.var(d) * g)
    b.define("h", atom(h), "h")
    return b.graph([*(v for v in graph.inputs), "dy", *directions.values()], [*stages, "h"], "h")


def tangent_program(graph: Graph, tangents: Mapping[str, str]) -> Graph:
    """The tangent pass of ``graph`` along ``tangents`` (input k -> the name of k's tangent):
    a graph computing ẏ, the output's tangent."""
    b, values = _primal(graph, {t: graph.kinds[k] for k, t in tangents.items()})
    T = Tracer(b, stage="tangent")
    env = {v: Traced(v, T) for v in values}
    dots = jvp(graph.eqns, T, env, {k: T.var(t) for k, t in tangents.items()})
    out = dots.get(graph.output)
    b.define("ydot", atom(out) if out is not None else atom(T.const(0)), "ydot")
    return b.graph([*(v for v in graph.inputs), *tangents.values()], [*graph.stages, "ydot"], "ydot")


__all__ = ["backward_program", "tangent_program"]
