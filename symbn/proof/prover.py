"""The prover: every route against every other, with a verdict each that is never wrong.

One obligation, "side A equals side B on the layer's real domain" (two routes, or
the truth and a claim), is decided in three steps:

1. **refute first**: both sides at a few exact points of the domain, on balls
   (:mod:`symbn.proof.refute`); a difference is a counterexample at once;
2. **prove**: the normal form of A − B (:mod:`symbn.proof.canonical`) is 0;
3. otherwise, a longer search for a counterexample; failing that, ``unknown``
   with the reason (a root whose sign the domain does not give, say).

Verdicts: ``proved`` (for every slice size N at once, or for the given N and every
j), ``refuted`` (with an exact counterexample inside the domain), ``unknown``.
Each command's obligations run under a time limit that holds (:mod:`symbn.proof.limits`).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from functools import cached_property
from itertools import combinations
from typing import Any

import sympy as sp

from symbn.ir.primitives import ROW
from symbn.lang.derivation import Formula, Layer
from symbn.proof import domain, limits
from symbn.proof.canonical import Canonical, NoValue, Undecided, positive_body
from symbn.proof.refute import QUICK, THOROUGH, Refuter, Side
from symbn.proof.report import EXIT, PROVED, REFUTED, UNKNOWN, Proof, Result
from symbn.proof.routes import ROUTES, Routes, realisation
from symbn.realise.concrete import Row
from symbn.realise.shards import PerShard

SYMPY_FAILURES = (TypeError, ValueError, ZeroDivisionError, ArithmeticError, NotImplementedError, RecursionError,
                  sp.PolynomialError)
MAX_N = 1000  # explicit symbols beyond this are refused: the every-N proof covers any N
SIDE_WORDS = {"direct": "SymPy's diff", "forward": "forward mode", "reverse": "reverse mode",
              "closed_form": "the closed form", "formula": "the formula"}
RANKS = {"constant+": 0, "constant": 1, "moment": 2, "scalar": 4, "row": 5, "size": 6}


class TooLarge(ValueError):
    """A slice size beyond what explicit symbols can handle."""


def check_size(n: int | None) -> None:
    if n is not None and n > MAX_N:
        raise TooLarge(f"--n {n}: symbn proves with explicit symbols up to N = {MAX_N} (N = 64 takes seconds, "
                       f"N = 500 minutes); without --n the proof holds for every N at once")


class Prover:
    """Shared state for one layer on one realisation: the routes, the normal forms,
    and the domain points counterexamples are looked for at."""

    def __init__(self, layer: Layer, n: int | None = None):
        check_size(n)
        self.layer, self.n = layer, n
        self.refuter = Refuter(layer, n)
        self._values: dict[tuple[str, str], Any] = {}

    @cached_property
    def routes(self) -> Routes:
        """The routes in symbols (every N, or explicit at n): built when a proof needs them."""
        return Routes(self.layer, realisation(self.layer, self.n))

    @cached_property
    def canonical(self) -> Canonical:
        return _canonical(self.layer, self.routes)

    @cached_property
    def terms(self):
        """The layer's own terms, for writing a difference (:mod:`symbn.proof.terms`).  A second-order
        problem is written in the first-order layer's basis and its directions dd<k> (the backward's
        stages, dmu, dx ..., through their definitions: values reach the terms in the inputs' atoms);
        a split across devices in the split's own names (:mod:`symbn.proof.split_terms`)."""
        from symbn.proof.split_terms import SplitTerms
        from symbn.proof.terms import Terms

        layer = self.layer
        positive = {n for n, i in layer.inputs.items() if i.positive}
        if layer.whole is not None:
            return SplitTerms(layer.whole.graph, positive)
        if layer.first is not None:
            return Terms(layer.first.graph, positive, extra={n: i.kind for n, i in layer.inputs.items() if i.direction})
        return Terms(layer.graph, positive)

    @cached_property
    def moments(self) -> Prover:
        """This prover if it proves for every N, else one that does (differences are for every N)."""
        return self if self.n is None else Prover(self.layer)

    def explained(self, wrt: str, sides: tuple[Side, Side], result: Result) -> Result:
        """A refuted obligation with what its claim side says is wrong (the verdict stands as it
        is if explaining fails)."""
        try:
            return sides[1].explain(self, wrt, sides, result)
        except (*SYMPY_FAILURES, Undecided):
            return result  # the verdict stands without its explanation
        except Exception as err:  # noqa: BLE001 - a bug in explaining must not cost the verdict; it is shown
            why = f"symbn could not explain this refutation ({type(err).__name__}: {str(err)[:120]})"
            return replace(result, notes=(*result.notes, why))

    def built(self) -> Prover:
        """The prover with its symbolic state built (so that a time limit covers building it)."""
        _ = self.canonical
        return self

    def obligation(self, wrt: str, sides: tuple[Side, Side]) -> Result:
        """One obligation: proved, refuted with a counterexample, or unknown with the reason."""
        start = time.perf_counter()
        labels = (sides[0].label, sides[1].label)

        def result(verdict: str, counterexample=None, detail: str = "") -> Result:
            return Result(wrt, *labels, verdict, counterexample, time.perf_counter() - start, detail)

        try:
            quick = any(s.formula is not None for s in sides) and not any(s.symbolic for s in sides)
            if quick:  # a person's formula against a route that is fast at a point: refute first
                found = self.refuter.refute(sides, QUICK)
                if found is not None:
                    return result(REFUTED, found)
            try:
                a, b = (self._value(wrt, side) for side in sides)
                if self.canonical.zero(a - b):
                    unsigned = self._unsigned(sides)
                    if not unsigned:
                        return result(PROVED)
                    reason = f"the two sides are equal, but {unsigned}"
                else:
                    reason = "the normal forms of the two sides differ"
            except NoValue:
                return result(UNKNOWN, detail=self._no_value(wrt, sides))
            except Undecided as err:
                reason = str(err)
            found = self.refuter.refute(sides, THOROUGH) or self.refuter.refute_harder(sides)
            if found is not None:
                return result(REFUTED, found)
            sizes = ", ".join(map(str, self.refuter.sizes_tried())) or "none"
            return result(UNKNOWN, detail=f"{reason}, and no counterexample was found (N = {sizes} tried)")
        except SYMPY_FAILURES as err:  # odd input SymPy cannot handle (x**x ...)
            return result(UNKNOWN, detail=f"SymPy could not decide it ({type(err).__name__}: {str(err)[:120]})")

    def _no_value(self, wrt: str, sides: tuple[Side, Side]) -> str:
        """Why an obligation has nothing to compare: a stage of the layer, or a side, divides by zero
        for every input (at N = 1, a 1/(N - 1) does)."""
        at = f"at N = {self.n}" if self.n is not None else "for every N"
        for stage in self.layer.graph.stages:
            if any(sp.sympify(v).has(sp.zoo, sp.nan) for v in _entries(self.routes.env[stage])):
                return (f"{at} the stage {self.layer.stage_text[stage]} divides by zero for every input, so the layer "
                        f"has no value there and nothing can be proved or refuted")
        empty = []
        for side in sides:
            try:
                self.canonical.zero(self._value(wrt, side))
            except NoValue:
                empty.append(SIDE_WORDS.get(side.label, f"the claim {side.label}"))
            except Undecided:
                pass
        who = " and ".join(empty) or "the difference of the two sides"
        where = f" at N = {self.n}" if self.n is not None else ""
        return f"{who} divide{'s' if len(empty) < 2 else ''} by zero for every input{where} (0/0): there is no value to compare"

    def _unsigned(self, sides: tuple[Side, Side]) -> str:
        """Why a formula equal to the truth is not proved (the rest of a sentence): it takes a root, log or
        fractional power of something the domain does not say is positive; or '' when it takes none.
        (SymPy cancels sqrt(a)**2 to a, so the formula's own equations are read, not its value.)"""
        for side in sides:
            if side.formula is None:
                continue
            env = self.routes.formula_env(side.formula)
            for eqn, condition, arg in domain.conditions(side.formula.eqns):
                if condition != "positive":
                    continue
                value = env[arg] if isinstance(arg, str) else self.routes.B.const(arg)
                at = self.routes.B.at_j(value) if getattr(arg, "kind", "") == ROW else value
                if not self.canonical.positive(at):
                    return _where_positive(eqn, at, self.canonical)
        return ""

    def _value(self, wrt: str, side: Side):
        key = side.key or (wrt, side.label)
        if key not in self._values:
            self._values[key] = side.value(self.routes)
        return self._values[key]


