"""Where code goes wrong: each intermediate matched to a quantity of the true derivation.

For a refuted gradient, every value the code assigns on the way to it is matched to
what it should be:

- **by name**: a stage (``xhat``), the adjoint ∂f/∂stage of ``d<stage>`` (``dvar``;
  with the bind table, ``dx_norm`` when ``x_norm`` is bound to ``xhat``), or what
  ``--bind`` names (``dscaled_x=dy``).  A name assigned again later (``dxmu = ...;
  dxmu += ...``), or one with a suffix (``dxmu1``, ``dx_2``), is a *part* of the
  adjoint: the sum of some of the contributions it gets through its consumers
  (∂f/∂xmu through xhat, through sq);
- **by value**: any other intermediate that equals a stage, dy, an adjoint or one
  such part at domain points.

Values are compared on FLINT balls at points of the layer's domain, so "wrong" is
certain; "right" means equal at every point tried.  The **first wrong line** is the
first, in the code's order, whose value is certainly not what its name says, with
what it should be and what it is, both written in the layer's terms.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from itertools import combinations

from symbn.ad.interpret import read
from symbn.ad.vjp import vjp
from symbn.ir.graph import Var, kind_of
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.formula import Formula
from symbn.lang.python import Program, Record
from symbn.proof.refute import BITS, QUICK
from symbn.proof.report import FirstWrong, LineCheck
from symbn.realise.concrete import Row
from symbn.realise.numbers import precision

SUFFIX = re.compile(r"^(?P<base>.+?)_?\d+$")  # dxmu1, dx_2: a part of dxmu, of dx


@dataclass(frozen=True)
class Quantity:
    """A quantity of the true derivation: its name as shown, and how to compute it."""

    shown: str
    key: tuple  # ("value", name) | ("adjoint", name) | ("part", name, (stages...))


class Locator:
    """The quantities of one layer at a few domain points, and the code's values there."""

    def __init__(self, prover, program: Program):
        self.prover, self.program, self.layer = prover, program, prover.layer
        self.graph = self.layer.graph
        self.formula = Formula("code", None, "code", ROW, program.eqns, 0)
        self.points, self.envs = [], []
        with precision(BITS):
            for point, routes in prover.refuter._domain_points(QUICK):
                try:
                    env = routes.formula_env(self.formula) if program.eqns else dict(routes.env)
                except (ZeroDivisionError, ValueError):
                    continue  # the code is undefined at this point: it says nothing
                self.points.append((point, routes))
                self.envs.append(env)

    # --- quantities ------------------------------------------------------------------------

    def consumers(self, name: str) -> list[str]:
        return [s for s in self.graph.stages if name in self.graph.stage_args(s)]

    def value(self, k: int, key: tuple):
        return self.value_on(self.points[k][1], key)

    def value_on(self, routes, key: tuple):
        """A quantity on any routes: a stage's value, an adjoint, or a sum of parts of one."""
        if key[0] == "value":
            return routes.dy if key[1] == "dy" else routes.env[key[1]]
        if key[0] == "adjoint":
            return routes.dy if key[1] == self.graph.output else routes.adjoint_value(key[1])
        name, stages = key[1], key[2]
        total = None
        for s in stages:
            part = self._through(routes, name, s)
            total = part if total is None else total + part
        return total

    def _through(self, routes, name: str, stage: str):
        """∂f/∂name through one consumer stage: that stage's adjoint sent back through its equations."""
        g = self.graph
        sub = g.restrict(g.stage_eqns(stage), g.vars[stage])
        upstream = routes.dy if stage == g.output else routes.adjoint_value(stage)
        return vjp(sub, routes.B, routes.env, upstream, [g.vars[name]]).get(name, routes.B.const(Fraction(0)))

    def parts(self, name: str) -> list[Quantity]:
        """Every sum of some of ∂f/∂name's contributions through its consumers (the full one last)."""
        users = self.consumers(name)
        out = []
        for k in range(1, len(users) + 1):
            for subset in combinations(users, k):
                shown = f"part of d f/d {name} through {' and '.join(subset)}" if k < len(users) else f"d f/d {name}"
                out.append(Quantity(shown, ("part", name, subset)))
        return out

    def code_value(self, k: int, record: Record):
        return read(self.envs[k], self.points[k][1].B, record.atom)

    def agrees(self, record: Record, key: tuple) -> bool | None:
        """True: equal at every point; False: certainly different at one; None: no point decided."""
        decided = False
        with precision(BITS):
            for k in range(len(self.points)):
                try:
                    a, b = self.code_value(k, record), self.value(k, key)
                except (ZeroDivisionError, ValueError, KeyError):
                    continue
                same = _overlap(a, b)
                if same is False:
                    return False
                decided = decided or same is True
        return True if decided else None

    # --- names ---------------------------------------------------------------------------

    def target(self, name: str) -> str | None:
        """The layer's name a code name stands for (bind table, then the same name)."""
        bound = self.program.bind.get(name)
        if isinstance(bound, str):
            return bound
        return name if name in self.graph.kinds or name == "dy" else None

    def by_name(self, record: Record, wrt: str | None) -> tuple[list[Quantity], str]:
        """What a record's name says it is: candidates (any one may match) and how it was matched."""
        if record.how == "return":
            return ([Quantity(f"d f/d {wrt}", ("adjoint", wrt))] if wrt else []), "returns"
        name = record.name
        bound = self.program.bind.get(name)
        if isinstance(bound, str):
            return [self._quantity(bound)], "bind"
        if name in self.graph.kinds and not self.graph.vars[name].temp:
            return [Quantity(name, ("value", name))], "name"
        adjoint = self._adjoint_of(name)
        if adjoint is not None:
            if record.final:
                return [Quantity(f"d f/d {adjoint}", ("adjoint", adjoint))], "name"
            return self.parts(adjoint), "name, a part"
        m = SUFFIX.match(name)
        if m:
            adjoint = self._adjoint_of(m.group("base"))
            if adjoint is not None:
                return self.parts(adjoint), "name, a part"
        return [], ""

    def _adjoint_of(self, name: str) -> str | None:
        if not name.startswith("d") or len(name) < 2:
            return None
        target = self.target(name[1:])
        targets = self.layer.targets()
        if target == "dy" or target is None:
            return None
        if target in targets or target == self.graph.output:
            return target
        return None

    def _quantity(self, target: str) -> Quantity:
        if target == "dy":
            return Quantity("dy", ("value", "dy"))
        if target.startswith("d") and target[1:] in self.layer.targets():
            return Quantity(f"d f/d {target[1:]}", ("adjoint", target[1:]))
        return Quantity(target, ("value", target))

    def candidates(self) -> list[Quantity]:
        """Everything an unnamed intermediate may equal: dy, the stages, the adjoints and their parts."""
        out = [Quantity("dy", ("value", "dy"))]
        out += [Quantity(s, ("value", s)) for s in self.graph.stages if self.graph.kinds[s] != CONSTANT]
        for t in self.layer.targets():
            out += self.parts(t) if len(self.consumers(t)) > 1 else [Quantity(f"d f/d {t}", ("adjoint", t))]
        return out


