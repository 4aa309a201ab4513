r"""The derivation as a standalone LaTeX document or as Markdown with ``$$`` math.

>>> from symbn.render.latex import document
>>> tex = document(symbn.load("derivations/batchnorm.toml"))          # doctest: +SKIP

The content comes from :mod:`.content` (the engines' values, each checked); this module
only lays it out.  Equations are ``align*`` rows (``aligned`` in Markdown, which MathJax
and KaTeX both render); an expression wider than the line is broken at the + and - of a
sum by :meth:`.printer.Latex.lines` (a claim as written by :meth:`.source.Breakable.lines`),
so nothing runs off the page.  ``breqn`` is not used.

Page layout (LaTeX): a row's label is a ``\tag*`` at the right margin, which amsmath moves
below the row when the row is wide; the lines of one equation, and every row of a short
block, are joined by ``\\*`` (no page break there); a heading, or a sentence that
introduces a display, asks for the room its display starts with (``\needspace``, defined
in the preamble as the needspace package does it), so neither is left alone at the foot
of a page.
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
from symbn.render.source import Breakable

FORMATS = ("tex", "md")
LINE = 68.0  # one align* line in units of printer.width: at most 7pt each (a test measures it), 17 cm = 483pt
MD_LINE = LINE  # notebooks and blogs are about as wide as the page
TAG_ROOM = 12.0  # room kept for a short \tag* beside a row (a longer one goes below it)
SHORT_BLOCK = 6  # a block of at most this many lines is never split over two pages
ROW_LINES = 2.5  # the height of a display row, in lines of text (fractions, sums)

PREAMBLE = r"""\documentclass[11pt]{article}
\usepackage{amsmath,amssymb}
\usepackage[a4paper,margin=2cm]{geometry}
\allowdisplaybreaks
\setlength{\parindent}{0pt}
\sloppy
\setlength{\parskip}{0.6ex}
\makeatletter % \needspace{h}: a page break here unless h is left on the page (as needspace.sty)
\newcommand{\needspace}[1]{\par\begingroup\setlength{\dimen@}{#1}\vskip\z@\@plus\dimen@\penalty-100
  \vskip\z@\@plus-\dimen@\vskip\dimen@\penalty9999\vskip-\dimen@\vskip\z@skip\endgroup}
\makeatother
"""


def document(layer: Layer, fmt: str = "tex", n: int | None = None, timings: bool = False) -> str:
    """The derivation of ``layer`` as LaTeX (``fmt="tex"``, a standalone document for pdflatex)
    or Markdown (``fmt="md"``).  ``n``: prove and check claims at slice size n instead of every N;
    ``timings``: each proof's time in the verdicts (the text then differs from run to run)."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}; the formats are {', '.join(FORMATS)}")
    return written(build(layer, n, timings=timings), fmt)


def written(doc: Document, fmt: str) -> str:
    """A built document as text in ``fmt`` (one build can be written in both formats)."""
    return _Tex(doc).write() if fmt == "tex" else _Markdown(doc).write()


def write(
    layer: Layer, path: str | Path, fmt: str | None = None, n: int | None = None, timings: bool = False
) -> Path:
    """Write the document to ``path``; the format is ``fmt``, else .md -> Markdown, anything else -> LaTeX."""
    path = Path(path)
    fmt = fmt or ("md" if path.suffix.lower() in (".md", ".markdown") else "tex")
    path.write_text(document(layer, fmt, n, timings), encoding="utf-8")
    return path


def layer_summary(layer: Layer, verdict: str) -> str:
    """A loaded layer for Jupyter, in Markdown: its title and file, its stages and its closed forms
    as math, ``verdict`` (words), and where the whole derivation is."""
    doc = build(layer, sections=("layer", "closed_form"))
    stages, closed = [b for b in doc.blocks if isinstance(b, Equations)][:2]
    md = _Markdown(doc)
    return "\n\n".join(
        [
            f"**{doc.title}** (`{doc.source}`), {len(layer.graph.stages)} stages; verdict {verdict}.",
            md.equations(stages),
            "Closed forms:",
            md.equations(closed),
            "The whole derivation, step by step: `layer.document()`.",
        ]
    ) + "\n"


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
    table = r"\begin{array}{llll}" + "\n".join(rows) + r"\end{array}"
    return "$$\\begin{array}{l}" + head + r" \\[1ex] " + table + r"\end{array}$$"


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
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_UNICODE = {
    "“": "``",
    "”": "''",
    "‘": "`",
    "’": "'",
    "…": r"\dots{}",
    "×": r"$\times$",
    "·": r"$\cdot$",
    "≈": r"$\approx$",
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
    """Plain text for LaTeX's text mode (OT1: < and > would print as other glyphs); straight
    quotes become opening and closing ones ('holy' is `holy', not two closing quotes)."""
    s = re.sub(r"(^|(?<=[\s(\[]))'(?=\S)", "‘", s.replace("->", "→"))
    s = re.sub(r'(^|(?<=[\s(\[]))"(?=\S)', "“", s).replace('"', "”")
    out = "".join(_TEX_SPECIAL.get(c, c) for c in s)
    out = "".join(_UNICODE.get(c, c) for c in out)
    return out.encode("ascii", "replace").decode("ascii")


def file_name(name: str) -> str:
    """A file name in typewriter type that may break after _ - . / and within long runs."""
    out, run = "", 0
    for c in name:
        out += tex_escape(c)
        run = 0 if c in "_-./" else run + 1
        if c in "_-./" or run >= 16:
            out, run = out + r"\allowbreak{}", 0
    return rf"\texttt{{{out}}}"


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
        blocks = self.doc.blocks
        for k, block in enumerate(blocks):
            if isinstance(block, Heading):
                out.append(self.keep(blocks[k:]) + self.heading(block))
            elif isinstance(block, Text):  # after a heading, the heading's \needspace holds (none between them)
                keep = "" if k and isinstance(blocks[k - 1], Heading) else self.keep(blocks[k:])
                out.append(keep + self.para(block))
            elif isinstance(block, Equations):
                out.append(self.equations(block))
            elif isinstance(block, Table):
                out.append(self.table(block))
        out.append(self.tail())
        return "\n\n".join(x for x in out if x) + "\n"

    def keep(self, blocks: list) -> str:
        """What a heading or a sentence asks for to stay with what follows it (LaTeX only)."""
        return ""

    def label_room(self, block: Equations) -> float:
        """The width a block's labels take from its right sides: the widest, in a column."""
        widest = max(max(width(eq.label), width(eq.note), width(f"{eq.label}, {eq.note}")) for eq in block.rows)
        return widest + 4 if widest else 0.0

    def groups(self, block: Equations) -> list[list[str]]:
        """Each Eq as aligned lines ``lhs &= ... \\\\ &\\quad ...``.  align* sets the widest lhs
        and the widest right side side by side, so the budget of a right side is the line less
        the widest lhs of the block and the room of its labels."""
        lhs = max(width(eq.lhs) for eq in block.rows)
        budget = max(self.budget - lhs - 3 - self.label_room(block), 30.0)
        return [self.row(eq, budget) for eq in block.rows]

    def row(self, eq: Eq, budget: float) -> list[str]:
        printer = self.printers[eq.vector]
        items = [
            printer.lines(x, budget) if isinstance(x, sp.Basic) else x.lines(budget) if isinstance(x, Breakable) else [x]
            for x in eq.rhs
        ]
        rel = eq.rel if eq.rel in ("=", "") else "{}" + eq.rel
        both = ", ".join(x for x in (eq.label, eq.note) if x)
        if not items:
            return [rf"{eq.lhs} &{self.column(both)}"]
        one = " = ".join(" ".join(lines) for lines in items)
        if width(one) <= budget and all(len(lines) == 1 for lines in items):
            return [rf"{eq.lhs} &{rel} {one}{self.column(both)}"]
        out: list[str] = []
        used = budget + 1  # the width of the last line; no item may join the first line's lhs twice
        for k, lines in enumerate(items):
            if k and len(lines) == 1 and used + 3 + width(lines[0]) <= budget:
                out[-1] += " = " + lines[0]  # short steps share a line: = a = b
                used += 3 + width(lines[0])
                continue
            out.append((rf"{eq.lhs} &{rel} " if k == 0 else r" &= ") + lines[0])
            out.extend(r" &\quad " + line for line in lines[1:])
            used = width(lines[-1]) if len(lines) == 1 else budget + 1
        if len(out) == 1:
            out[0] += self.column(both)
        else:
            out[0] += self.column(eq.label)
            out[-1] += self.column(eq.note)
        return out

    def column(self, tex: str) -> str:
        return _column(tex)


def _column(tex: str) -> str:
    return f" && {tex}" if tex else ""


class _Tex(_Writer):
    def head(self) -> str:
        title = tex_escape(self.doc.title)
        return (
            PREAMBLE
            + rf"\title{{{title}}}"
            + "\n"
            + rf"\author{{\parbox{{0.9\textwidth}}{{\centering derived and proved by symbn from {file_name(self.doc.source)}}}}}"
            + "\n"
            + r"\date{}"
            + "\n"
            + r"\begin{document}"
            + "\n"
            + r"\maketitle"
            + "\n"
            + "Every equation below is a value computed by symbn's engines and checked equal to it by exact algebra; "
            + "nothing is typed in by hand. Claims are also shown as their sources write them, marked so."
        )

    def tail(self) -> str:
        return r"\end{document}"

    def keep(self, blocks: list) -> str:
        """\\needspace for a heading or sentence and the start of the display after it."""
        lines = 0.0
        for k, block in enumerate(blocks):
            if isinstance(block, Heading):
                if k and not isinstance(blocks[0], Heading):
                    return ""  # a sentence does not pull the next section's heading along
                lines += 3
            elif isinstance(block, Text):
                lines += 1 + len(self.inline(block)) // 95
            elif isinstance(block, Equations):
                return rf"\needspace{{{lines + ROW_LINES * min(len(block.rows), 3):g}\baselineskip}}" + "\n"
            elif isinstance(block, Table):
                return rf"\needspace{{{lines + 1.2 * min(len(block.rows) + 1, 5):g}\baselineskip}}" + "\n"
            else:
                break
        return ""

    def label_room(self, block: Equations) -> float:
        return TAG_ROOM  # labels are tags at the margin; a long one moves below its row

    def column(self, tex: str) -> str:
        return rf" \tag*{{${tex}$}}" if tex else ""

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
        """align*: the lines of one equation always together, a short block never split, a long
        one not after its first equation nor before its last."""
        groups = self.groups(block)
        short = sum(map(len, groups)) <= SHORT_BLOCK
        rows = []
        for k, group in enumerate(groups):
            for m, line in enumerate(group):
                last = k == len(groups) - 1 and m == len(group) - 1
                together = short or m < len(group) - 1 or k == 0 or k == len(groups) - 2
                rows.append(line + ("" if last else " \\\\*" if together else " \\\\"))
        return r"\begin{align*}" + "\n" + "\n".join(rows) + "\n" + r"\end{align*}"

    def table(self, t: Table) -> str:
        cols = "l" * len(t.header)
        head = " & ".join(rf"\textbf{{{tex_escape(h)}}}" for h in t.header) + r" \\ \hline"
        body = [" & ".join(self.inline(c) for c in row) + r" \\" for row in t.rows]
        stretch = r"\renewcommand{\arraystretch}{1.5}" if any(r"\frac" in row for row in body) else ""
        return "\n".join(
            [
                r"\begin{center}" + stretch,
                rf"\begin{{tabular}}{{{cols}}}",
                head,
                *body,
                r"\end{tabular}",
                r"\end{center}",
            ]
        )


class _Markdown(_Writer):
    budget = MD_LINE

    def head(self) -> str:
        return (
            f"# {self.doc.title}\n\n*Derived and proved by symbn from `{self.doc.source}`: every equation is a value "
            "computed by its engines and checked equal to it by exact algebra; claims are also shown as their "
            "sources write them, marked so.*"
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
        rows = [line for group in self.groups(block) for line in group]
        return "$$\n\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}\n$$"

    def table(self, t: Table) -> str:
        head = "| " + " | ".join(t.header) + " |\n|" + "---|" * len(t.header)
        body = ["| " + " | ".join(self.inline(c) for c in row) + " |" for row in t.rows]
        return "\n".join([head, *body])


__all__ = ["FORMATS", "document", "file_name", "layer_summary", "proof_latex", "tex_escape", "write", "written"]
