r"""How symbn's objects display in Jupyter, and the renderer behind ``layer.document()``.

The core (a :class:`~symbn.lang.derivation.Layer`, a :class:`~symbn.proof.report.Proof`)
never imports the renderer.  :func:`install`, which ``import symbn`` calls, attaches the
display methods to their classes and fills the core's hook for ``Layer.document``
(:data:`symbn.lang.derivation.RENDERERS`).  The renderer itself loads only when
something is displayed.

What a notebook shows (JupyterLab and nbconvert prefer ``text/markdown`` to
``text/latex``, and both typeset the ``$$`` math of Markdown):

- a layer: a compact summary, its stages, its closed forms and the verdict for every N,
  with the whole derivation one call away, ``layer.document()``;
- a proof: its verdicts as one display-math array (``_repr_markdown_`` with a heading,
  ``_repr_latex_`` the bare math for front ends that take only LaTeX);
- ``layer.document()``: the whole derivation, as Markdown with ``$$`` math.
"""

from __future__ import annotations

from pathlib import Path


class Rendered:
    """A document as text that displays itself: Markdown as rendered math, LaTeX as source."""

    def __init__(self, text: str, fmt: str, name: str):
        self.text, self.fmt, self.name = text, fmt, name

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<the {self.name} derivation as {self.fmt}, {len(self.text)} characters: str() or .write(path)>"

    def _repr_markdown_(self) -> str:
        return self.text if self.fmt == "md" else f"```latex\n{self.text}```\n"

    def write(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(self.text, encoding="utf-8")
        return path


def document(layer, fmt: str = "md", n: int | None = None) -> Rendered:
    """``layer.document()``: the whole derivation."""
    from symbn.render.latex import document as text

    return Rendered(text(layer, fmt, n), fmt, layer.name)


def layer_markdown(layer) -> str:
    """A layer in a notebook: its title and file, the stages, the closed forms, the verdict for every N."""
    from symbn.proof.prover import prove
    from symbn.render.latex import layer_summary

    proof = prove(layer)
    agree = sum(r.verdict == "proved" for r in proof.results)
    verdict = f"for every $N$: **{proof.verdict}** ({agree} of {len(proof.results)} pairs of routes proved equal)"
    return layer_summary(layer, verdict)


def proof_latex(proof) -> str:
    from symbn.render.latex import proof_latex as latex

    return latex(proof)


def proof_markdown(proof) -> str:
    """A proof in a notebook: a line in words, then the verdicts as math (not a Markdown table)."""
    size = "every $N$" if proof.n is None else f"$N = {proof.n}$"
    return f"**{proof.layer}**, {size}: **{proof.verdict}**\n\n{proof_latex(proof)}\n"


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
    """Attach the displays to the core's classes (IPython calls ``_repr_<mime>_``) and fill the
    core's renderer hook."""
    from symbn.lang.derivation import RENDERERS, Layer
    from symbn.proof.prover import Proof
    from symbn.proof.report import Report

    Layer._repr_markdown_ = layer_markdown
    Proof._repr_latex_ = proof_latex
    Proof._repr_markdown_ = proof_markdown
    Report._repr_markdown_ = report_markdown
    RENDERERS["document"] = document


__all__ = ["Rendered", "document", "install", "layer_markdown", "proof_latex", "proof_markdown", "report_markdown"]
