r"""Tests for symbn.render (documents): golden text on a tiny layer, every shown value checked
against the engines (by exact algebra and, independently, by evaluation), the seed-000
argument in the BatchNorm document, and a pdflatex + pdftoppm compile of every derivation."""

from __future__ import annotations

import random
import re
import shutil
import struct
import subprocess
import zlib
from fractions import Fraction
from pathlib import Path

import pytest
import sympy as sp

import symbn
from symbn.realise.moments import DELTA
from symbn.realise.protocol import Point
from symbn.render.algebra import RenderError
from symbn.render.blocks import Equations
from symbn.render.content import build
from symbn.render.latex import document
from symbn.render.printer import width
from symbn.render.source import Breakable

ROOT = Path(__file__).resolve().parent.parent.parent
DERIVATIONS = sorted((ROOT / "derivations").glob("*.toml"))

TINY = r"""
[layer]
name = "tiny"
title = "Centring"
stages = ["mu = mean(x)", "y = x - mu"]
output = "y"

[inputs]
x = { kind = "row" }

[latex]
mu = "\\mu"

[closed_form]
x = "dy - mean(dy)"
"""


@pytest.fixture(scope="module")
def tiny():
    return symbn.loads(TINY, "tiny.toml")


@pytest.fixture(scope="module")
def batchnorm():
    return symbn.load(ROOT / "derivations" / "batchnorm.toml")


@pytest.fixture(scope="module")
def bn_tex(batchnorm):
    return document(batchnorm)


# --- golden text -----------------------------------------------------------------------------


def test_tiny_document_golden_fragments(tiny):
    tex = document(tiny)
    assert tex.startswith(r"\documentclass[11pt]{article}")
    assert tex.rstrip().endswith(r"\end{document}")
    for fragment in [
        r"\mu &= \frac{1}{N} \sum_{i=1}^{N} x_{i} \tag*{$\text{1: }\texttt{mu = mean(x)}$} \\*",
        r"y_{i} &= x_{i} - \mu \tag*{$\text{2: }\texttt{y = x - mu}$}",
        r"\frac{\partial \mu}{\partial x_{j}} &= \frac{1}{N} \\*",
        # one block per stage: the rule, its value, then its two cases, the left side written once
        (
            r"\frac{\partial y_{i}}{\partial x_{j}} &= \delta_{ij} - \frac{\partial \mu}{\partial x_{j}} = \delta_{ij}"
            r" - \frac{1}{N} \\*" "\n"
            r" &= \begin{cases} \displaystyle 1 - \frac{1}{N} & i = j \\[1ex] \displaystyle - \frac{1}{N} & i \neq j "
            r"\end{cases}"
        ),
        (
            r"\frac{\partial f}{\partial x_{j}} &= \sum_{i=1}^{N} \frac{\partial f}{\partial y_{i}} \frac{\partial y_{i}}{\partial x_{j}}"
            r" = \frac{\partial f}{\partial y_{j}} - \frac{1}{N} \sum_{i=1}^{N} \frac{\partial f}{\partial y_{i}}"
        ),
        r"\subsection*{Step 2: \texttt{y = x - mu}}",
        r"\frac{\partial y_{j}}{\partial x_{j}} &= 1, \qquad \frac{\partial y_{j}}{\partial \mu} = -1 \tag*{$\text{local}$} \\*",
        r"\frac{\partial f}{\partial x_{j}} &{}\mathrel{+}= \frac{\partial f}{\partial y_{j}} \tag*{$\text{sent}$} \\*",
        r"\frac{\partial f}{\partial \mu} &= - \sum_{i=1}^{N} \frac{\partial f}{\partial y_{i}}",
        (
            r"\frac{\partial f}{\partial x_{j}} &{}\mathrel{+}= \frac{1}{N} \frac{\partial f}{\partial \mu}"
            r" = - \frac{1}{N} \sum_{i=1}^{N} \frac{\partial f}{\partial y_{i}} \tag*{$\text{sent}$}"
        ),
        r"\subsection*{Step 0: arriving at the inputs}",
        r"\sum_{i=1}^{N} x_{i} &= N \mu \tag*{$\text{definition}$} \\*",
        r"\sum_{i=1}^{N} y_{i} &= 0 \tag*{$\text{centring}$}",
        r"$\partial f / \partial x_{j}$ & forward mode & reverse mode & proved \\",
        r"\frac{\partial f}{\partial X} &= \frac{\partial f}{\partial Y} - \operatorname{mean}\left(\frac{\partial f}{\partial Y}\right)",
        r"\author{\parbox{0.9\textwidth}{\centering derived and proved by symbn from \texttt{tiny.\allowbreak{}toml}}}",
    ]:
        assert fragment in tex, fragment


