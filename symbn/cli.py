"""The ``symbn`` command: a thin layer over the Python API.

Exit status: 0 all proved (or every claim as expected), 1 something refuted (or a
claim's verdict differs from its ``expect``), 2 bad input, 3 unknown (time limit).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence

from .spec import SpecError, load

BAD_INPUT = 2


class UsageError(Exception):
    """Bad input on the command line (not in a file): one line, exit 2."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except (SpecError, UsageError) as err:
        print(f"symbn: {err}", file=sys.stderr)
        return BAD_INPUT
    except KeyboardInterrupt:
        print("symbn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="symbn", description="Prove gradient derivations of normalization layers.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("prove", help="prove every route equal to every other, for every N (or --n N)")
    _common(p)
    p.set_defaults(run=cmd_prove)

    p = sub.add_parser("check", help="give the file's claims, or one formula, a verdict")
    _common(p)
    p.add_argument("--wrt", help="an input, or a stage (then: that stage's adjoint)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--formula", help="a formula in symbn's syntax, e.g. 'sum(dy*xhat)'; "
                                         "one that starts with - is given as --formula=-...")
    group.add_argument("--latex", metavar="TEX", help="a formula written in LaTeX")
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


def _extra_commands(sub) -> None:
    """Commands whose modules load lazily (rendering, emission)."""
    from . import commands

    commands.register(sub)


# --- prove ------------------------------------------------------------------------


def cmd_prove(args) -> int:
    from .prove import prove

    layer = load(args.file)
    proof = prove(layer, n=args.n, time_limit=args.time_limit)
    print(json.dumps(proof.to_json(), indent=2) if args.json else proof.table())
    return proof.exit_code


# --- check ------------------------------------------------------------------------


def cmd_check(args) -> int:
    from .claims import check_claims, check_one

    layer = load(args.file)
    if args.formula is not None or args.latex is not None:
        if not args.wrt:
            raise UsageError("--wrt NAME is needed with --formula or --latex")
        report = check_one(layer, args.wrt, formula=args.formula, tex=args.latex, n=args.n, time_limit=args.time_limit)
    else:
        if args.wrt:
            raise UsageError("--wrt goes with --formula or --latex")
        report = check_claims(layer, n=args.n, time_limit=args.time_limit)
    print(json.dumps(report.to_json(), indent=2) if args.json else report.table())
    return report.exit_code


if __name__ == "__main__":  # pragma: no cover - run the imported module, not a second copy
    from symbn.cli import main as _main

    sys.exit(_main())


__all__ = ["UsageError", "main"]
