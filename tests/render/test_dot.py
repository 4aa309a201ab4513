"""Tests for symbn.render.graph: DOT golden text, the seeds' backward labels, drawing with Graphviz."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

import symbn

graph = importlib.import_module("symbn.render.dot")
from symbn.render.dot import GraphvizMissing, backward, dot, operation, render

ROOT = Path(__file__).resolve().parent.parent.parent
DERIVATIONS = sorted((ROOT / "derivations").glob("*.toml"))

TINY = r"""
[layer]
name = "tiny"
stages = ["mu = mean(x)", "y = x - mu"]
output = "y"

[inputs]
x = { kind = "row" }
"""

TINY_DOT = """\
digraph "tiny" {
  rankdir=TB; nodesep=0.35; ranksep=0.3; newrank=true;
  node [shape=box, style=rounded, fontname="Helvetica", fontsize=12, margin="0.12,0.04"];
  edge [arrowsize=0.7];
  "x" [label=<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1"><TR><TD ALIGN="LEFT">x</TD></TR><TR><TD ALIGN="LEFT"><FONT COLOR="#555555"><FONT POINT-SIZE="9">row</FONT></FONT></TD></TR></TABLE>>, shape=ellipse];
  "mu" [label=<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1"><TR><TD ALIGN="LEFT"><B>1 · mean over the slice</B></TD></TR><TR><TD ALIGN="LEFT">mu = mean(x)</TD></TR><TR><TD ALIGN="LEFT"><FONT COLOR="#c0392b"><I>← dx += dmu/N</I></FONT></TD></TR></TABLE>>];
  "y" [label=<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1"><TR><TD ALIGN="LEFT"><B>2 · −</B></TD></TR><TR><TD ALIGN="LEFT">y = x - mu</TD></TR><TR><TD ALIGN="LEFT"><FONT COLOR="#c0392b"><I>← dx += dy</I></FONT></TD></TR><TR><TD ALIGN="LEFT"><FONT COLOR="#c0392b"><I>← dmu = -sum(dy)</I></FONT></TD></TR></TABLE>>];
  "f" [label=<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1"><TR><TD ALIGN="LEFT"><B>f</B></TD></TR><TR><TD ALIGN="LEFT"><FONT COLOR="#c0392b"><I>← dy = ∂f/∂y, given</I></FONT></TD></TR></TABLE>>];
  "x" -> "mu";
  "x" -> "y";
  "mu" -> "y";
  "y" -> "f";
  "f" -> "y" [style=dashed, color="#c0392b", constraint=false];
  "y" -> "x" [style=dashed, color="#c0392b", constraint=false];
  "y" -> "mu" [style=dashed, color="#c0392b", constraint=false];
  "mu" -> "x" [style=dashed, color="#c0392b", constraint=false];
}
"""

needs_dot = pytest.mark.skipif(
    shutil.which("dot") is None, reason="Graphviz's dot is needed (apt-get install graphviz)"
)


@pytest.fixture(scope="module")
def tiny():
    return symbn.loads(TINY, "tiny.toml")


def test_tiny_dot_golden(tiny):
    assert dot(tiny) == TINY_DOT


def test_batchnorm_backward_edges_are_the_seeds_staged_backward():
    layer = symbn.load(ROOT / "derivations" / "batchnorm.toml")
    edges = {(s, a): label for s, a, label in backward(layer)}
    assert len(edges) == 12  # every argument of every stage, constants excepted
    assert edges["y", "gamma"] == "dgamma = sum(dy*xhat)"
    assert edges["y", "beta"] == "dbeta = sum(dy)"
    assert edges["y", "xhat"] == "dxhat = dy*gamma"
    assert edges["xhat", "ivar"] == "divar = sum(dxhat*xmu)"
    assert edges["xhat", "xmu"] == "dxmu += dxhat*ivar"
    assert edges["ivar", "sqrtvar"] == "dsqrtvar = -divar/sqrtvar**2"
    assert edges["sqrtvar", "var"] == "dvar = dsqrtvar*ivar/2"
    assert edges["var", "sq"] == "dsq = dvar/N"
    assert edges["sq", "xmu"] == "dxmu += 2*dsq*xmu"
    assert edges["xmu", "mu"] == "dmu = -sum(dxmu)"
    assert edges["mu", "x"] == "dx += dmu/N"
    text = dot(layer)
    assert '"eps" -> "sqrtvar" [style=dashed];' in text  # a constant's edge is dashed
    assert "<B>3 · square</B>" in text and "<B>5 · +, then √</B>" in text and "<B>6 · 1/·</B>" in text
    assert "<I>← dxmu += dxhat*ivar</I>" in text  # what flows back is written in the box it leaves
    assert '{rank=same; "var"; "eps";}' in text and '{rank=same; "xhat"; "gamma"; "beta";}' in text
    assert text.count("constraint=false") == 13


def test_operation_names_come_from_the_primitive_records():
    layer = symbn.load(ROOT / "derivations" / "batchnorm.toml")
    names = [operation(layer, s) for s in layer.graph.stages]
    assert names == ["mean over the slice", "−", "square", "mean over the slice", "+, then √", "1/·", "×",
                     "×, then +"]


@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.stem)
def test_no_edge_carries_a_label_and_backward_edges_are_dashed(path):
    """Labels on edges end up on other edges; what an edge carries is in the box it leaves.
    Backward edges are dashed, so forward and backward differ in greyscale too."""
    text = dot(symbn.load(path))
    edges = [line for line in text.splitlines() if " -> " in line]
    assert edges and not any("label" in line for line in edges)
    backward_edges = [line for line in edges if "constraint=false" in line]
    assert backward_edges and all("style=dashed" in line for line in backward_edges)


@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.stem)
def test_every_derivation_has_a_graph(path, tmp_path):
    layer = symbn.load(path)
    out = render(layer, tmp_path / "g.dot")
    text = out.read_text(encoding="utf-8")
    assert text.startswith(f'digraph "{layer.name}" {{') and text.rstrip().endswith("}")
    for stage in layer.graph.stages:
        assert f'"{stage}" [label=' in text


@needs_dot
@pytest.mark.parametrize("suffix, magic", [(".svg", b"<svg"), (".png", b"\x89PNG"), (".pdf", b"%PDF")])
def test_drawn_by_graphviz(tiny, tmp_path, suffix, magic):
    out = render(tiny, tmp_path / f"graph{suffix}")
    data = out.read_bytes()
    assert magic in data[:400] and len(data) > 500


def test_without_graphviz_a_clear_error(tiny, tmp_path, monkeypatch):
    monkeypatch.setattr(graph.shutil, "which", lambda name: None)
    with pytest.raises(GraphvizMissing, match="apt-get install graphviz"):
        render(tiny, tmp_path / "graph.svg")
    assert not (tmp_path / "graph.svg").exists()
    assert render(tiny, tmp_path / "graph.dot").exists()  # DOT text needs no Graphviz


def test_unknown_format(tiny, tmp_path):
    with pytest.raises(ValueError, match="unknown graph format '.jpeg'"):
        render(tiny, tmp_path / "graph.jpeg")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


@needs_dot
@pytest.mark.parametrize("path", DERIVATIONS, ids=lambda p: p.stem)
def test_the_picture_reads_at_screen_width(path, tmp_path):
    """Drawn at Graphviz's 96 dpi, the picture fits 1600 px and is no more than 3:1 either way
    (the left-to-right graph of issue 15 was 3153 x 369, 8.5:1, unreadable at screen width)."""
    width, height = _png_size(render(symbn.load(path), tmp_path / "g.png").read_bytes())
    assert width <= 1600 and height <= 1600, (width, height)
    assert max(width, height) / min(width, height) <= 3, (width, height)

