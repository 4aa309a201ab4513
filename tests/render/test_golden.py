r"""Golden documents: every file in derivations/ gives, byte for byte, the .tex and .md in goldens/.

A document is reproducible (no timings, the file by its name, not its path), so it can be
compared whole.  After a change to the documents that is meant: ``python tools/goldens.py``,
then read ``git diff tests/render/goldens`` and commit the goldens with the change.

Also here: each claim is displayed as its source wrote it (the LaTeX token for token; without
LaTeX, the formula typeset from its tree, numbers as spelled), before what symbn made of it.
"""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest

import symbn
from symbn.render.content import build
from symbn.render.latex import FORMATS, document, written

from ..files import FILES

GOLDENS = Path(__file__).resolve().parent / "goldens"
REGENERATE = "python tools/goldens.py"


@pytest.fixture(scope="module", params=FILES, ids=[p.stem for p in FILES])
def case(request):
    """A derivation file, its layer, and its document in both formats from one build."""
    path = request.param
    layer = symbn.load(path)
    doc = build(layer)
    return path, layer, {fmt: written(doc, fmt) for fmt in FORMATS}


@pytest.mark.parametrize("fmt", FORMATS)
def test_document_is_the_golden_one(case, fmt):
    path, _, texts = case
    golden = GOLDENS / f"{path.stem}.{fmt}"
    assert golden.exists(), f"no golden document for {path.name}: run {REGENERATE} and commit {golden.name}"
    want, got = golden.read_text(encoding="utf-8"), texts[fmt]
    if got != want:
        diff = "".join(list(difflib.unified_diff(want.splitlines(True), got.splitlines(True), "golden", "now"))[:60])
        pytest.fail(f"{path.name}: the {fmt} document differs from {golden.name} (if meant: {REGENERATE}):\n{diff}")


def test_every_golden_has_its_derivation_file():
    stems = {p.stem for p in FILES}
    stale = sorted(g.name for g in GOLDENS.iterdir() if g.suffix.lstrip(".") in FORMATS and g.stem not in stems)
    assert not stale, f"goldens without a derivation file: {stale}; delete them"


def test_the_document_names_the_file_not_its_path(tmp_path):
    """Two copies of a file in different folders give the same document (and no folder in it)."""
    deep = tmp_path / ("a_folder_with_a_long_name_" * 3) / "nested"
    deep.mkdir(parents=True)
    copy = deep / "rmsnorm.toml"
    copy.write_text((FILES[0].parent / "rmsnorm.toml").read_text(encoding="utf-8"), encoding="utf-8")
    tex = document(symbn.load(copy))
    assert tex == (GOLDENS / "rmsnorm.tex").read_text(encoding="utf-8")
    assert "a_folder" not in tex and str(tmp_path) not in tex


def test_timings_only_when_asked():
    layer = symbn.load(FILES[0].parent / "rmsnorm.toml")
    assert not re.search(r"\d\.\d{3} s", document(layer))
    assert re.search(r"\d\.\d{3} s", document(layer, timings=True))


# --- claims as written ----------------------------------------------------------------------------------


def _as_written(text: str) -> list[str]:
    """The displays marked 'as written' (LaTeX or Markdown), joined into one line each, layout
    taken away: the line breaks and their indents, the label, \\biggl for a split \\left."""
    shown = []
    for block in re.findall(r"\\begin\{align(?:\*|ed)\}\n(.*?)\n\\end\{align(?:\*|ed)\}", text, re.DOTALL):
        if r"\text{as written}" not in block:
            continue
        block = block.replace(r"\tag*{$\text{as written}$}", "").replace(r"&& \text{as written}", "")
        block = re.sub(r"\\\\\*?\n &\\quad (\\quad )*", " ", block)
        block = block.replace(r"\biggl", r"\left").replace(r"\biggr", r"\right")
        shown.append(block)
    return shown


def _same_text(a: str) -> str:
    return re.sub(r"\s+", "", a.replace("{}", "").replace("&", ""))


def test_each_claim_with_latex_is_displayed_as_the_source_wrote_it(case):
    _, layer, texts = case
    with_latex = [c for c in layer.claims if c.latex]
    if not with_latex:
        pytest.skip(f"{layer.name} has no claim with LaTeX")
    for fmt in FORMATS:
        shown = [_same_text(s) for s in _as_written(texts[fmt])]
        assert len(shown) == len([c for c in layer.claims if c.order == 1 and not c.shards]), fmt
        for claim in with_latex:
            assert _same_text(claim.latex) in shown, (fmt, claim.id)


def test_a_claim_without_latex_is_typeset_from_its_formula_without_simplifying():
    layer = symbn.load(FILES[0].parent / "batchnorm.toml")
    tex = written(build(layer, sections=("claims",)), "tex")
    shown = " ".join(_as_written(tex))
    # seed 001's chain rule keeps its second term, which is 0 by Σ(x_i − μ) = 0 (issue 15 saw it dropped)
    assert r"- \frac{2 \frac{\partial f}{\partial v} \sum_{i=1}^{N} \left(x_{i} - \mu\right)}{N}" in shown
    # seed 003's staged formula keeps its 0.5, its (v + ε)^(-1/2) and its divisions by N as written
    assert r"0.5 \left(v + \epsilon\right)^{-\frac{1}{2}}" in shown and shown.count(r"\big/ N") == 3
    # and what symbn makes of it is shown separately, marked as read, with the identity it used
    assert r"\tag*{$\text{read}, \text{by } \textstyle\sum_{i} \left(x_{i} - \mu\right) = 0$}" in tex
