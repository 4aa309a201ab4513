"""The routes to ∂f/∂θ, on any realisation.

=============  =====================================================  ==================
route          what it is                                              whose rules
=============  =====================================================  ==================
direct         SymPy's ``diff`` of the composed loss                   SymPy's
forward        tangent propagation (:mod:`symbn.ad.jvp`)               symbn's JVP table
reverse        adjoint accumulation (:mod:`symbn.ad.vjp`)              symbn's VJP table
closed_form    the formula a person wrote in the derivation file       a person's
=============  =====================================================  ==================

A gradient is one value: at the free index j of the realisation for a row θ, and
per-slice for a per-slice θ.  The realisation decides what j is (a symbol for every
N, a position for one N), so the routes are written once.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

from symbn.ad import direct
from symbn.ad.interpret import primal, read, run, zero
from symbn.ad.jvp import contract, jvp
from symbn.ad.vjp import vjp
from symbn.ir.primitives import ROW, SCALAR
from symbn.lang.derivation import Formula, Layer
from symbn.realise.concrete import Concrete
from symbn.realise.moments import Moments
from symbn.realise.numbers import Numbers
from symbn.realise.protocol import Point
from symbn.realise.shards import Sharded, size_symbols, split

ROUTES = ("direct", "forward", "reverse", "closed_form")


SHIFT = "t[dd]"  # the direct route's step along the directions of a second-order problem (never a file's name)


def realisation(layer: Layer, n: int | tuple[int, ...] | None, j: int = 0):
    """Moments (every N) when n is None, else the explicit symbols of a slice of size n; for a
    slice split across devices, one of either per shard (n: the shards' sizes)."""
    kinds = {**layer.kinds, **({SHIFT: SCALAR} if layer.first is not None else {})}
    positive = {name for name, i in layer.inputs.items() if i.positive}
    if layer.shards:
        if n is None:
            bases = [Moments(kinds, positive, size=N, label=str(k + 1)) for k, N in enumerate(size_symbols(layer.shards))]
        else:
            bases = [Concrete(m, kinds, positive, j=j if k == 0 else 0, label=f"{k + 1}:") for k, m in enumerate(n)]
        return Sharded(bases, kinds)
    if n is None:
        return Moments(kinds, positive)
    centred = {e.args[0] for e in layer.graph.eqns if e.prim.reduction and e.args[0] in layer.inputs}
    return Concrete(n, kinds, positive, centred=centred, j=j)


def numbers(layer: Layer, point: Point, ctx):
    """The number realisation of a layer at a point (one per shard for a split slice)."""
    if layer.shards:
        return Sharded([Numbers(shard, layer.kinds, ctx) for shard in split(point)], layer.kinds)
    return Numbers(point, layer.kinds, ctx)


class Routes:
    """Computes and caches the routes' gradients of one layer on one realisation."""

    def __init__(self, layer: Layer, B):
        self.layer, self.graph, self.B = layer, layer.graph, B
        self.env = primal(self.graph, B)
        self.dy = B.const(Fraction(1)) if layer.loss else B.input("dy")  # the output's upstream gradient
        self._adjoints: dict[str, Any] | None = None
        self._formulas: dict[Formula, dict[str, Any]] = {}

    def gradient(self, route: str, wrt: str):
        return getattr(self, route)(wrt)

    # --- the routes -----------------------------------------------------------------

    def direct(self, wrt: str):
        first = self.layer.first
        if first is not None:  # a second-order problem: SymPy's diff twice of the first-order loss
            dirs = {k: "dd" + k for k in first.differentiable}
            return direct.second_order(first.graph, self.B, dirs, SHIFT, wrt)
        return direct.gradient(self.graph, self.B, self.env, self.dy, wrt)

    def forward(self, wrt: str):
        seed = self.B.seed(self.graph.kinds[wrt])
        tangents = jvp(self.graph.eqns, self.B, self.env, {self.graph.vars[wrt]: seed})
        return contract(self.graph.output, self.B, tangents.get(self.graph.output, zero), self.dy)

    def reverse(self, wrt: str):
        return self.adjoint(wrt)

    def closed_form(self, wrt: str):
        formula = self.layer.closed_form.get(wrt)
        if formula is None:
            raise KeyError(f"{self.layer.path}: closed_form.{wrt}: no closed form for {wrt}")
        return self.formula(formula, wrt)

    # --- formulas and adjoints ----------------------------------------------------------

    def formula(self, formula: Formula, wrt: str):
        """A formula's value (at j for a row wrt); adjoint names d<name> are the
        reverse-mode adjoints."""
        value = read(self.formula_env(formula), self.B, formula.result)
        return self._at_j(value, self.graph.kinds[wrt])

    def formula_env(self, formula: Formula) -> dict[str, Any]:
        """Every value the formula's equations compute (over the layer's own); computed once."""
        if formula not in self._formulas:
            env = {**self.env} if self.layer.loss else {**self.env, "dy": self.dy}
            adjoint_names = set(self.layer.adjoint_kinds()) & formula.reads()
            env.update({n: self.adjoint_value(n[1:]) for n in adjoint_names})
            self._formulas[formula] = run(formula.eqns, env, self.B)
        return self._formulas[formula]

    def adjoint(self, name: str):
        """∂f/∂name (at j for a row): the reverse-mode adjoint of an input or a stage."""
        return self._at_j(self.adjoint_value(name), self.graph.kinds[name])

    def adjoint_value(self, name: str):
        """∂f/∂name as a value over the slice (a row for a row name)."""
        value = self.adjoints().get(name)
        return self.B.const(Fraction(0)) if value is None else value

    def adjoints(self) -> dict[str, Any]:
        """The adjoint of every input and stage that is not a constant."""
        if self._adjoints is None:
            self._adjoints = vjp(self.graph, self.B, self.env, self.dy)
        return self._adjoints

    def _at_j(self, value, kind: str):
        return self.B.at_j(value) if kind == ROW else value


__all__ = ["ROUTES", "Routes", "realisation"]
