"""The commands that render and emit: registered here so ``cli`` stays small and
their modules load only when used."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    """Add latex, graph, emit and check-numeric to the ``symbn`` parser."""
    from .cli import _positive_int

    p = sub.add_parser("latex", help="the derivation as a LaTeX (or Markdown) document")
    p.add_argument("file")
    p.add_argument("-o", "--output", metavar="PATH", help="write here (.md gives Markdown) instead of printing")
    p.add_argument("--format", choices=("tex", "md"), help="tex (default) or md")
    p.add_argument("--n", type=_positive_int, metavar="N", help="verdicts for this slice size instead of every N")
    p.set_defaults(run=cmd_latex)

    p = sub.add_parser("graph", help="the computation graph: DOT, or SVG/PNG/PDF through Graphviz")
    p.add_argument("file")
    p.add_argument("-o", "--output", metavar="PATH", help="out.dot, out.svg, out.png or out.pdf (default: DOT to stdout)")
    p.set_defaults(run=cmd_graph)


def cmd_latex(args) -> int:
    from .render.latex import document, write
    from .spec import load

    layer = load(args.file)
    if args.output:
        path = write(layer, args.output, fmt=args.format, n=args.n)
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(document(layer, fmt=args.format or "tex", n=args.n))
    return 0


def cmd_graph(args) -> int:
    from .cli import UsageError
    from .render.graph import GraphvizMissing, dot, render
    from .spec import load

    layer = load(args.file)
    if not args.output:
        sys.stdout.write(dot(layer))
        return 0
    try:
        path = render(layer, Path(args.output))
    except GraphvizMissing as err:
        raise UsageError(str(err)) from None
    except ValueError as err:
        raise UsageError(f"-o: {err}") from None
    print(f"wrote {path}", file=sys.stderr)
    return 0
