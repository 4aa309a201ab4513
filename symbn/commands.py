"""The commands that render and emit: registered here so ``cli`` stays small and
their modules load only when used."""

from __future__ import annotations

import sys
from pathlib import Path


def register(sub) -> None:
    """Add latex, graph, emit and check-numeric to the ``symbn`` parser."""
    from .cli import _positive_int, seconds

    p = sub.add_parser("latex", help="the derivation as a LaTeX (or Markdown) document")
    p.add_argument("file")
    p.add_argument("-o", "--output", metavar="PATH", help="write here (.md gives Markdown) instead of printing")
    p.add_argument("--format", choices=("tex", "md"), help="tex (default) or md")
    p.add_argument("--n", type=_positive_int, metavar="N", help="verdicts for this slice size instead of every N")
    p.set_defaults(run=cmd_latex)

    p = sub.add_parser("emit", help="a NumPy module computing exactly the proved gradient")
    p.add_argument("file")
    p.add_argument("-o", "--output", metavar="PATH", help="write the module here instead of printing it")
    p.add_argument("--time-limit", type=seconds, default=60.0, metavar="S",
                   help="seconds per certification (default 60; 0: no limit)")
    p.set_defaults(run=cmd_emit)

    p = sub.add_parser("check-numeric", help="the emitted module against finite differences, complex step and mpmath")
    p.add_argument("file")
    p.add_argument("--shape", type=_shape, default=None, metavar="N,D", help="input shape (default 6,4)")
    p.add_argument("--axis", type=_axis, default=None, metavar="A", help="reduced axis or axes, e.g. 0 or -1 or 0,2,3 (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_check_numeric)

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


def _shape(text: str) -> tuple[int, ...]:
    import argparse

    try:
        shape = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 6,4, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be at least 1, got {text!r}")
    return shape


def _axis(text: str):
    import argparse

    try:
        axes = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an axis such as 0, -1 or 0,2,3, got {text!r}") from None
    return axes[0] if len(axes) == 1 else axes


EMIT_EXIT = {"refuted": 1, "unknown": 3, "missing": 2}


def cmd_emit(args) -> int:
    from .emit import NotCertified, emit_module
    from .spec import load

    layer = load(args.file)
    try:
        source = emit_module(layer, time_limit=args.time_limit)
    except NotCertified as err:
        print(f"symbn: not emitted: {err}", file=sys.stderr)
        return EMIT_EXIT.get(err.verdict, 1)
    if args.output:
        Path(args.output).write_text(source)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(source)
    return 0


def cmd_check_numeric(args) -> int:
    from .cli import UsageError
    from .emit import NotCertified
    from .numeric import check_numeric
    from .spec import load

    layer = load(args.file)
    options = {k: v for k, v in (("shape", args.shape), ("axis", args.axis)) if v is not None}
    try:
        report = check_numeric(layer, seed=args.seed, **options)
    except NotCertified as err:
        print(f"symbn: not emitted: {err}", file=sys.stderr)
        return EMIT_EXIT.get(err.verdict, 1)
    except (ValueError, IndexError) as err:  # a shape/axis that does not fit the layer
        raise UsageError(f"--shape/--axis: {err}") from None
    print(report.text())
    return 0 if report.ok else 1
