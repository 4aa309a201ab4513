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
from symbn.lang.expr import Expr, ExprError, Name
from symbn.lang.latex.reader import read_sides
from symbn.lang.latex.symbols import normalise
from symbn.proof.prover import check_formula, claim_side, run, truth_side
from symbn.proof.report import Checked, Report
from symbn.proof.second import second_order
from symbn.proof.shards import shard_claims


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
    if "\\lVert" in tex:  # a norm (l2norm's ss is \lVert x \rVert^2): one symbol, spaces and all
        try:
            normalise(tex)
        except ExprError:
            return False
        return True
    return not any(ch in tex for ch in " +-()/")


def from_latex(layer: Layer, tex: str, key: str, order: int = 1) -> Formula:
    """A LaTeX formula read over the layer's names (a second-order one also over dy, dd<k>, d<name>); of an
    equation, the side it ends with (what a document shows)."""
    last = _read(layer, tex, key, order)[-1]
    assert not isinstance(last, ExprError)  # read_sides raises the last side's error
    return _formula(layer, last, key, tex, order)


def latex_sides(
    layer: Layer, tex: str, key: str, order: int = 1, wrt: str | None = None
) -> tuple[list[tuple[int, Formula]], list[int]]:
    """(position, formula) of each side of a LaTeX formula or equation (position 1 for a plain formula), and
    the positions of earlier sides in notation symbn does not read (a chain rule's ∂y/∂x): those are not checked.
    With ``wrt``, a side that is only the derivative claimed (the ∂f/∂γ of ∂f/∂γ = ...) is its label and is
    left out; every other side is a claim about that derivative, so a chain's every step is checked and a
    left-hand side naming another derivative is checked too (and refuted), not ignored."""
    sides = _read(layer, tex, key, order)
    unread = [k for k, e in enumerate(sides, 1) if isinstance(e, ExprError)]
    kept = [(k, e) for k, e in enumerate(sides, 1) if not isinstance(e, ExprError) and (wrt is None or not _names(e, "d" + wrt))]
    if not kept:
        raise SpecError(layer.path, key, f"{tex!r} only names the derivative d f/d {wrt}: write what it equals")
    return [(k, _formula(layer, e, key, tex, order)) for k, e in kept], unread


def _read(layer: Layer, tex: str, key: str, order: int) -> list[Expr | ExprError]:
    extra = layer.second_order_kinds() if order == 2 else {"dy": layer.output_kind, **layer.adjoint_kinds()}
    try:
        kinds = {**layer.graph.kinds, **extra}
        rows = {n for n, k in kinds.items() if k == ROW and not n.startswith("%")}
        rows |= {"d" + n for n in rows}
        return read_sides(tex, latex_symbols(layer), rows, latex_slices(layer, rows))
    except ExprError as err:
        raise SpecError(layer.path, key, f"{err} in {tex!r}") from None


def _formula(layer: Layer, e: Expr, key: str, tex: str, order: int) -> Formula:
    if order == 2:
        return layer.second_order_formula(e, key, tex)
    return layer.formula_from_expr(e, key, tex, adjoints=True)


def _names(e: Expr, name: str) -> bool:
    return isinstance(e, Name) and e.id == name


def _latex_forms(layer: Layer, tex: str, key: str, shown: str, order: int, wrt: str) -> list[tuple[str, str, Formula]]:
    """(shown, label, formula) per checked side: one side is shown as ``shown``, several with their position."""
    sides, unread = latex_sides(layer, tex, key, order, wrt)
    if len(sides) == 1 and not unread:
        return [(shown, key, sides[0][1])]
    out = []
    for k, formula in sides:
        words = [f"side {k}"] + ([f"{_plural(unread)} not read"] if unread else [])
        tail = "; ".join(words)
        out.append((f"{shown[:-1]}; {tail})" if shown.endswith(")") else f"{shown} ({tail})", f"{key}.{k}", formula))
    return out


def _plural(positions: list[int]) -> str:
    return ("side " if len(positions) == 1 else "sides ") + ", ".join(map(str, positions))


def check_claims(layer: Layer, n: int | None = None, time_limit: float | None = 60.0) -> Report:
    """Every claim of the file (and its LaTeX, where it has one): first-order claims against
    reverse mode, second-order ones against reverse over reverse of the backward pass."""
    report = Report(layer.name, n)
    for order in (1, 2):
        claims = [c for c in layer.claims if c.order == order and not c.shards]
        if not claims:
            continue
        checks, obligations = [], []
        for claim in claims:
            forms = [(claim.id, claim.id, claim.formula)]
            if claim.latex:
                forms += _latex_forms(layer, claim.latex, f"claims.{claim.id}.latex", f"{claim.id} (LaTeX)", order, claim.wrt)
            for shown, label, formula in forms:
                checks.append((shown, claim))
                obligations.append((claim.wrt, (truth_side(claim.wrt), claim_side(label, formula, claim.wrt))))
        problem = layer if order == 1 else second_order(layer)
        results = run(problem, n, obligations, time_limit)
        report.items += [Checked(shown, result, claim.expect, claim.note, claim.order) for (shown, claim), result in zip(checks, results)]
    if n is None:  # claims on a split across devices: two devices of any sizes
        report.items += [Checked(c.id, r, c.expect, c.note) for c, r in shard_claims(layer, 2, time_limit)]
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
        forms = _latex_forms(layer, tex, "--latex", "formula", 1, wrt)
    else:
        forms = [("formula", "formula", layer.formula(formula or "", "--formula", adjoints=True))]
    for _, _, parsed in forms:
        check_kind(layer.path, parsed, layer.graph.kinds[wrt], wrt)
    report = Report(layer.name, n)
    for shown, _, parsed in forms:
        report.items.append(Checked(shown, check_formula(layer, wrt, parsed, "formula", n, time_limit)))
    return report
