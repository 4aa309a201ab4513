"""The computation graph of a layer as Graphviz DOT, like the seeds' circuit figures.

Top to bottom, one box per stage: its number and operation as a reader says it
(``3 · square``, from the primitive records' labels), the stage as the file writes
it (``sq = xmu**2``), and, in italics after a ←, the adjoints the stage sends back
(``← dxmu += 2*dsq*xmu``): the reverse-mode VJP rules applied to a symbolic incoming
adjoint, as in the seeds' staged backward code.  Inputs are ellipses (a constant's
outline dashed), each constant or parameter beside the stage it feeds.  Forward edges
are solid and black; backward edges are dashed and red, so the two differ in greyscale
too.  No edge carries a label: what flows back along an edge is written in the box it
leaves, so no text lies on another edge.

DOT text is produced here; SVG, PNG and PDF need Graphviz's ``dot`` program.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Layer
from symbn.render import steps
from symbn.render.algebra import Algebra

FORMATS = ("dot", "svg", "png", "pdf")
INSTALL_HINT = (
    "Graphviz's 'dot' program is needed to draw SVG/PNG/PDF; install it with "
    "'sudo apt-get install graphviz' (Debian/Ubuntu), 'brew install graphviz' (macOS) or from "
    "https://graphviz.org/download/, or write DOT text instead (-o graph.dot)"
)
RED = "#c0392b"
GREY = "#555555"
KIND_WORDS = {ROW: "row", "scalar": "one per slice", CONSTANT: "constant"}


class GraphvizMissing(RuntimeError):
    """``dot`` is not on PATH."""

    def __init__(self) -> None:
        super().__init__(INSTALL_HINT)


def dot(layer: Layer) -> str:
    """The layer's computation graph as DOT text: forward edges solid, backward edges dashed and red."""
    A = Algebra(layer, composite=False)
    g = layer.graph
    sent: dict[str, list[str]] = {s: [] for s in g.stages}
    back = backward(layer, A)
    for s, _, label in back:
        sent[s].append(label)
    lines = [
        f"digraph {_q(layer.name)} {{",
        "  rankdir=TB; nodesep=0.35; ranksep=0.3; newrank=true;",
        '  node [shape=box, style=rounded, fontname="Helvetica", fontsize=12, margin="0.12,0.04"];',
        '  edge [arrowsize=0.7];',
    ]
    for name in g.inputs:
        style = ", style=dashed" if g.kinds[name] == CONSTANT else ""
        lines.append(f"  {_q(name)} [label={_input_label(name, g.kinds[name])}, shape=ellipse{style}];")
    for k, s in enumerate(g.stages, 1):
        lines.append(f"  {_q(s)} [label={_stage_label(k, operation(layer, s), layer.stage_text[s], sent[s])}];")
    dy = f"← dy = ∂f/∂{g.output}, given"
    lines.append(f'  "f" [label={_html([("<B>f</B>", None), (_italic(dy), RED)])}];')
    for a, group in _beside(layer).items():
        lines.append(f"  {{rank=same; {'; '.join(_q(n) for n in (a, *group))};}}")
    for s in g.stages:
        for a in _args(layer, s):
            lines.append(f"  {_q(a)} -> {_q(s)}{' [style=dashed]' if g.kinds[a] == CONSTANT else ''};")
    lines.append(f'  {_q(g.output)} -> "f";')
    backstyle = f'style=dashed, color="{RED}", constraint=false'
    lines.append(f'  "f" -> {_q(g.output)} [{backstyle}];')
    for s, a, _ in back:
        lines.append(f"  {_q(s)} -> {_q(a)} [{backstyle}];")
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


def operation(layer: Layer, stage: str) -> str:
    """What a stage does, as a reader says it: its primitives' labels in order ("+, then √")."""
    ops = [e.prim.describe(e.args) for e in layer.graph.stage_eqns(stage) if e.prim.name != "id"]
    return ", then ".join(ops) or "copy"


def drawn(layer: Layer, fmt: str) -> str | bytes:
    """The graph in ``fmt``: DOT text, or SVG/PNG/PDF bytes from Graphviz's dot.
    Raises ValueError for an unknown format, :class:`GraphvizMissing` when dot is absent."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown graph format '.{fmt}'; use one of {', '.join('.' + f for f in FORMATS)}")
    text = dot(layer)
    if fmt == "dot":
        return text
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizMissing()
    done = subprocess.run([exe, f"-T{fmt}"], input=text.encode(), capture_output=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"dot failed ({done.returncode}): {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def render(layer: Layer, path: str | Path) -> Path:
    """Write the graph to ``path``: .dot is DOT text, .svg/.png/.pdf are drawn by Graphviz's dot.
    Raises :class:`GraphvizMissing` (with how to install it) when dot is needed and absent."""
    path = Path(path)
    content = drawn(layer, path.suffix.lstrip(".").lower())
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


# --- layout ----------------------------------------------------------------------------------


def _beside(layer: Layer) -> dict[str, list[str]]:
    """stage -> the inputs drawn on its rank: an input other than the data that only one stage
    reads (a constant, gamma, beta) sits beside that stage's other argument, not above the graph."""
    g = layer.graph
    data = next((n for n in g.inputs if g.kinds[n] == ROW), g.inputs[0])
    groups: dict[str, list[str]] = {}
    for a in g.inputs:
        readers = [s for s in g.stages if a in _args(layer, s)]
        if a == data or len(readers) != 1:
            continue
        partners = [b for b in _args(layer, readers[0]) if b in g.stages]
        if partners:
            groups.setdefault(partners[-1], []).append(a)
    return groups


def _args(layer: Layer, stage: str) -> list[str]:
    """Every variable a stage reads, constants included (they are drawn, dashed)."""
    seen: list[str] = []
    for eqn in layer.graph.stage_eqns(stage):
        for a in eqn.args:
            if isinstance(a, str) and not a.temp and a != "N" and a not in seen:
                seen.append(a)
    return seen


# --- labels ----------------------------------------------------------------------------------


def _stage_label(k: int, op: str, text: str, sent: list[str]) -> str:
    rows = [(f"<B>{k} · {_esc(op)}</B>", None), (_esc(text), None)]
    rows += [(_italic(f"← {line}"), RED) for line in sent]
    return _html(rows)


def _input_label(name: str, kind: str) -> str:
    return _html([(_esc(name), None), (f'<FONT POINT-SIZE="9">{KIND_WORDS[kind]}</FONT>', GREY)])


def _italic(text: str) -> str:
    return f"<I>{_esc(text)}</I>"


def _html(rows: list[tuple[str, str | None]]) -> str:
    cells = "".join(
        f'<TR><TD ALIGN="LEFT">{f"<FONT COLOR={chr(34)}{color}{chr(34)}>{body}</FONT>" if color else body}</TD></TR>'
        for body, color in rows
    )
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">{cells}</TABLE>>'


def _esc(s: str) -> str:
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _q(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


__all__ = ["FORMATS", "INSTALL_HINT", "GraphvizMissing", "backward", "dot", "drawn", "operation", "render"]
