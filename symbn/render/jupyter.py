"""How symbn's objects display in Jupyter.

The core (a :class:`~symbn.lang.derivation.Layer`, a :class:`~symbn.proof.prover.Proof`)
never imports the renderer, so their rich displays are attached here, by
:func:`install`, which ``import symbn`` calls.  The renderer itself loads only when
something is displayed.
"""

from __future__ import annotations


def layer_markdown(layer) -> str:
    from symbn.render.latex import layer_markdown as markdown

    return markdown(layer)


def proof_latex(proof) -> str:
    from symbn.render.latex import proof_latex as latex

    return latex(proof)


def proof_markdown(proof) -> str:
    head = "| wrt | route | against | verdict | seconds |\n|---|---|---|---|---|\n"
    body = "".join(f"| {r.wrt} | {r.route} | {r.against} | **{r.verdict}** | {r.seconds:.3f} |\n" for r in proof.results)
    return f"**{proof.layer}**, {'every N' if proof.n is None else f'N = {proof.n}'}: {proof.verdict}\n\n" + head + body


def report_markdown(report) -> str:
    """A check's verdicts, and for a refuted one where and how it goes wrong."""
    lines = [f"**{report.layer}**, {'every N' if report.n is None else f'N = {report.n}'}", "",
             "| claim | wrt | verdict | first wrong line | claim − truth |", "|---|---|---|---|---|"]
    for c in report.items:
        r = c.result
        first = f"`{r.first_wrong}`" if r.first_wrong else ""
        diff = f"`{r.difference.text}`" + (f": {r.difference.summary}" if r.difference.summary else "") if r.difference else ""
        lines.append(f"| {c.id} | {r.wrt} | **{r.verdict}** | {first} | {diff} |")
    return "\n".join(lines) + "\n"


def install() -> None:
    """Attach the displays to the core's classes (IPython calls ``_repr_<mime>_``)."""
    from symbn.lang.derivation import Layer
    from symbn.proof.prover import Proof
    from symbn.proof.report import Report

    Layer._repr_markdown_ = layer_markdown
    Proof._repr_latex_ = proof_latex
    Proof._repr_markdown_ = proof_markdown
    Report._repr_markdown_ = report_markdown


__all__ = ["install", "layer_markdown", "proof_latex", "proof_markdown", "report_markdown"]
