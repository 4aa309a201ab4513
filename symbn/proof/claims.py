"""Claims: formulas somebody published, each given a verdict against reverse mode.

A claim names what it differentiates (``wrt``: an input, or a stage, whose
reverse-mode adjoint it is compared with: ∂f/∂μ, ∂f/∂σ² as Ioffe & Szegedy and
seed 001 write them) and what its author meant (``expect``: correct or wrong).
A claim may carry its LaTeX as the source wrote it; that is read by
:mod:`symbn.lang.latex` and checked too, so a transcription error shows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from symbn.ir.primitives import ROW
from symbn.lang.derivation import Formula, Layer, SpecError, check_kind
from symbn.lang.expr import ExprError
from symbn.lang.latex import read_latex
from symbn.proof.prover import EXIT, PROVED, REFUTED, UNKNOWN, Prover, Result, check_formula

AGREES = {"correct": PROVED, "wrong": REFUTED}


@dataclass(frozen=True)
class Checked:
    id: str
    result: Result
    expect: str | None = None  # None for a one-off formula
    note: str = ""

    @property
    def agrees(self) -> bool | None:
        return None if self.expect is None else AGREES[self.expect] == self.result.verdict

    def to_json(self) -> dict:
        out = {"id": self.id, **self.result.to_json()}
        if self.expect is not None:
            out.update(expect=self.expect, agrees=self.agrees)
        return out


@dataclass
class Report:
    layer: str
    n: int | None
    items: list[Checked] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        verdicts = [c.result.verdict for c in self.items]
        if any(c.agrees is False and c.result.verdict != UNKNOWN for c in self.items):
            return 1
        if any(c.expect is None and v == REFUTED for c, v in zip(self.items, verdicts)):
            return 1
        return EXIT[UNKNOWN] if UNKNOWN in verdicts else 0

    def to_json(self) -> dict:
        return {"layer": self.layer, "n": "all" if self.n is None else self.n, "results": [c.to_json() for c in self.items]}

    def table(self) -> str:
        lines = []
        for c in self.items:
            r = c.result
            mark = "" if c.agrees is None else "  (as expected)" if c.agrees else f"  (EXPECTED {c.expect.upper()})"
            lines.append(f"{c.id}: d f/d {r.wrt}: {r.verdict}{mark}  [{r.seconds:.3f} s]")
            if r.counterexample is not None:
                lines.append(f"    counterexample: {r.counterexample}")
                lines.append("    (lhs: the true gradient by reverse mode; rhs: the claim)")
            if r.detail:
                lines.append(f"    {r.detail}")
            if c.note and c.agrees is not None:
                lines.append(f"    note: {c.note}")
        size = "every N" if self.n is None else f"N = {self.n}"
        if not self.items:
            return f"{self.layer} ({size}): no claims in this file; give one with --wrt NAME --formula EXPR"
        claims = [c for c in self.items if c.expect is not None]
        if claims:
            agree = sum(bool(c.agrees) for c in claims)
            lines.append(f"{self.layer} ({size}): {agree}/{len(claims)} verdicts as expected")
        else:
            lines.append(f"{self.layer} ({size}): " + ", ".join(c.result.verdict for c in self.items))
        return "\n".join(lines)


def latex_symbols(layer: Layer) -> dict[str, str]:
    """LaTeX symbol -> name: the file's latex names, N and the loss, then [notation]."""
    table = {tex: name for name, tex in layer.latex_names.items() if _is_symbol(tex)}
    table.update({"N": "N", "f": "f", "L": "f"})
    table.update(layer.notation)
    return table


def latex_slices(layer: Layer, rows: set[str]) -> list[str]:
    """[notation] keys that are one capital letter for a row, like seed 000's X = "x" and
    Y = "y": a capital is the whole row, so it is read at the free index, not indexed."""
    return [tex for tex, name in layer.notation.items() if re.fullmatch(r"\s*[A-Z]\s*", tex) and name in rows]


def _is_symbol(tex: str) -> bool:
    return not any(ch in tex for ch in " +-()/")


def from_latex(layer: Layer, tex: str, key: str) -> Formula:
    try:
        kinds = layer.graph.kinds
        rows = {n for n, k in kinds.items() if k == ROW and not n.startswith("%")}
        rows |= {"d" + n for n in rows} | ({"dy"} if layer.output_kind == ROW else set())
        expr = read_latex(tex, latex_symbols(layer), rows, latex_slices(layer, rows))
    except ExprError as err:
        raise SpecError(layer.path, key, f"{err} in {tex!r}") from None
    return layer.formula_from_expr(expr, key, tex, adjoints=True)


def check_claims(layer: Layer, n: int | None = None, time_limit: float | None = 60.0) -> Report:
    prover = Prover(layer, n)
    report = Report(layer.name, n)
    for claim in layer.claims:
        result = check_formula(layer, claim.wrt, claim.formula, claim.id, n, time_limit, prover)
        report.items.append(Checked(claim.id, result, claim.expect, claim.note))
        if claim.latex:
            formula = from_latex(layer, claim.latex, f"claims.{claim.id}.latex")
            result = check_formula(layer, claim.wrt, formula, f"{claim.id}.latex", n, time_limit, prover)
            report.items.append(Checked(f"{claim.id} (LaTeX)", result, claim.expect, claim.note))
    return report


def check_one(
    layer: Layer,
    wrt: str,
    formula: str | None = None,
    tex: str | None = None,
    n: int | None = None,
    time_limit: float | None = 60.0,
) -> Report:
    layer.check_wrt(wrt, "--wrt")
    if tex is not None:
        parsed = from_latex(layer, tex, "--latex")
    else:
        parsed = layer.formula(formula or "", "--formula", adjoints=True)
    check_kind(layer.path, parsed, layer.graph.kinds[wrt], wrt)
    result = check_formula(layer, wrt, parsed, "formula", n, time_limit)
    report = Report(layer.name, n)
    report.items.append(Checked("formula", result))
    return report
