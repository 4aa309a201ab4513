r"""The derivation as a standalone LaTeX document or as Markdown with ``$$`` math.

>>> from symbn.render.latex import document
>>> tex = document(symbn.load("derivations/batchnorm.toml"))          # doctest: +SKIP

The content comes from :mod:`.content` (the engines' values, each checked); this module
only lays it out.  Equations are ``align*`` rows (``aligned`` in Markdown, which MathJax
and KaTeX both render); an expression wider than the line is broken at the + and - of a
sum by :meth:`.printer.Latex.lines`, so nothing runs off the page.  ``breqn`` is not used.
"""

from __future__ import annotations

import re
from pathlib import Path

import sympy as sp

from symbn.lang.derivation import Layer
from symbn.proof.prover import Proof
from symbn.render.blocks import Document, Eq, Equations, Heading, Table, Text
from symbn.render.content import build
from symbn.render.printer import width

FORMATS = ("tex", "md")
LINE = 68.0  # one align* line in units of printer.width: at most 7pt each (a test measures it), 17 cm = 483pt
MD_LINE = LINE  # notebooks and blogs are about as wide as the page

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage{amsmath,amssymb}
\usepackage[a4paper,margin=2cm]{geometry}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\sloppy
\setlength{\parskip}{0.6ex}
"""


def document(layer: Layer, fmt: str = "tex", n: int | None = None) -> str:
    """The derivation of ``layer`` as LaTeX (``fmt="tex"``, a standalone document for pdflatex)
    or Markdown (``fmt="md"``).  ``n``: prove and check claims at slice size n instead of every N."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; the formats are {', '.join(FORMATS)}")
    doc = build(layer, n)
    return _Tex(doc).write() if fmt == "tex" else _Markdown(doc).write()


def write(layer: Layer, path: str | Path, fmt: str | None = None, n: int | None = None) -> Path:
    """Write the document to ``path``; the format is ``fmt``, else .md -> Markdown, anything else -> LaTeX."""
    path = Path(path)
    fmt = fmt or ("md" if path.suffix.lower() in (".md", ".markdown") else "tex")
    path.write_text(document(layer, fmt, n), encoding="utf-8")
    return path


def layer_markdown(layer: Layer) -> str:
    """A loaded layer for Jupyter: its stages and closed forms, as Markdown math."""
    return _Markdown(build(layer, sections=("layer", "closed_form"))).write()


def proof_latex(proof: Proof) -> str:
    """A proof's verdicts as one display-math array (Jupyter's ``_repr_latex_``)."""
    size = r"\text{every } N" if proof.n is None else rf"N = {proof.n}"
    rows = [r"\text{wrt} & \text{route} & \text{against} & \text{verdict} \\ \hline"]
    for r in proof.results:
        route, against = (_mathjax_text(x) for x in (r.route, r.against))
        rows.append(
            rf"\texttt{{{_mathjax_text(r.wrt)}}} & \text{{{route}}} & \text{{{against}}} & \textbf{{{r.verdict}}} \\"
        )
    head = rf"\text{{{_mathjax_text(proof.layer)}}},\ {size}:\ \textbf{{{proof.verdict}}}"
    return "$$" + head + r"\\ \begin{array}{llll}" + "\n".join(rows) + r"\end{array}$$"


# --- text ---------------------------------------------------------------------------------

_TEX_SPECIAL = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\~{}",
    "^": r"\^{}",
}
_UNICODE = {
    "<": r"$<$",
    ">": r"$>$",
    "≠": r"$\neq$",
    "→": r"$\to$",
    "−": "-",
    "μ": r"$\mu$",
    "σ": r"$\sigma$",
    "γ": r"$\gamma$",
    "β": r"$\beta$",
    "ε": r"$\epsilon$",
    "δ": r"$\delta$",
    "∂": r"$\partial$",
    "Σ": r"$\Sigma$",
    "²": r"$^2$",
}


def tex_escape(s: str) -> str:
    """Plain text for LaTeX's text mode (OT1: < and > would print as other glyphs)."""
    out = "".join(_TEX_SPECIAL.get(c, c) for c in s.replace("->", "→"))
    out = "".join(_UNICODE.get(c, c) for c in out)
    return out.encode("ascii", "replace").decode("ascii")


def _mathjax_text(s: str) -> str:
    """Text for \\text{} in MathJax, which reads no macros there: no _ { } \\ at all."""
    return "".join(" " if c == "_" else c for c in s if c not in "{}\\$&%#^~")