def test_tiny_markdown_golden_fragments(tiny):
    md = document(tiny, fmt="md")
    assert md.startswith("# Centring\n")
    assert "## Forward mode" in md and "### Step 2: `y = x - mu`" in md
    assert (
        "$$\n\\begin{aligned}\n\\mu &= \\frac{1}{N} \\sum_{i=1}^{N} x_{i} && \\text{1: }\\texttt{mu = mean(x)} \\\\\n"
        in md
    )
    assert "| $\\partial f / \\partial x_{j}$ | direct (SymPy diff) | forward mode | proved |" in md
    assert r"\documentclass" not in md and r"\begin{align*}" not in md and r"\tag*" not in md
    assert md.count("$$") % 2 == 0


def test_a_heading_or_a_sentence_keeps_its_display_with_it(tiny):
    """Issue 15: 'Step 6' split over a page break, 'Per element (...):' alone at a page's foot.
    A heading, and a sentence that introduces a display, ask for the room the display starts
    with; a short block is never split (\\\\* between its rows)."""
    tex = document(tiny)
    assert "\\needspace{10.5\\baselineskip}\n\\subsection*{Step 2: \\texttt{y = x - mu}}" in tex
    assert "\\needspace{6.5\\baselineskip}\n\\section{Closed forms}" in tex
    step2 = tex[tex.index(r"\subsection*{Step 2"):tex.index(r"\subsection*{Step 1")]
    assert step2.count("\\\\*") == 4 and "\\\\\n" not in step2
    heading = re.compile(r"\\(sub)?section\*?\{[^\n]*\}\n\n\\needspace")
    assert not heading.search(tex)  # nothing between a heading and its first paragraph


def test_formats_and_n(tiny):
    with pytest.raises(ValueError, match="unknown format 'html'"):
        document(tiny, fmt="html")
    assert "for $N = 3$: overall verdict \\textbf{proved}" in document(tiny, n=3)


# --- every shown value is the engine's value ----------------------------------------------------------


def _evaluate(A, value, data, n, i, j, delta):
    """A value at one data point: moment atoms summed over explicit lists, i-atoms at i."""
    sub = A.engine.B.substitution(Point(n, j, data))
    sub.update({atom: data[name][i] for name, atom in A.engine.B.i_atom.items()})
    sub[DELTA] = delta
    return sp.sympify(value).xreplace(sub)


@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.stem)
def test_every_shown_value_is_the_engines_by_evaluation(path):
    """Independent of Canonical: evaluate display and engine values at random exact points."""
    layer = symbn.load(path)
    doc = build(layer)
    A = doc.algebra
    assert len(A.checked) > 30
    rng = random.Random(7)
    n, i, j = 3, 0, 1
    data = {name: [Fraction(rng.randint(-9, 9), rng.randint(1, 4)) for _ in range(n)] for name in A.engine.B.i_atom}
    data.update({name: Fraction(rng.randint(1, 9), rng.randint(1, 3)) for name in A.engine.B.scalar})
    for what, shown, engine in A.checked:
        for delta in (0, 1):
            ii = j if delta else i  # δ_ij = 1 means i = j
            a = _evaluate(A, A.to_engine(shown), data, n, ii, j, delta)
            b = _evaluate(A, engine, data, n, ii, j, delta)
            assert abs(sp.N(a - b, 40)) < 1e-25, (what, shown)


