"""The routes to ∂f/∂θ, on either realisation.

=============  =====================================================  ==================
route          what it is                                              whose rules
=============  =====================================================  ==================
direct         SymPy's ``diff`` of the composed output                 SymPy's
forward        tangent propagation (:mod:`symbn.forward`)             symbn's JVP table
reverse        adjoint accumulation (:mod:`symbn.reverse`)            symbn's VJP table
closed_form    the formula a person wrote in the derivation file       a person's
=============  =====================================================  ==================

A gradient is one expression at the free index j (general N) or a tuple over
j (concrete n) for a row θ, and one expression for a scalar θ.

At concrete n the prover asks for j = 0 only (``every_j=False``).  That is enough:
nothing in a layer or a formula can single out an index (rows enter elementwise
or through symmetric reductions), so every route is permutation-equivariant, and
an identity at j = 0, in all the variables, holds at every j after renaming.
The tests still compare every j with the moment algebra for n <= 6.
"""

from __future__ import annotations

from typing import Any

from symbn.ad import direct
from symbn.ad.interpret import primal, read, run
from symbn.ad.jvp import contract, jvp
from symbn.ad.vjp import vjp
from symbn.ir.graph import ROW, lower_formula
from symbn.lang.derivation import Formula, Layer
from symbn.lang.expr import names
from symbn.realise.concrete import Concrete, entries
from symbn.realise.moments import Moments

ROUTES = ("direct", "forward", "reverse", "closed_form")


def realisation(layer: Layer, n: int | None):
    """Moments (every N) when n is None, else the concrete slice of size n."""
    kinds = {**layer.graph.kinds, "dy": layer.output_kind}
    positive = {name for name, i in layer.inputs.items() if i.positive}
    if n is None:
        return Moments(kinds, positive)
    centred = {e.args[0] for e in layer.graph.eqns if e.prim in ("mean", "sum") and e.args[0] in layer.inputs}
    return Concrete(n, kinds, positive, centred=centred)


class Routes:
    """Computes and caches the routes' gradients of one layer on one realisation."""

    def __init__(self, layer: Layer, B, every_j: bool = True):
        self.layer, self.graph, self.B = layer, layer.graph, B
        self.js = tuple(range(B.n)) if isinstance(B, Concrete) and every_j else (0,)
        self.env = primal(self.graph, B)
        self.dy = B.input("dy")
        self._adjoints: dict[str, Any] | None = None

    @property
    def concrete(self) -> bool:
        return isinstance(self.B, Concrete)

    def gradient(self, route: str, wrt: str):
        return getattr(self, route)(wrt)

    # --- the routes -----------------------------------------------------------------

    def direct(self, wrt: str):
        if self.concrete:
            return direct.gradient_concrete(self.graph, self.B, wrt, self.js)
        return direct.gradient_moments(self.graph, self.B, wrt)

    def forward(self, wrt: str):
        kind = self.graph.kinds[wrt]
        if self.concrete and kind == ROW:
            return tuple(self._forward(wrt, self.B.seed(kind, j)) for j in self.js)
        seed = self.B.seed(kind, 0) if self.concrete else self.B.seed(kind)
        return self._at_j(self._forward(wrt, seed), kind)

    def _forward(self, wrt: str, seed):
        tangents = jvp(self.graph, self.B, self.env, {wrt: seed})
        return contract(self.graph, self.B, tangents.get(self.graph.output, 0), self.dy)

    def reverse(self, wrt: str):
        return self._at_j(self.adjoints().get(wrt, 0), self.graph.kinds[wrt])

    def closed_form(self, wrt: str):
        formula = self.layer.closed_form.get(wrt)
        if formula is None:
            raise KeyError(f"{self.layer.path}: closed_form.{wrt}: no closed form for {wrt}")
        return self.formula(formula, wrt)

    # --- helpers ----------------------------------------------------------------------

    def formula(self, formula: Formula, wrt: str):
        """A formula's value (at j for a row wrt); adjoint names d<stage> are the
        reverse-mode adjoints."""
        extra = {"dy": self.layer.output_kind}
        env = {**self.env, "dy": self.dy}
        adjoint_names = self.layer.adjoint_kinds()
        used = names(formula.expr) & set(adjoint_names)
        if used:
            adjoints = self.adjoints()
            extra.update({n: adjoint_names[n] for n in used})
            env.update({n: adjoints.get(n[1:], 0) for n in used})
        eqns, atom, _ = lower_formula(self.graph, formula.expr, extra)
        value = read(run(eqns, env, self.B), self.B, atom)
        return self._at_j(value, self.graph.kinds[wrt])

    def stage_adjoint(self, stage: str):
        """∂f/∂stage: the reverse-mode adjoint of a stage (at j for a row stage)."""
        return self._at_j(self.adjoints().get(stage, 0), self.graph.kinds[stage])

    def adjoints(self) -> dict[str, Any]:
        if self._adjoints is None:
            self._adjoints = vjp(self.graph, self.B, self.env, self.dy)
        return self._adjoints

    def _at_j(self, value, kind: str):
        if not self.concrete:
            return self.B.at_j(value) if kind == ROW else value
        if kind != ROW:
            return value
        items = entries(value, self.B.n)
        return tuple(items[j] for j in self.js)


__all__ = ["ROUTES", "Routes", "realisation"]