class _Writer:
    budget = LINE

    def __init__(self, doc: Document):
        self.doc = doc
        self.printers = {False: doc.algebra.latex(), True: doc.algebra.latex(vector=True)}

    def write(self) -> str:
        out = [self.head()]
        for block in self.doc.blocks:
            if isinstance(block, Heading):
                out.append(self.heading(block))
            elif isinstance(block, Text):
                out.append(self.para(block))
            elif isinstance(block, Equations):
                out.append(self.equations(block))
            elif isinstance(block, Table):
                out.append(self.table(block))
        out.append(self.tail())
        return "\n\n".join(x for x in out if x) + "\n"

    def rows(self, block: Equations) -> list[str]:
        """Each Eq as aligned lines ``lhs &= ... \\\\ &\\quad ...``.  align* sets the widest lhs,
        the widest right side and the widest label side by side, so the budget of a right side is
        the line less the widest lhs and label of the block."""
        lhs = max(width(eq.lhs) for eq in block.rows)
        labels = max(max(width(eq.label), width(eq.note), width(f"{eq.label}, {eq.note}")) for eq in block.rows)
        budget = max(self.budget - lhs - 3 - (labels + 4 if labels else 0), 30.0)
        lines: list[str] = []
        for eq in block.rows:
            lines.extend(self.row(eq, budget))
        return lines

    def row(self, eq: Eq, budget: float) -> list[str]:
        printer = self.printers[eq.vector]
        items = [printer.lines(x, budget) if isinstance(x, sp.Basic) else [x] for x in eq.rhs]
        rel = eq.rel if eq.rel == "=" else "{}" + eq.rel
        both = ", ".join(x for x in (eq.label, eq.note) if x)
        if not items:
            return [rf"{eq.lhs} &{_column(both)}"]
        one = " = ".join(" ".join(lines) for lines in items)
        if width(one) <= budget and all(len(lines) == 1 for lines in items):
            return [rf"{eq.lhs} &{rel} {one}{_column(both)}"]
        out = []
        for k, lines in enumerate(items):
            out.append((rf"{eq.lhs} &{rel} " if k == 0 else r" &= ") + lines[0])
            out.extend(r" &\quad " + line for line in lines[1:])
        if len(out) == 1:
            out[0] += _column(both)
        else:
            out[0] += _column(eq.label)
            out[-1] += _column(eq.note)
        return out


def _column(tex: str) -> str:
    return f" && {tex}" if tex else ""


class _Tex(_Writer):
    def head(self) -> str:
        title = tex_escape(self.doc.title)
        source = tex_escape(self.doc.source)
        return (
            PREAMBLE
            + rf"\title{{{title}}}"
            + "\n"
            + rf"\author{{derived and proved by symbn from \texttt{{{source}}}}}"
            + "\n"
            + r"\date{}"
            + "\n"
            + r"\begin{document}"
            + "\n"
            + r"\maketitle"
            + "\n"
            + "Every equation below is a value computed by symbn's engines and checked equal to it by exact algebra; "
            + "nothing is typed in by hand."
        )

    def tail(self) -> str:
        return r"\end{document}"

    def heading(self, h: Heading) -> str:
        cmd = r"\section" if h.level == 1 else r"\subsection*"
        return f"{cmd}{{{self.inline(h.text)}}}"

    def para(self, t: Text) -> str:
        return self.inline(t)

    def inline(self, t: Text) -> str:
        out = []
        for kind, s in t.parts:
            if kind == "m":
                out.append(f"${s}$")
            elif kind == "c":
                out.append(rf"\texttt{{{tex_escape(s)}}}")
            else:
                s = tex_escape(s)
                out.append(re.sub(r"\*\*(.+?)\*\*", r"\\textbf{\1}", s))
        return "".join(out)

    def equations(self, block: Equations) -> str:
        return r"\begin{align*}" + "\n" + " \\\\\n".join(self.rows(block)) + "\n" + r"\end{align*}"

    def table(self, t: Table) -> str:
        cols = "l" * len(t.header)
        head = " & ".join(rf"\textbf{{{tex_escape(h)}}}" for h in t.header) + r" \\ \hline"
        body = [" & ".join(self.inline(c) for c in row) + r" \\" for row in t.rows]
        return "\n".join(
            [r"\begin{center}", rf"\begin{{tabular}}{{{cols}}}", head, *body, r"\end{tabular}", r"\end{center}"]
        )


class _Markdown(_Writer):
    budget = MD_LINE

    def head(self) -> str:
        return (
            f"# {self.doc.title}\n\n*Derived and proved by symbn from `{self.doc.source}`: every equation is a value "
            "computed by its engines and checked equal to it by exact algebra.*"
        )

    def tail(self) -> str:
        return ""

    def heading(self, h: Heading) -> str:
        return "#" * (h.level + 1) + " " + self.inline(h.text)

    def para(self, t: Text) -> str:
        return self.inline(t)

    def inline(self, t: Text) -> str:
        return "".join(f"${s}$" if k == "m" else f"`{s}`" if k == "c" else s for k, s in t.parts)

    def equations(self, block: Equations) -> str:
        return "$$\n\\begin{aligned}\n" + " \\\\\n".join(self.rows(block)) + "\n\\end{aligned}\n$$"

    def table(self, t: Table) -> str:
        head = "| " + " | ".join(t.header) + " |\n|" + "---|" * len(t.header)
        body = ["| " + " | ".join(self.inline(c) for c in row) + " |" for row in t.rows]
        return "\n".join([head, *body])


__all__ = ["FORMATS", "document", "layer_markdown", "proof_latex", "tex_escape", "write"]
