"""One stage at a time: the JVP and VJP rules of its equations, each step checked.

The document's forward and reverse sections and the graph's backward edges show
the same things: a stage's local derivative with respect to one argument, and the
adjoint it sends to each argument.  Both are computed here, twice (once over the
display algebra, once by the engine) and the display value is shown only when it
is the engine's (:meth:`~symbn.render.algebra.Algebra.check`).
"""

from __future__ import annotations

from typing import Any

from symbn.ad.jvp import jvp
from symbn.ad.vjp import vjp
from symbn.ir.graph import Graph


def stage_graph(graph: Graph, stage: str) -> Graph:
    """The equations of one stage, as a graph whose output is the stage."""
    return graph.restrict(graph.stage_eqns(stage), graph.vars[stage])


def users(graph: Graph) -> dict[str, list[str]]:
    """Each input and stage -> the stages that read it."""
    return {v: [s for s in graph.stages if v in graph.stage_args(s)] for v in (*graph.inputs, *graph.stages)}


def stage_jvp(graph: Graph, stage: str, seeds: dict, B, env) -> Any:
    """The tangent of one stage given its arguments' tangents (the JVP rules of its equations)."""
    return jvp(graph.stage_eqns(stage), B, env, seeds).get(stage, 0)


def stage_vjp(graph: Graph, stage: str, g, B, env) -> dict[str, Any]:
    """The adjoints one stage sends to its arguments, given its own (the VJP rules)."""
    args = graph.stage_args(stage)
    out = vjp(stage_graph(graph, stage), B, env, g, wanted=args)
    return {a: out.get(a, 0) for a in args}


def differentiated(layer, name: str) -> bool:
    """Whether reverse mode sends an adjoint to ``name``: not to an input the layer does not
    differentiate (a second-order problem's directions dd<k>)."""
    return name not in layer.inputs or layer.inputs[name].differentiable


def sent(A, stage: str) -> dict[str, tuple[Any, Any]]:
    """argument -> (the adjoint the stage sends it, over the display algebra, in terms of
    the stage's own adjoint symbol; the engine's value of the same), checked equal."""
    E = A.engine
    shown = stage_vjp(A.graph, stage, A.adjoint(stage, "i"), A.B, A.env)
    engine = stage_vjp(A.graph, stage, E.adjoint_value(stage), E.B, E.env)
    kept = [a for a in shown if differentiated(A.layer, a)]
    return {a: (A.check(A.tidy(shown[a]), engine[a], f"adjoint from {stage} to {a}"), engine[a]) for a in kept}


def local(A, stage: str, arg: str) -> tuple[Any, Any]:
    """∂stage/∂arg with the argument's tangent seeded (δ_ij for a row): display and engine values, checked."""
    E, kind = A.engine, A.graph.kinds[arg]
    shown = A.tidy(stage_jvp(A.graph, stage, {arg: A.B.seed(kind)}, A.B, A.env))
    engine = stage_jvp(A.graph, stage, {arg: E.B.seed(kind)}, E.B, E.env)
    return A.check(shown, engine, f"local derivative of {stage} wrt {arg}"), engine


__all__ = ["differentiated", "local", "sent", "stage_graph", "stage_jvp", "stage_vjp", "users"]
