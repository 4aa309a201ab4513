"""The prover: every route against every other, exactly, with a verdict each.

Verdicts:

- ``proved``: the normal form of the difference is exactly 0 (general N: for every
  slice size N at once; with ``n``: for that size, every j);
- ``refuted``: with an exact :class:`~symbn.counterexample.Counterexample`;
- ``unknown``: the time limit ran out, or the normal forms differ but no
  counterexample was found (which would mean an identity the algebra cannot see).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from itertools import combinations
from typing import Any

import sympy as sp

from symbn.lang.derivation import Formula, Layer
from symbn.proof.canonical import Canonical
from symbn.proof.counterexample import Counterexample, search
from symbn.proof.routes import ROUTES, Routes, realisation

PROVED, REFUTED, UNKNOWN = "proved", "refuted", "unknown"
SYMPY_FAILURES = (TypeError, ValueError, ZeroDivisionError, ArithmeticError, NotImplementedError, RecursionError, sp.PolynomialError)
EXIT = {PROVED: 0, REFUTED: 1, UNKNOWN: 3}


@dataclass(frozen=True)
class Result:
    wrt: str
    route: str
    against: str
    verdict: str
    counterexample: Counterexample | None = None
    seconds: float = 0.0
    detail: str = ""  # why unknown

    def to_json(self) -> dict:
        return {
            "wrt": self.wrt,
            "route": self.route,
            "against": self.against,
            "verdict": self.verdict,
            "counterexample": self.counterexample.to_json() if self.counterexample else None,
            "seconds": round(self.seconds, 4),
        }


@dataclass
class Proof:
    """All results of one ``prove`` (or ``check``) run."""

    layer: str
    n: int | None
    results: list[Result] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        verdicts = {r.verdict for r in self.results}
        return REFUTED if REFUTED in verdicts else UNKNOWN if UNKNOWN in verdicts else PROVED

    @property
    def exit_code(self) -> int:
        return EXIT[self.verdict]

    @property
    def seconds(self) -> float:
        return sum(r.seconds for r in self.results)

    def to_json(self) -> dict:
        return {"layer": self.layer, "n": "all" if self.n is None else self.n, "results": [r.to_json() for r in self.results]}

    def table(self) -> str:
        rows = [("wrt", "route", "against", "verdict", "seconds")]
        rows += [(r.wrt, r.route, r.against, r.verdict, f"{r.seconds:.3f}") for r in self.results]
        widths = [max(len(row[k]) for row in rows) for k in range(5)]
        lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        for r in self.results:
            if r.counterexample is not None:
                lines.append(f"{r.wrt}: {r.route} vs {r.against} refuted at {r.counterexample}")
            elif r.detail:
                lines.append(f"{r.wrt}: {r.route} vs {r.against} unknown: {r.detail}")
        size = "every N" if self.n is None else f"N = {self.n}"
        summary = f"{self.layer} ({size}): {sum(r.verdict == PROVED for r in self.results)}/{len(self.results)} proved"
        return "\n".join([*lines, summary, f"verdict: {self.verdict}"])


class TimeLimit(Exception):
    pass


@contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Raise TimeLimit after ``seconds`` (main thread only; elsewhere no limit)."""
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise TimeLimit()

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


class Prover:
    """Shared state for one layer on one realisation: routes, normal forms, and the
    concrete routes that counterexamples are evaluated with."""

    def __init__(self, layer: Layer, n: int | None = None):
        self.layer, self.n = layer, n
        self.routes = Routes(layer, realisation(layer, n))
        B = self.routes.B
        constants = sorted(layer.constants, key=lambda c: not layer.inputs[c].positive)
        self.canonical = Canonical([B.input(c) for c in constants])
        for name in layer.graph.stages:  # the layer's own radicands name the roots first
            if layer.graph.kinds[name] != "row":
                self.canonical.rewrite(self.routes.env[name])
        self._concrete: dict[int, Routes] = {}

    def concrete(self, n: int) -> Routes:
        if self.n == n:
            return self.routes
        if n not in self._concrete:
            self._concrete[n] = Routes(self.layer, realisation(self.layer, n))
        return self._concrete[n]

    def form(self, value) -> sp.Expr:
        return self.canonical.form(value)

    def equal(self, a: sp.Expr, b: sp.Expr) -> bool:
        """Proved equal: the normal form of the difference is exactly 0."""
        return sp.cancel(sp.together(a - b)) == 0

    def compare(self, wrt: str, names: tuple[str, str], forms: Callable[[str], tuple], sides: tuple) -> Result:
        """One obligation: proved, or refuted by a counterexample, or unknown."""
        start = time.perf_counter()
        try:
            return self._compare(wrt, names, forms, sides, start)
        except SYMPY_FAILURES as err:  # odd input (log of a negative, x**x ...) SymPy cannot decide
            detail = f"SymPy could not decide it ({type(err).__name__}: {str(err)[:120]})"
            return Result(wrt, *names, UNKNOWN, seconds=time.perf_counter() - start, detail=detail)

    def _compare(self, wrt: str, names: tuple[str, str], forms, sides, start: float) -> Result:
        if self.equal(forms(names[0]), forms(names[1])):
            return Result(wrt, *names, PROVED, seconds=time.perf_counter() - start)
        sizes = (self.n,) if self.n is not None else (3, 2, 4, 5, 1, 6)
        found = search(self.layer, sides, self.concrete, sizes=sizes)
        verdict = REFUTED if found else UNKNOWN
        detail = "" if found else "the normal forms differ but no counterexample was found"
        return Result(wrt, *names, verdict, found, time.perf_counter() - start, detail)


def prove(layer: Layer, n: int | None = None, time_limit: float | None = 60.0, wrt: tuple[str, ...] | None = None) -> Proof:
    """Every route against every other for each differentiable input."""
    prover = Prover(layer, n)
    proof = Proof(layer.name, n)
    for name in wrt or layer.differentiable:
        routes = [r for r in ROUTES if r != "closed_form" or name in layer.closed_form]
        pairs = list(combinations(routes, 2))
        cache: dict[str, tuple] = {}

        def forms(route: str, name: str = name, cache: dict = cache) -> tuple:
            if route not in cache:
                cache[route] = prover.form(prover.routes.gradient(route, name))
            return cache[route]

        start = time.perf_counter()
        try:
            with deadline(time_limit):
                for pair in pairs:
                    sides = tuple(_route_side(r, name) for r in pair)
                    proof.results.append(prover.compare(name, pair, forms, sides))
                    start = time.perf_counter()
        except TimeLimit:
            done = {(r.route, r.against) for r in proof.results if r.wrt == name}
            for pair in pairs:
                if pair not in done:
                    elapsed = time.perf_counter() - start
                    proof.results.append(Result(name, *pair, UNKNOWN, seconds=elapsed, detail=f"time limit of {time_limit} s reached"))
                    start = time.perf_counter()
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
    prover = prover or Prover(layer, n)

    def truth(routes: Routes):
        return routes.adjoint(wrt)

    def claimed(routes: Routes):
        return routes.formula(formula, wrt)

    values = {"reverse": lambda: truth(prover.routes), label: lambda: claimed(prover.routes)}
    start = time.perf_counter()
    try:
        with deadline(time_limit):
            return prover.compare(wrt, ("reverse", label), lambda r: prover.form(values[r]()), (truth, claimed))
    except TimeLimit:
        return Result(wrt, "reverse", label, UNKNOWN, seconds=time.perf_counter() - start, detail=f"time limit of {time_limit} s reached")


def _route_side(route: str, wrt: str) -> Callable[[Routes], Any]:
    return lambda routes: routes.gradient(route, wrt)
