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
from symbn.ir.graph import Builder, Eqn, Graph, Var
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
    input and stage that reaches the output is a stage named d<name>, written as the seeds'
    staged backward is: the stages are walked last to first, each adjoint is named as soon
    as it is complete (every stage that reads it is later, so done), and what a stage sends
    to an argument (its VJP rules) belongs to the argument's stage d<argument>.  So the
    backward is a graph of stages that read earlier stages, which a document can show step
    by step."""
    extra = {"dy": graph.output.kind, **{d: graph.kinds[k] for k, d in directions.items()}}
    b, values = _primal(graph, extra)
    T = Tracer(b, stage="backward")
    env = {v: Traced(v, T) for v in values}
    adjoints: dict[str, Traced] = {graph.output: T.var("dy")}
    stages = list(graph.stages)

    def name(v: str) -> None:
        T.stage = "d" + v
        b.define("d" + v, atom(adjoints[v]), "d" + v)
        adjoints[v] = T.var("d" + v)
        stages.append("d" + v)

    for s in reversed(graph.stages):
        if s not in adjoints:
            continue  # does not reach the output
        if s != graph.output:
            name(s)
        one = graph.restrict(graph.stage_eqns(s), graph.vars[s])
        for a in graph.stage_args(s):
            T.stage = "d" + a
            part = vjp(one, T, env, adjoints[s], wanted=[a]).get(a)
            if part is not None:
                adjoints[a] = part if a not in adjoints else adjoints[a] + part
    for k in differentiable:
        if k in adjoints:
            name(k)
    T.stage = "h"
    h = None
    for k, d in directions.items():
        g = T.var("d" + k) if "d" + k in b.vars else T.const(0)
        term = T.sum(T.var(d) * g) if graph.kinds[k] == ROW else T.var(d) * g
        h = term if h is None else h + term
    b.define("h", atom(T.const(0) if h is None else h), "h")
    _localise(b, set(graph.stages))
    return b.graph([*(v for v in graph.inputs), "dy", *directions.values()], [*stages, "h"], "h")


def _localise(b: Builder, primal: set[str]) -> None:
    """No backward stage reads a temporary of another stage (a rule reads its primal argument:
    sqrt's reads v + ε, a temporary of σ's stage): that temporary's equation, and those of the
    temporaries it reads, are repeated in the stage that reads it, so every stage reads named
    values only and can be shown, and differentiated, on its own."""
    made: dict[tuple[str, Var], Var] = {}
    defining = {e.out: e for e in b.eqns}
    out: list[Eqn] = []

    def local(a, stage: str):
        if not isinstance(a, Var) or not a.temp or defining[a].stage == stage:
            return a
        if (stage, a) not in made:
            e = defining[a]
            args = tuple(local(x, stage) for x in e.args)
            b._count += 1
            made[stage, a] = Var(f"%{b._count}", a.kind, temp=True)
            out.append(Eqn(made[stage, a], e.prim, args, stage))
        return made[stage, a]

    for e in b.eqns:
        if e.stage not in primal:
            e = Eqn(e.out, e.prim, tuple(local(a, e.stage) for a in e.args), e.stage)
        out.append(e)
    b.eqns = out


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
