"""The forward-mode derivative of a layer, from its proved gradients, and its own proof.

A framework that differentiates by forward mode (JAX's ``custom_jvp``) needs the
tangent of the output, ẏ = Σ_k (∂y/∂θ_k)·θ̇_k, whereas the proved formulas give
the gradients, θ̄_k = (∂y/∂θ_k)ᵀ·dy.  For a slice the two are transposes, and
the fast form of a gradient shows it term by term (:func:`transpose`): a term
c·dy·r(j) is diagonal and stays c·r·θ̇; a term c·r(j)·Σ_i dy·q moves the sum to
the other side, c·q(j)·Σ_i r·θ̇; a per-slice gradient c·Σ_i dy·q gives c·q·θ̇.

The tangent formula is then proved on its own (:func:`certify_jvp`), against
reverse mode, by the identity that defines the transpose: for every dy and every
tangent, Σ_j dy_j·ẏ_j = Σ_k ⟨θ̄_k, θ̇_k⟩ with θ̄_k by reverse mode.  Its two sides
are per-slice values, proved equal for every N like any other obligation, on the
*tangent layer*: the layer with an input ``<name>_dot`` of the same kind beside
each differentiable input, which no stage reads.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import sympy as sp

from symbn.ad.interpret import read
from symbn.ad.jvp import contract
from symbn.emit.certify import NotCertified, require
from symbn.emit.rearrange import Rearranger
from symbn.ir.primitives import ROW
from symbn.lang.derivation import Input, Layer
from symbn.lang.expr import parse_assignment, to_text
from symbn.lang.lower import build
from symbn.proof.prover import run
from symbn.proof.refute import Side


def tangent_names(layer: Layer) -> dict[str, str]:
    """Each differentiable input's tangent: ``<name>_dot``, lengthened while it clashes."""
    taken = {*layer.inputs, *layer.graph.stages, "dy", "N"}
    out = {}
    for name in layer.differentiable:
        t = f"{name}_dot"
        while t in taken or t in out.values():
            t += "_"
        out[name] = t
    return out


def tangent_layer(layer: Layer, names: dict[str, str]) -> Layer:
    """The layer with the tangents as inputs that no stage reads."""
    inputs = dict(layer.inputs)
    for name, t in names.items():
        inputs[t] = Input(t, layer.inputs[name].kind, rf"\dot{{{layer.inputs[name].latex}}}")
    kinds = {n: i.kind for n, i in inputs.items()}
    stages = [parse_assignment(layer.stage_text[s]) for s in layer.graph.stages]
    graph = build(kinds, stages, layer.graph.output)
    return replace(layer, inputs=inputs, graph=graph, closed_form={}, claims=())


def transpose(layer: Layer, gradients: dict[str, str], names: dict[str, str] | None = None) -> str:
    """The tangent formula ẏ, as text, from the gradients' fast forms (see the module)."""
    names = names or tangent_names(layer)
    tangent = tangent_layer(layer, names)
    r = Rearranger(tangent)
    B = r.B
    dy = B.input("dy")
    total = sp.Integer(0)
    for wrt, text in gradients.items():
        value = sp.expand(r.value(tangent.formula(text, f"emitted.{wrt}")))
        t = B.input(names[wrt])
        for term in sp.Add.make_args(value):
            total += _transposed(B, term, dy, t, layer.inputs[wrt].kind == ROW, wrt)
    return to_text(r.fast_value(sp.expand(total)))


def _transposed(B, term: sp.Expr, dy: sp.Symbol, t: sp.Expr, row: bool, wrt: str) -> sp.Expr:
    """One term c·dy·r or c·r·Σ dy·q of a gradient, moved to the tangent side."""
    factors = sp.Mul.make_args(term)
    sums = [f for f in factors if f in B.moment_body and B.moment_body[f].has(dy)]
    direct = [f for f in factors if f == dy]
    if len(sums) + len(direct) != 1 or any(f.has(dy) for f in factors if f not in sums and f not in direct):
        raise NotCertified(f"the gradient of {wrt} is not linear in dy term by term ({term}); no tangent formula")
    rest = sp.Mul(*(f for f in factors if f not in sums and f not in direct))
    if direct:
        return rest * t
    q = sp.expand(B.moment_body[sums[0]] / dy)
    if q.has(dy):
        raise NotCertified(f"a sum in the gradient of {wrt} is not linear in dy ({sums[0]})")
    coefficient, r = B.split(rest)
    if not row:
        return coefficient * r * q * t
    return coefficient * q * B.sum(r * t)


def certify_jvp(layer: Layer, text: str, names: dict[str, str] | None = None, time_limit: float | None = 60.0):
    """Prove the tangent formula ``text`` right (Σ dy·ẏ = Σ_k ⟨θ̄_k, θ̇_k⟩, every N);
    raises :class:`NotCertified` otherwise.  Returns the prover's result."""
    names = names or tangent_names(layer)
    tangent = tangent_layer(layer, names)
    formula = tangent.formula(text, "emitted.jvp")
    if formula.kind == ROW and layer.output_kind != ROW:
        raise NotCertified(f"{layer.path}: the tangent formula varies along the slice but the output is per slice")
    output = tangent.graph.output

    def pairing(routes):
        total = routes.B.const(Fraction(0))
        for wrt, t in names.items():
            adjoint, dot = routes.adjoint_value(wrt), routes.env[t]
            total = total + (routes.B.sum(adjoint * dot) if layer.inputs[wrt].kind == ROW else adjoint * dot)
        return total

    def contracted(routes):
        value = read(routes.formula_env(formula), routes.B, formula.result)
        return contract(output, routes.B, value, routes.dy)

    truth = Side("reverse", pairing, None, ("tangent", "truth"))
    claim = Side("emitted", contracted, formula, ("tangent", "emitted"))
    result = run(tangent, None, [(output, (truth, claim))], time_limit)[0]
    return require(layer, output, text, "formula", result, f"{output} (its tangent)")


__all__ = ["certify_jvp", "tangent_layer", "tangent_names", "transpose"]
