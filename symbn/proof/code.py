"""Checking code: each gradient a backward pass returns, against reverse mode, and where it goes wrong.

A code claim (:mod:`symbn.lang.code`) gives one formula per returned value.  Each is
an obligation like any claim's: refuted on balls at domain points, or proved for
every N by the normal form.  A refuted one is explained: the first line whose value
is wrong (:mod:`.locate`), and claim − truth in the layer's terms (:mod:`.difference`).

Code can also be wrong before any value is compared: NumPy cannot run it (shapes that
do not broadcast, a reduction that lost ``keepdims``), or a returned gradient has the
wrong shape (a parameter one per slice summed over slices; a parameter shared by
slices not summed over them).  Those are refuted at once, at a point of the domain,
the code having no comparable value there.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import sympy as sp

from symbn.ir.graph import kind_of
from symbn.ir.primitives import ROW
from symbn.lang.code import CodeClaim, code_claim
from symbn.lang.python import layout
from symbn.lang.python.program import Returned
from symbn.proof.counterexample import Counterexample
from symbn.proof.difference import value_at_j
from symbn.proof.locate import locate
from symbn.proof.prover import Prover, explain_difference, run, truth_side
from symbn.proof.refute import Refuter, Side
from symbn.proof.report import REFUTED, Checked, FirstWrong, Report, Result
from symbn.proof.routes import Routes
from symbn.realise.numbers import EXACT, Numbers

NO_VALUE = "shape"  # the route of a result refuted because the code has no comparable value


def check_code(layer, code: Any, *, function: str | None = None, bind: dict | None = None,
               returns: list[str] | None = None, axis: int = 0, n: int | None = None,
               time_limit: float | None = 60.0) -> Report:
    """The gradients a backward pass returns, each against reverse mode.  ``code``: a
    function object (its file is read, it is never called), a path 'file.py:function', or
    source text.  Raises :class:`~symbn.lang.python.CodeError` on code symbn does not read."""
    claim = code_claim(layer, code, function=function, bind=bind, returns=returns, axis=axis, id="")
    claim = replace(claim, id=claim.program.function)
    report = Report(layer.name, n)
    report.items = check_code_claims(layer, [claim], n, time_limit, expected=False)
    return report


def check_code_claims(layer, claims: list[CodeClaim], n: int | None, time_limit: float | None,
                      expected: bool = True) -> list[Checked]:
    """Every returned gradient of every code claim: one checked item each, in order."""
    slots: list[tuple[CodeClaim, str, Result | None]] = []
    obligations = []
    point = None
    for claim in claims:
        for wrt in claim.returns:
            wrong = _unrunnable(claim, wrt)
            if wrong is not None:
                point = point or _point(layer, n)
                slots.append((claim, wrt, _refuted(layer, point, wrt, *wrong)))
                continue
            slots.append((claim, wrt, None))
            obligations.append((wrt, (truth_side(wrt), code_side(claim, wrt))))
    results = iter(run(layer, n, obligations, time_limit)) if obligations else iter(())
    items = []
    for claim, wrt, result in slots:
        result = result if result is not None else next(results)
        k = claim.returns.index(wrt)
        note_text = claim.program.notes[k] if k < len(claim.program.notes) else ""
        if note_text and not result.notes and result.route != NO_VALUE:
            result = replace(result, notes=(note_text,))
        expect = claim.expect.get(wrt, "correct")
        wrong = [w for w in claim.returns if claim.expect.get(w) == "wrong"]
        note = claim.note if (wrt in wrong or (not wrong and wrt == claim.returns[0])) else ""
        items.append(Checked(claim.id, result, expect if expected else None, note))
    return items


def code_side(claim: CodeClaim, wrt: str) -> Side:
    formula = claim.formulas[wrt]
    return Side(f"{claim.id}:{wrt}", lambda routes: value_at_j(routes, formula), formula, (claim.id, wrt, formula),
                explain=lambda prover, wrt, sides, result: explain_code(claim, prover, wrt, sides, result))


def explain_code(claim: CodeClaim, prover: Prover, wrt: str, sides, result: Result) -> Result:
    """A refuted gradient of code: where it goes wrong, then what is wrong."""
    atom = claim.formulas[wrt].result
    first, lines = locate(prover, claim.program, wrt, atom)
    result = replace(result, first_wrong=first, lines=lines)
    return explain_difference(prover, wrt, sides, result)


# --- code that has no comparable value ------------------------------------------------------


def _unrunnable(claim: CodeClaim, wrt: str) -> tuple[str, FirstWrong] | None:
    """Why NumPy gives no value to compare (a fault, or a gradient of the wrong shape), if so."""
    program = claim.program
    fault = program.fault
    if fault is not None:
        return (f"line {fault.line} raises: {fault.message}",
                FirstWrong(fault.blame_line, fault.blame_name, fault.expected, fault.got))
    r: Returned = program.returns[claim.returns.index(wrt)]
    want: layout.Layout = claim.layouts[wrt]
    name = r.name or f"the value returned for {wrt}"
    line = _assigned(program, r)
    if r.across and layout.OTHER in want.dims:
        summed, axis = r.across
        return ((f"line {summed} sums {name} over axis {axis}, across slices, but {wrt} has one value per slice "
                f"(shape {want.show()}): its gradient is not a sum over slices"),
                FirstWrong(summed, name, f"shape {want.show()} (no sum over axis {axis})", f"shape {r.layout.show()}"))
    if layout.OTHER in r.layout.dims and layout.OTHER not in want.dims and kind_of(r.atom) == ROW:
        axis = r.layout.dims.index(layout.OTHER) + (want.rank - r.layout.rank if want.rank > r.layout.rank else 0)
        return ((f"{name} has shape {r.layout.show()}, one value per slice, but {wrt} is shared by the slices "
                f"(shape {want.show()}): its gradient is the sum over axis {axis}"),
                FirstWrong(line, name, f"shape {want.show()} (summed over axis {axis})", f"shape {r.layout.show()}"))
    return None


def _assigned(program, r: Returned) -> int:
    """The line that last assigned the returned name (or the return itself)."""
    lines = [rec.line for rec in program.records if rec.name == r.name and rec.how != "return" and rec.final]
    return lines[-1] if lines else r.line


def _point(layer, n: int | None):
    """One point of the domain (the same for every gradient of one check)."""
    refuter = Refuter(layer, n)
    return refuter.point(n or 3) or refuter.point(n or 2), refuter.kinds


def _refuted(layer, found, wrt: str, why: str, first: FirstWrong) -> Result:
    """Refuted at a domain point where the true gradient has a value and the code none."""
    point, kinds = found
    counterexample = None
    if point is not None:
        exact = Routes(layer, Numbers(point, kinds, EXACT))
        lhs = sp.sympify(exact.adjoint(wrt))
        values = {k: [sp.Rational(x.numerator, x.denominator) for x in v] if isinstance(v, list)
                  else sp.Rational(v.numerator, v.denominator) for k, v in point.values.items()}
        counterexample = Counterexample(point.n, point.j, values, lhs, "no value", why)
    return Result(wrt, NO_VALUE, "code", REFUTED, counterexample, first_wrong=first)


__all__ = ["check_code", "check_code_claims", "code_side", "explain_code"]
