"""The computation graph of a layer as Graphviz DOT, like the seeds' circuit figures.

One node per input and per stage (labelled with the stage as written, ``mu = mean(x)``),
plus the loss ``f``.  Forward edges are black and labelled with the operation that
consumes the argument; backward edges are red, drawn against the flow
(``constraint=false``, so they do not disturb the layout) and labelled with the adjoint
the stage sends, in the file's own syntax (``dmu += -sum(dxmu)``): the reverse-mode
VJP rules applied to a symbolic incoming adjoint, as in the seeds' staged backward code.

DOT text is produced here; SVG, PNG and PDF need Graphviz's ``dot`` program.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from symbn.ir.primitives import CONSTANT
from symbn.lang.derivation import Layer
from symbn.render import steps
from symbn.render.algebra import Algebra

FORMATS = ("dot", "svg", "png", "pdf")
INSTALL_HINT = (
    "Graphviz's 'dot' program is needed to draw SVG/PNG/PDF; install it with "
    "'sudo apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' (macOS) or from "
    "https://graphviz.org/download/, or write DOT text instead (-o graph.dot)"
)


class GraphvizMissing(RuntimeError):
    """``dot`` is not on PATH."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


def dot(layer: Layer) -> str:
    """The layer's computation graph as DOT text: forward edges black, backward edges red."""
    A = Algebra(layer, composite=False)
    g = layer.graph
    lines = [
        f"digraph {_q(layer.name)} {{",
        "  rankdir=LR; nodesep=0.4; ranksep=0.7;",
        '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=9];',
    ]
    for name in g.inputs:
        style = ", style=dashed" if g.kinds[name] == CONSTANT else ""
        lines.append(f"  {_q(name)} [label={_q(name)}, shape=ellipse{style}];")
    for k, s in enumerate(g.stages, 1):
        lines.append(f"  {_q(s)} [label={_q(f'{k}: {layer.stage_text[s]}')}];")
    lines.append('  "f" [label="f", shape=doublecircle];')
    for s in g.stages:
        for a in _args(layer, s):
            lines.append(
                f"  {_q(a)} -> {_q(s)} [label={_q(_op(layer, s, a))}{', style=dashed' if g.kinds[a] == CONSTANT else ''}];"
            )
    lines.append(f'  {_q(g.output)} -> "f";')
    red = 'color="#c0392b", fontcolor="#c0392b", constraint=false'
    lines.append(f'  "f" -> {_q(g.output)} [label="dy", {red}];')
    for s, a, label in backward(layer, A):
        lines.append(f"  {_q(s)} -> {_q(a)} [label={_q(label)}, {red}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def backward(layer: Layer, A: Algebra | None = None) -> list[tuple[str, str, str]]:
    """(stage, argument, "d<arg> += <adjoint>") for every backward edge, last stage first."""
    A = A or Algebra(layer, composite=False)
    g, printer = layer.graph, A.plain_printer()
    users = steps.users(g)
    edges = []
    for s in reversed(g.stages):
        for a, (value, _) in steps.sent(A, s).items():
            rel = "+=" if len(users[a]) > 1 else "="
            edges.append((s, a, f"d{a} {rel} {printer.doprint(value)}"))
    return edges


def render(layer: Layer, path: str | Path) -> Path:
    """Write the graph to ``path``: .dot is DOT text, .svg/.png/.pdf are drawn by Graphviz's dot.
    Raises :class:`GraphvizMissing` (with how to install it) when dot is needed and absent."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower()
    if fmt not in FORMATS:
        raise ValueError(f"{path}: unknown graph format '.{fmt}'; use one of {', '.join('.' + f for f in FORMATS)}")
    text = dot(layer)
    if fmt == "dot":
        path.write_text(text, encoding="utf-8")
        return path
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing()
    done = subprocess.run(
        [exe, f"-T{fmt}", "-o", str(path)], input=text.encode(), capture_output=True, timeout=60, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"dot failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}")
    return path


def _args(layer: Layer, stage: str) -> list[str]:
    """Every variable a stage reads, constants included (they are drawn, dashed)."""
    seen: list[str] = []
    for eqn in layer.graph.stage_eqns(stage):
        for a in eqn.args:
            if isinstance(a, str) and not a.temp and a != "N" and a not in seen:
                seen.append(a)
    return seen


def _op(layer: Layer, stage: str, arg: str) -> str:
    """The operations from the one that reads ``arg`` to the stage's result (``+ sqrt``)."""
    eqns = layer.graph.stage_eqns(stage)
    start = next(k for k, e in enumerate(eqns) if arg in e.args)
    ops, current = [eqns[start].prim.symbol], eqns[start].out
    for e in eqns[start + 1 :]:
        if current in e.args:
            ops.append(e.prim.symbol)
            current = e.out
    return " ".join(ops)


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = ["FORMATS", "INSTALL_HINT", "GraphvizMissing", "backward", "dot", "render"]
