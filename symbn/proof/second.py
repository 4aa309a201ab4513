"""Second order: the layer's backward pass as a layer of its own, proved like any other.

With g_k = ∂f/∂k the first-order gradients and dd<k> incoming directions of k's kind,
the second-order quantity is h = Σ_k ⟨dd<k>, g_k⟩ and its gradients are ∂h/∂w for
w in the differentiable inputs and dy (PyTorch's gI, gG, ggO given ggI, ggG, ggB).
The backward pass, written down by reverse mode (:func:`symbn.ad.programs.backward_program`),
is a layer whose output h is the loss itself.  Its routes are the first-order ones
run again: reverse over reverse, forward over reverse (a JVP of the backward), and
the direct route, which is SymPy's diff twice of the composed loss and uses none
of symbn's rules (:func:`symbn.ad.direct.second_order`).
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from itertools import combinations

from symbn.ad import direct
from symbn.ad.jvp import jvp
from symbn.ad.programs import backward_program, tangent_program
from symbn.ir.graph import format_eqn
from symbn.ir.primitives import ROW
from symbn.lang.derivation import Input, Layer, SpecError
from symbn.proof.prover import route_side, run
from symbn.proof.refute import Side
from symbn.proof.report import Proof
from symbn.proof.routes import ROUTES, SHIFT

H = "h"


def directions(layer: Layer) -> dict[str, str]:
    return {k: "dd" + k for k in layer.differentiable}


def second_order(layer: Layer) -> Layer:
    """The second-order problem of ``layer``: its backward pass, output h, differentiated
    with respect to the layer's differentiable inputs and dy."""
    dirs = directions(layer)
    taken = set(layer.graph.kinds) & ({H, *dirs.values()} | {"d" + s for s in layer.graph.stages})
    if taken:
        raise SpecError(layer.path, "layer.stages", f"the name '{min(taken)}' is taken by the second-order "
                                                     "problem (h, dd<input>, d<stage>); rename it to prove second order")
    graph = backward_program(layer.graph, layer.differentiable, dirs)
    out = layer.output_kind
    inputs = dict(layer.inputs)
    inputs["dy"] = Input("dy", out, rf"\frac{{\partial f}}{{\partial {layer.latex_names.get(layer.graph.output, 'y')}}}")
    for k, d in dirs.items():
        inputs[d] = Input(d, layer.inputs[k].kind, rf"\dot{{{layer.latex_names.get(k, k)}}}", direction=True)
    text = {**layer.stage_text}
    for eqn in graph.eqns:
        if not eqn.out.temp and eqn.out not in text:
            text[eqn.out] = format_eqn(eqn).replace(f" : {eqn.out.kind}", "")
    claims = tuple(replace(c, order=1) for c in layer.claims if c.order == 2)
    return Layer(
        path=layer.path,
        name=f"{layer.name}, second order",
        title=f"{layer.title or layer.name}: second order",
        inputs=inputs,
        stage_text=text,
        graph=graph,
        closed_form=dict(layer.second_order),
        claims=claims,
        latex_names={**layer.latex_names, **{d: inputs[d].latex for d in dirs.values()}},
        notation=layer.notation,
        loss=True,
        first=layer,
    )


def tangent_problem(layer: Layer) -> Layer:
    """The tangent pass of ``layer`` along dot<k> for every differentiable input: its output
    ẏ, differentiated once more along the same tangents, is ÿ (forward over forward)."""
    tangents = {k: "dot" + k for k in layer.differentiable}
    graph = tangent_program(layer.graph, tangents)
    inputs = dict(layer.inputs)
    for k, d in tangents.items():
        inputs[d] = Input(d, layer.inputs[k].kind, rf"\dot{{{layer.latex_names.get(k, k)}}}", direction=True)
    return Layer(layer.path, f"{layer.name}, tangent", layer.title, inputs, {**layer.stage_text}, graph, {},
                 loss=True, first=layer)


def forward_over_forward(layer: Layer) -> tuple[Side, Side]:
    """ÿ at j along the tangents: forward mode run on the tangent pass, against SymPy's diff twice."""
    tangents = {k: "dot" + k for k in layer.differentiable}

    def nested(routes):
        B, graph = routes.B, routes.graph
        dots = jvp(graph.eqns, B, routes.env, {k: B.input(d) for k, d in tangents.items()})
        value = dots.get(graph.output)
        value = B.const(Fraction(0)) if value is None else value
        return B.at_j(value) if graph.output.kind == ROW else value

    def twice(routes):
        return direct.second_tangent(layer.graph, routes.B, tangents, SHIFT)

    return (Side("forward_over_forward", nested, None, ("forward_over_forward",)),
            Side("direct", twice, None, ("direct_tangent",), symbolic=True))


def prove_second(layer: Layer, n: int | None = None, time_limit: float | None = 60.0) -> Proof:
    """Every route of the second-order problem against every other (and its closed forms),
    for ∂h/∂w, w each differentiable input and dy; and ÿ forward over forward against SymPy."""
    problem = second_order(layer)
    obligations = []
    for w in problem.differentiable:
        routes = [r for r in ROUTES if r != "closed_form" or w in problem.closed_form]
        obligations += [(w, (route_side(problem, a, w), route_side(problem, b, w))) for a, b in combinations(routes, 2)]
    proof = Proof(layer.name, n, order=2)
    proof.results = run(problem, n, obligations, time_limit)
    proof.results += run(tangent_problem(layer), n, [("y", forward_over_forward(layer))], time_limit)
    return proof


__all__ = ["H", "directions", "forward_over_forward", "prove_second", "second_order", "tangent_problem"]