def test_a_wrong_value_is_refused(batchnorm):
    doc = build(batchnorm, sections=("layer",))
    A = doc.algebra
    mu = A.engine.env["mu"]
    assert A.check(A.atom("mu"), mu, "mu") == A.atom("mu")
    with pytest.raises(RenderError, match="not the engine's value"):
        A.check(2 * A.atom("mu"), mu, "mu")
    with pytest.raises(RenderError):  # off by a centring identity that does not hold for x itself
        A.check(sp.Integer(0), A.engine.B.sum(A.engine.env["x"]), "sum of x")


def test_every_displayed_expression_was_checked(batchnorm):
    """Every value is checked; the one display that is not a value is a claim as written."""
    doc = build(batchnorm)
    checked = {id(shown) for _, shown, _ in doc.algebra.checked}
    rows = [eq for block in doc.blocks if isinstance(block, Equations) for eq in block.rows]
    assert len(rows) > 60
    for eq in rows:
        for item in eq.rhs:
            if isinstance(item, Breakable):
                assert eq.label == r"\text{as written}", eq.lhs
                continue
            assert isinstance(item, str) or id(item) in checked, (eq.lhs, item)


def test_an_unchecked_expression_is_refused(tiny):
    from symbn.render.content import _Builder

    builder = _Builder(tiny, None)
    with pytest.raises(RenderError, match="without the engine's value"):
        builder.eq("x", builder.A.atom("x"))


# --- the BatchNorm document follows seed 000 ------------------------------------------------------------


def test_batchnorm_has_both_modes_and_all_eight_stages(batchnorm, bn_tex):
    stages = batchnorm.graph.stages
    assert len(stages) == 8
    forward = bn_tex[bn_tex.index(r"\section{Forward mode}") : bn_tex.index(r"\section{Reverse mode}")]
    reverse = bn_tex[bn_tex.index(r"\section{Reverse mode}") : bn_tex.index(r"\section{The proof}")]
    for name, lhs in [
        ("mu", r"\mu"),
        ("xmu", r"(x_{i} - \mu)"),
        ("sq", r"\mathrm{sq}_{i}"),  # named as the file does: ∂f/∂(x_j - mu)^2 reads as a second derivative
        ("var", "v"),
        ("sqrtvar", r"\sigma"),
        ("ivar", r"\sigma^{-1}"),
        ("xhat", r"\hat{x}_{i}"),
        ("y", "y_{i}"),
    ]:
        assert rf"\frac{{\partial {lhs}}}{{\partial x_{{j}}}} &=" in forward, name
    for k, name in enumerate(stages, 1):
        assert (
            rf"\subsection*{{Step {k}: \texttt{{{batchnorm.stage_text[name].replace('_', chr(92) + '_')}}}}}" in reverse
        )
    assert reverse.index("Step 8") < reverse.index("Step 1") < reverse.index("Step 0")


