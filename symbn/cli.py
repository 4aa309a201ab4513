"""The ``symbn`` command: a thin layer over the Python API.

Exit status: 0 all proved (or every claim as expected), 1 something refuted (or a
claim's verdict differs from its ``expect``), 2 bad input, 3 unknown (time limit).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from symbn.lang.derivation import SpecError, load
from symbn.lang.python import BindError, CodeError
from symbn.proof.prover import TooLarge
from symbn.version import __version__

TARGETS = ("numpy", "numba", "torch", "jax")  # symbn.emit.targets.TARGETS, without importing emit here

BAD_INPUT = 2
UNDECIDED = 3  # as for a verdict 'unknown': a value the document would show could not be checked


class UsageError(Exception):
    """Bad input on the command line (not in a file): one line, exit 2."""


class NotShown(Exception):
    """A document or picture with a value symbn could not check (the prover could not decide it): exit 3."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (SpecError, UsageError, TooLarge, CodeError, BindError) as err:
        print(f"symbn: {err}", file=sys.stderr)
        return BAD_INPUT
    except NotShown as err:
        print(f"symbn: {err}", file=sys.stderr)
        return UNDECIDED
    except KeyboardInterrupt:
        print("symbn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symbn", description="Prove gradient derivations of normalization layers.")
    parser.add_argument("--version", action="version", version=f"symbn {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prove", help="prove every route equal to every other, for every N (or --n N)")
    _common(p)
    p.add_argument("--order", type=int, choices=(1, 2), default=1,
                   help="1: the gradients; 2: the gradients of h = sum_k <dd_k, df/dk> (double backward)")
    p.add_argument("--shards", type=_positive_int, metavar="K",
                   help="the file's [shards] split across K devices of any sizes, against the layer")
    p.set_defaults(run=cmd_prove)

    p = sub.add_parser("check", help="give the file's claims, or one formula, a verdict")
    _common(p)
    p.add_argument("--wrt", help="an input, or a stage (then: that stage's adjoint)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--formula", help="a formula in symbn's syntax, e.g. 'sum(dy*xhat)'; "
                                         "one that starts with - is given as --formula=-...")
    group.add_argument("--latex", metavar="TEX", help="a formula written in LaTeX")
    group.add_argument("--code", metavar="PATH.py:FUNCTION", help="a backward pass in NumPy or torch (read, never run)")
    p.add_argument("--bind", default="", metavar="NAME=NAME,...",
                   help="with --code: what the code's names are in the layer, e.g. dout=dy,stdinv=ivar,axis=0")
    p.add_argument("--returns", metavar="NAME,...", help="with --code: the gradient each returned value is "
                                                        "(default: the differentiable inputs in file order)")
    p.add_argument("--axis", type=int, default=None, metavar="K",
                   help="with --code: the slice's axis in the code's arrays (default 0; LayerNorm code: -1)")
    p.set_defaults(run=cmd_check)

    _extra_commands(sub)
    return parser


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("file", help="a derivation file, e.g. derivations/batchnorm.toml")
    p.add_argument("--n", type=_positive_int, metavar="N", help="prove for this slice size only (explicit symbols)")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--time-limit", type=seconds, default=60.0, metavar="S",
                   help="seconds per obligation before 'unknown' (default 60; 0: no limit)")