def _overlap(a, b) -> bool | None:
    """Balls (or rows of balls) that certainly meet everywhere (True), or not (False)."""
    xs = list(a.items) if isinstance(a, Row) else [a]
    ys = list(b.items) if isinstance(b, Row) else [b]
    if len(xs) != len(ys):
        ys = ys * len(xs) if len(ys) == 1 else ys
        xs = xs * len(ys) if len(xs) == 1 else xs
    result = True
    for x, y in zip(xs, ys):
        x, y = _ball(x), _ball(y)
        if x is None or y is None or not (x.is_finite() and y.is_finite()):
            result = None
            continue
        if not x.overlaps(y):
            return False
    return result


def _ball(v):
    return v if hasattr(v, "overlaps") else None


def locate(prover, program: Program, wrt: str, returned_atom) -> tuple[FirstWrong | None, tuple[LineCheck, ...]]:
    """Every intermediate of the code on the way to one returned gradient, checked; and the first wrong line."""
    loc = Locator(prover, program)
    needed = program.ancestors(returned_atom)
    mine = next((r for r in program.records if r.how == "return" and r.atom == returned_atom), None)
    records = [r for r in program.records
               if r is mine or (r.how != "return" and _computed(r, needed) and (not r.across or r.atom == returned_atom))]
    records.sort(key=lambda r: (r.line, r.col))
    checks, first = [], None
    for r in records:
        quantities, how = loc.by_name(r, wrt if r.how == "return" else None)
        if quantities:
            verdicts = [(q, loc.agrees(r, q.key)) for q in quantities]
            hit = next((q for q, v in verdicts if v is True), None)
            if hit is not None:
                checks.append(LineCheck(r.line, r.name, hit.shown, how, "right"))
                continue
            unsure = all(v is None for _, v in verdicts)
            checks.append(LineCheck(r.line, r.name, _options(quantities), how, "unsure" if unsure else "wrong"))
            if not unsure and first is None:
                first = FirstWrong(r.line, r.name, _expected(prover, loc, quantities), _got(prover, program, r))
            continue
        hit = next((q for q in loc.candidates() if loc.agrees(r, q.key) is True), None)
        checks.append(LineCheck(r.line, r.name, hit.shown if hit else "no quantity of the derivation", "value",
                                "right" if hit else "unmatched"))
    return first, tuple(checks)


def _computed(r: Record, needed: set[str]) -> bool:
    """A record of a value the gradient is computed from (not an input taken apart)."""
    return r.how != "read" and isinstance(r.atom, Var) and r.atom in needed


def _options(quantities: list[Quantity]) -> str:
    if len(quantities) == 1:
        return quantities[0].shown
    name = quantities[-1].key[1]
    return f"a part of d f/d {name}"


def _expected(prover, loc: Locator, quantities: list[Quantity]) -> str:
    """What a wrong line should compute, in the layer's terms (a part's options listed)."""
    if len(quantities) == 1:
        return _written(prover, lambda routes: loc.value_on(routes, quantities[0].key))
    singles = [q for q in quantities if len(q.key[2]) == 1]
    texts = [f"{_written(prover, lambda routes, q=q: loc.value_on(routes, q.key))} (through {q.key[2][0]})"
             for q in singles]
    return "one of " + ", ".join(texts)


def _got(prover, program: Program, r: Record) -> str:
    formula = Formula("code", None, "code", kind_of(r.atom), program.needed([r.atom]), r.atom)
    return _written(prover, lambda routes: read(routes.formula_env(formula), routes.B, r.atom), kind_of(r.atom))


def _written(prover, value: Callable, kind: str | None = None) -> str:
    """A value (computed on the every-N routes) in the layer's terms, at j for a row."""
    from symbn.proof.difference import written

    every = prover.moments
    routes = every.routes
    v = value(routes)
    at_j = routes.B.at_j(v)
    try:
        return written(every.terms, every.terms.express(at_j, routes.B))
    except (NotImplementedError, TypeError, ValueError, ZeroDivisionError):
        return str(at_j)


__all__ = ["Locator", "Quantity", "locate"]