def test_batchnorm_follows_seed_000(bn_tex):
    # ∂v/∂x_j: the sum of (x_i - mu) appears, then vanishes by the centring identity
    assert (
        r"\frac{\partial v}{\partial x_{j}} &= \frac{1}{N} \sum_{i=1}^{N} \frac{\partial \mathrm{sq}_{i}}{\partial x_{j}}"
    ) in bn_tex
    assert (
        r"\frac{2}{N} \left(\left(x_{j} - \mu\right) - \frac{1}{N} \sum_{i=1}^{N} \left(x_{i} - \mu\right)\right)"
        in bn_tex
    )
    assert (
        r"= \frac{2}{N} \left(x_{j} - \mu\right) \tag*{$\text{by } \textstyle\sum_{i} \left(x_{i} - \mu\right) = 0$}"
        in bn_tex
    )
    # ∂x̂_i/∂x_j by the chain rule, with its i = j and i ≠ j cases
    assert (
        r"\frac{\partial \hat{x}_{i}}{\partial x_{j}} &= \left(x_{i} - \mu\right) \frac{\partial \sigma^{-1}}{\partial x_{j}}"
        in bn_tex
    )
    assert r"& i = j \\[1ex]" in bn_tex and r"& i \neq j \end{cases}" in bn_tex
    # the assembled gradient, seed 000's last line
    final = (
        r"\frac{\gamma}{\sigma} \left(\frac{\partial f}{\partial y_{j}} - \frac{x_{j} - \mu}{N \sigma^{2}} \sum_{i=1}^{N} "
        r"\left(x_{i} - \mu\right) \frac{\partial f}{\partial y_{i}} - \frac{1}{N} \sum_{i=1}^{N} \frac{\partial f}{\partial y_{i}}\right)"
    )
    assert bn_tex.count(final) >= 3  # forward, reverse (step 0), and the truth beside a refuted claim
    # the vectorised form of seed 000's ∂f/∂X
    assert (
        r"\frac{\partial f}{\partial X} &= \frac{\gamma}{\sigma} \left(\frac{\partial f}{\partial Y} - \hat{X}"
        in bn_tex
    )
    assert r"\epsilon &= \sigma^{2} - v" in bn_tex


def test_batchnorm_claims_have_verdicts(batchnorm, bn_tex):
    for claim in batchnorm.claims:
        if claim.order == 1 and not claim.shards:  # the others have sections of their own
            assert rf"\subsection*{{Claim \texttt{{{claim.id}}}}}" in bn_tex
    assert "Verdict: \\textbf{refuted}. The file expects the claim to be wrong: as expected." in bn_tex
    assert "Counterexample: at these values the two differ." in bn_tex
    assert r"the claim & $\frac{141}{4}$ \\" in bn_tex  # a table of exact values
    assert "\\textbf{Note.} The first term divides by $\\mu$" in bn_tex
    assert "Gradient Calculation For Batch Normalization" in bn_tex and "9997cf11" not in bn_tex  # by title
    assert "``Here comes the holy backpropagation''" in bn_tex  # opening and closing quotes
    assert r"\^{}" not in bn_tex  # no stray accent


# --- line breaking -----------------------------------------------------------------------------------


def test_width_counts_what_tex_draws():
    assert width("x") == 1
    assert width(r"\frac{\partial f}{\partial y_{i}}") < 6
    assert width(r"\sum_{i=1}^{N} x_{i}") < 5
    assert width(r"\left(a + b\right)") > width("(a + b)")
    assert width(r"\mathrm{xmu}_{i}") == pytest.approx(3.4, abs=0.1)


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex is needed to measure what TeX draws")
def test_width_bounds_what_tex_draws(bn_tex, tmp_path):
    """The line budget assumes at most 7pt per unit of width(): measure every row of the document."""
    rows = []
    for block in re.findall(r"\\begin\{align\*\}(.*?)\\end\{align\*\}", bn_tex, re.DOTALL):
        rows += [re.sub(r"\\tag\*\{.*\}$", "", r.rstrip("*").rstrip()).replace("&", "").strip()
                 for r in re.split(r"\\\\\*?\n", block)]
    rows = [r for r in dict.fromkeys(rows) if width(r) > 10 and "cases" not in r]
    boxes = [rf"\setbox0\hbox{{$\displaystyle {r}$}}\typeout{{W{k}:\the\wd0}}" for k, r in enumerate(rows)]
    (tmp_path / "w.tex").write_text(
        "\n".join(
            [r"\documentclass[11pt]{article}\usepackage{amsmath,amssymb}\begin{document}", *boxes, r"\end{document}"]
        ),
        encoding="utf-8",
    )
    subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "w.tex"], cwd=tmp_path, capture_output=True, timeout=120, check=False
    )
    measured = dict(re.findall(r"W(\d+):([\d.]+)pt", (tmp_path / "w.log").read_text(encoding="latin-1")))
    assert len(measured) == len(rows) > 40
    ratios = [float(measured[str(k)]) / width(r) for k, r in enumerate(rows)]
    assert max(ratios) < 7.0, max(ratios)  # 68 units (latex.LINE) x 7pt < 483pt, the text width