def _where_positive(eqn, at, canonical: Canonical) -> str:
    """Why a claim equal to the truth is not proved: it takes sqrt(X), log(X) or X**p (p not an integer)
    where the domain does not say that X > 0; said plainly when X is 0 or a negative number."""
    arg = eqn.args[0]
    shown = f"{arg} = {at}" if getattr(arg, "temp", True) is False else str(at)
    taken, noun = {"sqrt": (f"the square root of {shown}", "radicand"), "log": (f"the log of {shown}", "argument")}.get(
        eqn.prim.name, (f"a power of {shown} whose exponent is not an integer constant", "base"))
    sign = sp.sympify(at) if getattr(at, "is_number", False) or isinstance(at, (int, float)) else None
    try:
        zero = sign is None and canonical.zero(at)
    except (NoValue, Undecided):
        zero = False
    decides = f"symbn decides a claim only where each such {noun} is positive"
    if zero or sign == 0:
        return f"the formula takes {taken} for every input, and {decides}"
    if sign is not None and sign.is_negative:
        return f"the formula takes {taken}, and {decides}"
    return f"the formula takes {taken}, and the layer's domain does not say that this {noun} is positive"


def _canonical(layer: Layer, routes: Routes) -> Canonical:
    """Normal forms that know the layer: which atoms to eliminate first, the layer's own
    radicands (their signs are the domain's), and its sums of squares (facts)."""
    B, graph = routes.B, layer.graph
    ranks: dict[sp.Basic, int] = {}
    for name, i in layer.inputs.items():
        kind = ("constant+" if i.positive else "constant") if not i.differentiable else "row" if i.kind == ROW else "scalar"
        ranks.update({a: RANKS[kind] for a in B.atoms(name)})
    if not layer.loss:
        ranks.update({a: RANKS["row"] for a in B.atoms("dy")})
    sizes = [a for a in (B.Nk.parts if isinstance(B.Nk, PerShard) else [B.N]) if isinstance(a, sp.Symbol)]
    ranks.update({a: RANKS["size"] for a in sizes})

    def rank(atom) -> int | None:
        return RANKS["moment"] if atom in B.moments else ranks.get(atom)

    canonical = Canonical(rank, B.moments)
    for size in sizes:
        canonical.fact(size - 1)
    for eqn in graph.eqns:
        if eqn.prim.reduction and all(positive_body(sp.sympify(v)) for v in _entries(routes.env[eqn.args[0]])):
            for value in _entries(routes.env[eqn.out]):  # a per-shard sum: one fact per shard
                canonical.fact(value)
    # the layer's radicands name the roots first, with the domain's signs (a split problem: the
    # single-device layer's, then the split's, on the same realisation)
    envs = ([(layer.whole.graph, Routes(layer.whole, B).env)] if layer.whole is not None else []) + [(graph, routes.env)]
    for g, env in envs:
        for name in g.stages:
            value = env[name]
            at_j = [B.at_j(value)] if g.kinds[name] == ROW and not isinstance(value, Row) else []
            for v in [*_entries(value), *at_j]:
                try:
                    canonical.rewrite(v, trusted=True)
                except (Undecided, *SYMPY_FAILURES):
                    pass  # the obligations that meet it will say why
    return canonical


