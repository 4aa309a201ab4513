"""Tests for symbn.render.graph: DOT golden text, the seeds' backward labels, drawing with Graphviz."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest

import symbn

graph = importlib.import_module("symbn.render.dot")
from symbn.render.dot import GraphvizMissing, backward, dot, render

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
  rankdir=LR; nodesep=0.4; ranksep=0.7;
  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];
  edge [fontname="Helvetica", fontsize=9];
  "x" [label="x", shape=ellipse];
  "mu" [label="1: mu = mean(x)"];
  "y" [label="2: y = x - mu"];
  "f" [label="f", shape=doublecircle];
  "x" -> "mu" [label="mean"];
  "x" -> "y" [label="-"];
  "mu" -> "y" [label="-"];
  "y" -> "f";
  "f" -> "y" [label="dy", color="#c0392b", fontcolor="#c0392b", constraint=false];
  "y" -> "x" [label="dx += dy", color="#c0392b", fontcolor="#c0392b", constraint=false];
  "y" -> "mu" [label="dmu = -sum(dy)", color="#c0392b", fontcolor="#c0392b", constraint=false];
  "mu" -> "x" [label="dx += dmu/N", color="#c0392b", fontcolor="#c0392b", constraint=false];
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
    assert '"eps" -> "sqrtvar" [label="+ sqrt", style=dashed];' in text
    assert '"gamma" -> "y" [label="* +"];' in text
    assert text.count("constraint=false") == 13


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