def test_long_sums_are_broken_within_the_budget(batchnorm):
    A = build(batchnorm, sections=("layer",)).algebra
    printer = A.latex()
    long = sp.Add(*(A.atom("dy", "j") * sp.Symbol(f"a{k}") ** k / (k + 1) for k in range(1, 16)))
    lines = printer.lines(long, 40)
    assert len(lines) > 2
    assert all(width(line) <= 40 + 8 for line in lines)
    assert all(line.startswith(("{}+", "{}-")) for line in lines[1:])
    product = sp.Symbol("gamma") / A.atom("sqrtvar") * long
    lines = printer.lines(product, 40)
    assert r"\biggl(" in lines[0] and r"\biggr)" in lines[-1]


# --- compile every derivation, look at the first page -----------------------------------------------------

TOOLS = ("pdflatex", "pdftoppm")


def _png_gray(path: Path) -> tuple[int, int, bytes]:
    """Decode an 8-bit grayscale or RGB PNG (pdftoppm writes either) with zlib only; one gray byte per pixel."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, w, h, bpp = 8, b"", 0, 0, 1
    while pos < len(data):
        (length,), kind = struct.unpack(">I", data[pos : pos + 4]), data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            w, h, depth, color, _, _, interlace = struct.unpack(">IIBBBBB", body[:13])
            assert depth == 8 and color in (0, 2) and interlace == 0, "expected 8-bit gray or RGB, not interlaced"
            bpp = 1 if color == 0 else 3
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride, gray = zlib.decompress(idat), w * bpp, bytearray()
    prev = bytearray(stride)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for x in range(stride):
            a, b, c = (line[x - bpp] if x >= bpp else 0), prev[x], (prev[x - bpp] if x >= bpp else 0)
            if f == 1:
                line[x] = (line[x] + a) & 255
            elif f == 2:
                line[x] = (line[x] + b) & 255
            elif f == 3:
                line[x] = (line[x] + (a + b) // 2) & 255
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[x] = (line[x] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        gray += bytes(min(line[x : x + bpp]) for x in range(0, stride, bpp))
        prev = line
    return w, h, bytes(gray)


@pytest.mark.skipif(
    any(shutil.which(t) is None for t in TOOLS),
    reason="pdflatex and pdftoppm are needed (apt-get install texlive-latex-base texlive-latex-recommended "
    "texlive-fonts-recommended poppler-utils)",
)
@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.stem)
def test_document_compiles_and_first_page_is_not_blank(path, tmp_path):
    """Loaded from a deep folder and a long file name, as a clone under a temporary folder is (issue 15:
    the path in the title ran 27-39 pt off the page there), no line runs off the page."""
    deep = tmp_path / ("a-clone-under-a-long-temporary-folder-name-" * 3) / "derivations"
    deep.mkdir(parents=True)
    copy = deep / f"{path.stem}_with_a_long_file_name_that_must_break_somewhere.toml"
    copy.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    tex = tmp_path / f"{path.stem}.tex"
    tex.write_text(document(symbn.load(copy)), encoding="utf-8")
    run = subprocess.run(
        ["pdflatex", "-interaction=nonstopmode", "-halt-on-error", tex.name],
        cwd=tmp_path,
        capture_output=True,
        timeout=180,
        check=False,
    )
    log = (tmp_path / f"{path.stem}.log").read_text(encoding="latin-1")
    assert run.returncode == 0, log[-3000:]
    overfull = [float(w) for w in re.findall(r"Overfull \\hbox \(([\d.]+)pt too wide\)", log)]
    assert all(w <= 1 for w in overfull), f"lines run off the page by {overfull} pt"
    subprocess.run(
        ["pdftoppm", "-gray", "-r", "50", "-png", "-f", "1", "-l", "1", f"{path.stem}.pdf", "page"],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        timeout=60,
    )
    png = next(tmp_path.glob("page*.png"))
    w, h, pixels = _png_gray(png)
    assert w > 300 and h > 400
    dark = sum(p < 128 for p in pixels) / len(pixels)
    assert 0.005 < dark < 0.5, f"first page is blank or black: {dark:.4f} dark"


def test_write_chooses_the_format_by_suffix(tiny, tmp_path):
    from symbn.render.latex import write

    assert write(tiny, tmp_path / "d.md").read_text(encoding="utf-8").startswith("# Centring")
    assert write(tiny, tmp_path / "d.tex").read_text(encoding="utf-8").startswith(r"\documentclass")
    assert write(tiny, tmp_path / "d.txt", fmt="md").read_text(encoding="utf-8").startswith("# Centring")


def test_a_counterexample_is_a_table_of_exact_values_with_decimals(tiny):
    """Irrational values read a + b·√d with a decimal beside them, in a table, not a list that wraps."""
    from symbn.proof.counterexample import Counterexample
    from symbn.render.blocks import Table
    from symbn.render.content import _Builder
    from symbn.render.latex import written

    r = sp.sqrt(362)
    found = Counterexample(3, 1, {"x": [sp.Rational(3, 2), -4, sp.Rational(7, 2)], "dy": [9, 7, 0]},
                           3 * (6 - r) ** 2 * (1448 - 1245 * r) / 76943824, sp.Rational(1, 2))
    builder = _Builder(tiny, None)
    builder.counterexample(found, "x", ("the true value (reverse mode)", "the claim"))
    table = builder.doc.blocks[-1]
    assert isinstance(table, Table)
    tex = written(builder.doc, "tex")
    for row in [
        r"slice size $N$ & $3$ \\",
        r"element $j$ & $2$ \\",
        r"$x_{1}, \dots, x_{3}$ & $\frac{3}{2}, -4, \frac{7}{2}$ \\",
        r"$\frac{\partial f}{\partial y_{1}}, \dots, \frac{\partial f}{\partial y_{3}}$ & $9, 7, 0$ \\",
        (r"the true value (reverse mode) & $\frac{12399}{53138} - \frac{769329 \sqrt{362}}{38471912} \approx "
        r"-0.147136$ \\"),
        r"the claim & $\frac{1}{2}$ \\",
    ]:
        assert row in tex, row


BATCHNORM = ROOT / "derivations" / "batchnorm.toml"


def test_the_claims_section_says_what_is_wrong_and_where():
    md = document(symbn.load(BATCHNORM), fmt="md")
    claims = md[md.index("# Claims"):]
    assert r"\text{claim} - \text{truth} &= - \frac{\gamma}{N} \frac{\partial f}{\partial y_{j}}" in claims  # seed-001-dx
    assert "`coefficient of dy: claim gamma/N, truth gamma*ivar`" in claims
    assert "### Code claim `unbiased-step-4-code`" in claims
    assert "First wrong line: `line 21 (dsq): expected -gamma*ivar**2/2*mean(dy*xhat)" in claims


def test_a_report_displays_in_jupyter():
    from symbn.proof.claims import check_one

    report = check_one(symbn.load(BATCHNORM), "x", formula="gamma*ivar*(dy - 2*mean(dy) - xhat*mean(dy*xhat))")
    md = report._repr_markdown_()
    assert "| formula | x | **refuted** |  | `-gamma*ivar*mean(dy)`: mean(dy): subtracted twice" in md