def _entries(value) -> list:
    if isinstance(value, PerShard):
        return [e for part in value.parts for e in _entries(part)]
    return list(value.items) if isinstance(value, Row) else [value]


# --- commands -------------------------------------------------------------------------------------


def route_side(layer: Layer, route: str, wrt: str) -> Side:
    formula = layer.closed_form.get(wrt) if route == "closed_form" else None
    return Side(route, lambda routes: routes.gradient(route, wrt), formula, (route, wrt), route == "direct",
                explain_difference if formula is not None else None)


def truth_side(wrt: str) -> Side:
    return Side("reverse", lambda routes: routes.adjoint(wrt), None, ("reverse", wrt))


def claim_side(label: str, formula: Formula, wrt: str) -> Side:
    # the formula itself is in the key: a shared prover checks many formulas under one label
    return Side(label, lambda routes: routes.formula(formula, wrt), formula, (label, wrt, formula),
                explain=explain_difference)


def explain_difference(prover: Prover, wrt: str, sides: tuple[Side, Side], result: Result) -> Result:
    """A refuted formula's claim − truth, in the layer's terms (:mod:`symbn.proof.difference`)."""
    from symbn.proof.difference import explain

    every = prover.moments
    truth, claim = (every._value(wrt, s) for s in sides)
    return replace(result, difference=explain(prover, wrt, sides, truth, claim, sides[1].formula))