def seconds(text: str) -> float:
    """A time limit: a finite number of seconds >= 0, 0 meaning none."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"expected a finite number of seconds >= 0 (0: no limit), got {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected N >= 1, got {value}")
    return value




# --- prove ------------------------------------------------------------------------


def cmd_prove(args) -> int:
    from symbn.proof.prover import prove
    from symbn.proof.second import prove_second

    layer = load(args.file)
    if args.shards:
        from symbn.proof.shards import prove_shards

        if args.n is not None or args.order != 1:
            raise UsageError("--shards proves the split for every shard size; it goes without --n and --order")
        proof = prove_shards(layer, args.shards, time_limit=args.time_limit)
    else:
        proof = (prove if args.order == 1 else prove_second)(layer, n=args.n, time_limit=args.time_limit)
    print(json.dumps(proof.to_json(), indent=2) if args.json else proof.table())
    return proof.exit_code


# --- check ------------------------------------------------------------------------


def cmd_check(args) -> int:
    from symbn.proof.claims import check_claims, check_one

    layer = load(args.file)
    if args.code is None and (args.bind or args.returns or args.axis is not None):
        raise UsageError("--bind, --returns and --axis go with --code")
    if args.code is not None:
        report = _check_code(layer, args)
    elif args.formula is not None or args.latex is not None:
        if not args.wrt:
            raise UsageError("--wrt NAME is needed with --formula or --latex")
        report = check_one(layer, args.wrt, formula=args.formula, tex=args.latex, n=args.n, time_limit=args.time_limit)
    else:
        if args.wrt:
            raise UsageError("--wrt goes with --formula or --latex")
        report = check_claims(layer, n=args.n, time_limit=args.time_limit)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.table())
    return report.exit_code


def _check_code(layer, args):
    from symbn.lang.python import parse_pairs
    from symbn.proof.code import check_code

    if args.wrt:
        raise UsageError("--wrt goes with --formula or --latex; with --code, say which gradients with --returns")
    code = args.code if ":" in args.code else Path(args.code)
    returns = [r.strip() for r in args.returns.split(",") if r.strip()] if args.returns else None
    return check_code(layer, code, bind=parse_pairs(args.bind), returns=returns, axis=args.axis or 0, n=args.n,
                      time_limit=args.time_limit)


# --- latex, graph, emit, check-numeric -----------------------------------------------

def _extra_commands(sub) -> None:
    """latex, graph, emit and check-numeric: their modules load only when used."""
    p = sub.add_parser("latex", help="the derivation as a LaTeX (or Markdown) document")
    p.add_argument("file")
    p.add_argument("-o", "--output", metavar="PATH", help="write here (.md gives Markdown) instead of printing")
    p.add_argument("--format", choices=("tex", "md"), help="tex (default) or md")
    p.add_argument("--n", type=_positive_int, metavar="N", help="verdicts for this slice size instead of every N")
    p.add_argument("--timings", action="store_true",
                   help="add each proof's time (the document is then no longer the same from run to run)")
    p.set_defaults(run=cmd_latex)

    p = sub.add_parser("emit", help="a module computing exactly the proved gradient (NumPy, numba, PyTorch or JAX)")
    p.add_argument("file")
    p.add_argument("--target", choices=TARGETS, default="numpy",
                   help="numpy (default), numba (compiled kernels), torch (a torch.library operator), jax (a custom_jvp)")
    p.add_argument("-o", "--output", metavar="PATH", help="write the module here instead of printing it")
    p.add_argument("--time-limit", type=seconds, default=60.0, metavar="S",
                   help="seconds per certification (default 60; 0: no limit)")
    p.set_defaults(run=cmd_emit)

    p = sub.add_parser("check-numeric", help="the emitted module against finite differences, complex step and mpmath")
    p.add_argument("file")
    p.add_argument("--target", choices=TARGETS, default="numpy", help="the target whose module is checked (default numpy)")
    p.add_argument("--shape", type=_shape, default=None, metavar="N,D", help="input shape (default 6,4)")
    p.add_argument("--axis", type=_axis, default=None, metavar="A", help="reduced axis or axes, e.g. 0 or -1 or 0,2,3 (default 0)")
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(run=cmd_check_numeric)

    p = sub.add_parser("graph", help="the computation graph: DOT, or SVG/PNG/PDF through Graphviz")
    p.add_argument("file")
    p.add_argument("-o", "--output", metavar="PATH", help="out.dot, out.svg, out.png or out.pdf (default: DOT to stdout)")
    p.set_defaults(run=cmd_graph)


def cmd_latex(args) -> int:
    from symbn.render.algebra import RenderError
    from symbn.render.latex import document

    layer = load(args.file)
    path = output_path(args.output, f"{layer.name}.{args.format or 'tex'}") if args.output else None
    fmt = args.format or ("md" if path is not None and path.suffix.lower() in (".md", ".markdown") else "tex")
    try:
        text = document(layer, fmt=fmt, n=args.n, timings=args.timings)
    except RenderError as err:
        raise NotShown(str(err)) from None
    if path is None:
        sys.stdout.write(text)
    else:
        _write(path, args.output, text)
    return 0


def output_path(text: str, example: str) -> Path:
    """The file -o names, or a one-line UsageError: a folder, or a file in a folder that does not exist."""
    path = Path(text)
    if text.endswith(("/", "\\")) or path.is_dir():
        raise UsageError(f"-o {text}: that is a folder; name a file in it, e.g. -o {path / example}")
    if not path.parent.is_dir():
        raise UsageError(f"-o {text}: the folder {path.parent} does not exist; create it first, or write elsewhere")
    return path


def _write(path: Path, text: str, content: str | bytes) -> None:
    try:
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    except OSError as err:
        raise UsageError(f"-o {text}: cannot write the file: {err.strerror or err}") from None
    print(f"wrote {path}", file=sys.stderr)


def cmd_graph(args) -> int:
    from symbn.render.algebra import RenderError
    from symbn.render.dot import GraphvizMissing, dot, drawn

    layer = load(args.file)
    path = output_path(args.output, f"{layer.name}.svg") if args.output else None
    try:
        content = drawn(layer, path.suffix.lstrip(".").lower()) if path is not None else dot(layer)
    except GraphvizMissing as err:
        raise UsageError(str(err)) from None
    except RenderError as err:
        raise NotShown(str(err)) from None
    except ValueError as err:
        raise UsageError(f"-o {args.output}: {err}") from None
    if path is None:
        sys.stdout.write(content)
    else:
        _write(path, args.output, content)
    return 0


def _shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected sizes such as 6,4, got {text!r}") from None
    if not shape or min(shape) < 1:
        raise argparse.ArgumentTypeError(f"sizes must be at least 1, got {text!r}")
    return shape


def _axis(text: str):
    try:
        axes = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an axis such as 0, -1 or 0,2,3, got {text!r}") from None
    return axes[0] if len(axes) == 1 else axes


EMIT_EXIT = {"refuted": 1, "unknown": 3, "missing": 2}


def cmd_emit(args) -> int:
    from symbn.emit.certify import NotCertified
    from symbn.emit.targets import emit

    layer = load(args.file)
    suffix = "np" if args.target == "numpy" else args.target
    path = output_path(args.output, f"{layer.name}_{suffix}.py") if args.output else None
    try:
        source = emit(layer, args.target, time_limit=args.time_limit)
    except NotCertified as err:
        print(f"symbn: not emitted: {err}", file=sys.stderr)
        return EMIT_EXIT.get(err.verdict, 1)
    if path is not None:
        _write(path, args.output, source)
    else:
        sys.stdout.write(source)
    return 0


def cmd_check_numeric(args) -> int:
    from symbn.emit.certify import NotCertified
    from symbn.emit.targets import MissingLibrary, require
    from symbn.numeric import check_numeric

    layer = load(args.file)
    options = {k: v for k, v in (("shape", args.shape), ("axis", args.axis)) if v is not None}
    try:
        require(args.target)
    except MissingLibrary as err:
        raise UsageError(str(err)) from None
    if args.target == "jax":  # this process's own setting, read when JAX is imported: the float64 checks need it
        os.environ["JAX_ENABLE_X64"] = "1"
    try:
        report = check_numeric(layer, seed=args.seed, target=args.target, **options)
    except NotCertified as err:
        print(f"symbn: not emitted: {err}", file=sys.stderr)
        return EMIT_EXIT.get(err.verdict, 1)
    except (ValueError, IndexError) as err:  # a shape/axis that does not fit the layer
        raise UsageError(f"--shape/--axis: {err}") from None
    print(report.text())
    return 0 if report.ok else 1


if __name__ == "__main__":  # pragma: no cover - run the imported module, not a second copy
    from symbn.cli import main as _main

    sys.exit(_main())


__all__ = ["NotShown", "UsageError", "main"]
