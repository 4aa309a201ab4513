r"""Jupyter: a layer shows a compact summary, a proof its verdicts as math, ``layer.document()`` the whole
derivation; and a notebook run by ``jupyter nbconvert --execute`` holds rendered math, no plain repr.

nbconvert and JupyterLab prefer ``text/markdown`` to ``text/latex`` (issue 15: a proof came out as a
Markdown table), so each object's Markdown carries its math in ``$$`` blocks, which both typeset.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys

import pytest

import symbn
from symbn.lang import layer as layer_module
from symbn.render.jupyter import Rendered
from symbn.render.latex import document

from ..files import FILES, ROOT

RMSNORM = ROOT / "derivations" / "rmsnorm.toml"


@pytest.fixture(scope="module")
def layer():
    return symbn.load(RMSNORM)


def test_a_layer_shows_a_compact_summary(layer):
    md = layer._repr_markdown_()
    assert md.startswith("**Root-mean-square normalization over one sample's features** (`rmsnorm.toml`), 6 stages; "
                         "verdict for every $N$: **proved** (12 of 12 pairs of routes proved equal).")
    assert md.count("\\begin{aligned}") == 2  # the stages, then the closed forms
    assert r"y_{i} &= \gamma_{i} \hat{x}_{i} && \text{6: }\texttt{y = gamma*xhat}" in md
    assert r"\frac{\partial f}{\partial \gamma_{j}} &= \hat{x}_{j} \frac{\partial f}{\partial y_{j}}" in md
    assert md.rstrip().endswith("The whole derivation, step by step: `layer.document()`.")
    assert "Reverse mode" not in md and len(md) < len(document(layer, "md")) / 4


def test_the_whole_document_is_one_call_away(layer):
    doc = layer.document()
    assert isinstance(doc, Rendered) and str(doc) == document(layer, "md")
    assert doc._repr_markdown_() == str(doc)
    tex = layer.document("tex")
    assert str(tex).startswith(r"\documentclass") and tex._repr_markdown_().startswith("```latex\n")


def test_the_core_asks_for_its_renderer_through_a_hook(layer, monkeypatch):
    monkeypatch.setattr(layer_module, "RENDERERS", {})
    with pytest.raises(RuntimeError, match="no renderer is installed: import symbn"):
        layer.document()


def test_a_proof_shows_its_verdicts_as_math_not_a_table(layer):
    proof = symbn.prove(layer)
    md, latex = proof._repr_markdown_(), proof._repr_latex_()
    assert md.startswith("**rmsnorm**, every $N$: **proved**\n\n$$") and "|---|" not in md
    assert latex.startswith(r"$$\begin{array}{l}\text{rmsnorm},\ \text{every } N:\ \textbf{proved}") and latex.endswith("$$")
    assert latex in md and r"\begin{array}{llll}" in latex and "_" not in latex  # MathJax reads no _ in \text


# --- a notebook, executed by nbconvert --------------------------------------------------------------------

MISSING = [m for m in ("nbconvert", "nbformat", "nbclient", "ipykernel") if importlib.util.find_spec(m) is None]
CELLS = [
    f"import symbn\nlayer = symbn.load({str(RMSNORM)!r})\nlayer",
    "symbn.prove(layer)",
    "layer.document()",
]


@pytest.mark.skipif(bool(MISSING), reason=f"Jupyter is needed: pip install {' '.join(MISSING)} (the test extra has them)")
def test_a_notebook_executed_by_nbconvert_holds_rendered_math(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(c) for c in CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, tmp_path / "symbn.ipynb")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", "--execute", "symbn.ipynb"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    html = (tmp_path / "symbn.html").read_text(encoding="utf-8")
    outputs = re.findall(r'<div class="([^"]*jp-OutputArea-output[^"]*)"[^>]*data-mime-type="([^"]+)"', html)
    assert [mime for _, mime in outputs] == ["text/markdown"] * 3, outputs  # each object as Markdown with math
    assert all("jp-RenderedMarkdown" in cls for cls, _ in outputs)
    assert html.count("$$\n\\begin{aligned}") >= 3 and r"$$\begin{array}{l}\text{rmsnorm}" in html
    assert "mathjax" in html.lower()  # the page typesets the $$ blocks
    assert "&lt;symbn" not in html and "Proof(layer=" not in html and "Layer(path=" not in html  # no plain repr


def test_files_found():
    assert RMSNORM in FILES