def timed_out(limit: float | None, n: int | None = None) -> Callable:
    def make(key, seconds: float, building: bool) -> Result:
        wrt, route, against = key
        what = "building the problem" if building else "this obligation"
        detail = f"time limit of {limit:g} s reached on {what}"
        if n is not None:
            detail += (f" at N = {n}: explicit symbols at this N take longer than that; try a smaller --n, a longer "
                       f"--time-limit, or no --n (the proof for every N at once)")
        return Result(wrt, route, against, UNKNOWN, seconds=seconds, detail=detail)

    return make


def not_tried(limit: float | None, n: int) -> Callable:
    def make(key) -> Result:
        wrt, route, against = key
        detail = f"an obligation before them ran out of the time limit of {limit:g} s at N = {n}"
        return Result(wrt, route, against, UNKNOWN, detail=detail, tried=False)

    return make


EXPLAIN_LIMIT = 30.0  # seconds for each explanation of a refutation when the proof itself has no limit


def run(layer: Layer, n: int | None, obligations: list[tuple[str, tuple[Side, Side]]], time_limit: float | None,
        prover: Prover | None = None) -> list[Result]:
    """The obligations' results, each charged its own time, under the time limit; then, for the
    refuted ones whose claim can say what is wrong, the explanations, each in a time of its own
    (``EXPLAIN_LIMIT`` without a limit): an explanation that runs out of time, or into a C call
    that has to be killed, loses only itself, never a verdict."""
    check_size(n)
    jobs = [((wrt, s[0].label, s[1].label), lambda p, wrt=wrt, s=s: p.obligation(wrt, s)) for wrt, s in obligations]
    build = (lambda: prover.built()) if prover is not None else (lambda: Prover(layer, n).built())
    skipped = not_tried(time_limit, n) if n is not None else None  # at one N, the first out of time tells the rest
    done = limits.run(build, jobs, time_limit, timed_out(time_limit, n), skipped)
    results = [replace(result, seconds=seconds) for result, seconds in done]
    wanted = [k for k, (r, (_, s)) in enumerate(zip(results, obligations)) if r.verdict == REFUTED and s[1].explain]
    if not wanted:
        return results
    if prover is not None:
        _ = prover.moments.terms  # built once here, so that each forked worker inherits it
    explain = [((k,), lambda p, k=k: p.explained(obligations[k][0], obligations[k][1], results[k])) for k in wanted]

    def unexplained(key, seconds, building):
        (k,) = key
        why = f"symbn ran out of time ({seconds:.0f} s) explaining this refutation; the verdict stands"
        return replace(results[k], notes=(*results[k].notes, why))

    for k, (result, _) in zip(wanted, limits.run(build, explain, time_limit or EXPLAIN_LIMIT, unexplained)):
        results[k] = replace(result, seconds=results[k].seconds)
    return results


def prove(layer: Layer, n: int | None = None, time_limit: float | None = 60.0, wrt: tuple[str, ...] | None = None) -> Proof:
    """Every route against every other for each differentiable input."""
    obligations = []
    for name in wrt or layer.differentiable:
        routes = [r for r in ROUTES if r != "closed_form" or name in layer.closed_form]
        obligations += [(name, (route_side(layer, a, name), route_side(layer, b, name))) for a, b in combinations(routes, 2)]
    proof = Proof(layer.name, n)
    proof.results = run(layer, n, obligations, time_limit)
    return proof


def check_formula(
    layer: Layer,
    wrt: str,
    formula: Formula,
    label: str = "formula",
    n: int | None = None,
    time_limit: float | None = 60.0,
    prover: Prover | None = None,
) -> Result:
    """A formula for ∂f/∂wrt (an input, or a stage: its adjoint) against reverse mode."""
    return run(layer, n, [(wrt, (truth_side(wrt), claim_side(label, formula, wrt)))], time_limit, prover)[0]


__all__ = ["EXIT", "MAX_N", "PROVED", "REFUTED", "UNKNOWN", "Proof", "Prover", "Result", "TooLarge", "check_formula", "prove", "run"]
