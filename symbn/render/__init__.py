"""Rendering: the derivation as a LaTeX or Markdown document, the computation graph as DOT.

- :func:`symbn.render.latex.document` (``fmt="tex"`` or ``"md"``): definitions, forward
  mode, reverse mode step by step, the proof, closed forms, claims; every equation is an
  engine's value, checked before it is printed.
- :func:`symbn.render.graph.dot` / :func:`symbn.render.graph.render`: forward edges black,
  backward (adjoint) edges red; SVG/PNG/PDF through Graphviz's ``dot``.
"""

from symbn.render.algebra import RenderError
from symbn.render.dot import GraphvizMissing, dot, render
from symbn.render.latex import document, layer_markdown, proof_latex, write

__all__ = ["GraphvizMissing", "RenderError", "document", "dot", "layer_markdown", "proof_latex", "render", "write"]
