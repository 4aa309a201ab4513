"""Claims: formulas somebody published, each given a verdict against reverse mode.

A claim names what it differentiates (``wrt``: an input, or a stage, whose
reverse-mode adjoint it is compared with: ∂f/∂μ, ∂f/∂σ² as Ioffe & Szegedy and
seed 001 write them) and what its author meant (``expect``: correct or wrong).
A claim may carry its LaTeX as the source wrote it; that is read by
:mod:`symbn.lang.latex` and checked too, so a transcription error shows.
"""

from __future__ import annotations

import re

from symbn.ir.primitives import ROW
from symbn.lang.derivation import Formula, Layer, SpecError, check_kind
from symbn.lang.expr import ExprError
from symbn.lang.latex import read_latex
from symbn.proof.prover import check_formula, claim_side, run, truth_side
from symbn.proof.report import Checked, Report


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
    """Every claim of the file (and its LaTeX, where it has one) against reverse mode."""
    checks, obligations = [], []
    for claim in layer.claims:
        forms = [(claim.id, claim.id, claim.formula)]
        if claim.latex:
            latex = from_latex(layer, claim.latex, f"claims.{claim.id}.latex")
            forms.append((f"{claim.id} (LaTeX)", f"{claim.id}.latex", latex))
        for shown, label, formula in forms:
            checks.append((shown, claim))
            obligations.append((claim.wrt, (truth_side(claim.wrt), claim_side(label, formula, claim.wrt))))
    report = Report(layer.name, n)
    results = run(layer, n, obligations, time_limit) if obligations else []
    report.items = [Checked(shown, result, claim.expect, claim.note) for (shown, claim), result in zip(checks, results)]
    if layer.code_claims:
        from symbn.proof.code import check_code_claims

        report.items += check_code_claims(layer, list(layer.read_code_claims()), n, time_limit)
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
