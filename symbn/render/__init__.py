"""Rendering: the derivation as a document, the computation graph as a picture.

- :mod:`symbn.render.latex`: the document (``document(layer, fmt="tex" | "md")``):
  definitions, forward mode, reverse mode step by step, the proof, closed forms,
  claims; every equation is an engine's value, checked before it is printed.
- :mod:`symbn.render.dot`: the graph as DOT, or SVG/PNG/PDF through Graphviz.
- :mod:`symbn.render.jupyter`: how layers and proofs display in a notebook.

Nothing is imported here, so that ``import symbn`` stays light.
"""
