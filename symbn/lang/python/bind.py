"""Binding: which quantity of the layer each name the code reads stands for.

The code's inputs are its parameters, the keys it reads from a dict parameter
(``cache['mean']``) and the names it unpacks from a tuple parameter (``xhat, gamma,
xmu, ivar, sqrtvar, var, eps = cache``).  Each such name binds, in this order:

1. as ``--bind NAME=TARGET`` says (``dout=dy``, ``stdinv=ivar``, ``axis=0``);
2. to the layer's quantity of the same name: an input, a stage, ``dy``, an adjoint
   ``d<stage>``, or ``N`` (the slice's length);
3. a parameter with a literal default takes it; any other is a container, read by
   the names taken from it.

A name bound to nothing is :class:`~.values.Unbound`, an error as soon as the code
uses it.  The bind table also names the code's own intermediates (``dscaled_x=dy``):
:mod:`symbn.proof.locate` uses it to say what each line should compute.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from fractions import Fraction

from symbn.ir.graph import Var
from symbn.ir.primitives import CONSTANT, ROW, SCALAR
from symbn.lang.python import layout
from symbn.lang.python.values import Array, Const, Container, Size, Unbound

Target = str | int


class BindError(ValueError):
    """A bind table that names nothing of the layer."""


class Binder:
    """The layer's names (name -> kind) and the bind table, as values of the code."""

    def __init__(self, kinds: Mapping[str, str], bind: Mapping[str, Target], rank: int, axis: int,
                 shared: set[str] = frozenset()):
        self.kinds, self.rank, self.axis, self.shared = dict(kinds), rank, axis, set(shared)
        self.bind = check(bind, self.kinds)
        self.cells: dict[str, Array] = {}

    def target(self, name: str) -> Target | None:
        """What a name of the code stands for, or None."""
        if name in self.bind:
            return self.bind[name]
        if name in self.kinds or name == "N":
            return name
        return None

    def value(self, target: Target):
        """The value of the code that a target is: an array cell (one per name, so
        every read shares it, as NumPy's objects do), a Python int, or a size."""
        if isinstance(target, int):
            return Const(target)
        if target == "N":
            return Size(layout.SLICE, self.axis)
        if target not in self.cells:
            self.cells[target] = Array(Var(target, self.kinds[target]), self.layout(target))
        return self.cells[target]

    def layout(self, name: str) -> layout.Layout:
        """How the code's arrays hold a quantity: data vary along the slice and across slices;
        a per-slice value keeps the slice axis as 1; a row parameter shared by slices
        (``shared``: LayerNorm's gamma) has only the slice axis."""
        kind = self.kinds.get(name, CONSTANT)
        if kind == ROW:
            shared = name in self.shared
            return layout.shared(self.rank, self.axis) if shared else layout.row(self.rank, self.axis)
        return layout.per_slice(self.rank, self.axis) if kind == SCALAR else layout.SCALAR

    def read(self, name: str, how: str, line: int):
        target = self.target(name)
        return Unbound(name, how, line) if target is None else self.value(target)

    def parameter(self, arg: ast.arg, default: ast.expr | None):
        target = self.target(arg.arg)
        if target is not None:
            return self.value(target)
        if default is not None and isinstance(default, ast.Constant) and _plain(default.value):
            v = default.value
            return Const(Fraction(repr(v)) if isinstance(v, float) else v)
        return Container(arg.arg)

    def names(self) -> str:
        """The names a code's input may be bound to, for messages."""
        shown = [n for n, k in self.kinds.items() if not n.startswith("d") or n == "dy" or n[1:] not in self.kinds]
        adjoints = [n for n in self.kinds if n.startswith("d") and n != "dy" and n[1:] in self.kinds]
        return ", ".join([*shown, "N"]) + (f"; adjoints {', '.join(adjoints)}" if adjoints else "")

    def unbound(self, u: Unbound) -> str:
        return (f"'{u.name}' ({u.how}, line {u.line}) is not a quantity of the layer: bind it with "
                f"--bind {u.name}=NAME (the names: {self.names()}; or a whole number, e.g. axis=0)")


def _plain(v) -> bool:
    return v is None or isinstance(v, (bool, int, float, str))


def check(bind: Mapping[str, Target], kinds: Mapping[str, str]) -> dict[str, Target]:
    """A bind table whose every entry names a quantity of the layer, an int, or N."""
    out: dict[str, Target] = {}
    for name, target in bind.items():
        if not isinstance(name, str) or not name.isidentifier():
            raise BindError(f"'{name}' is not a Python name")
        if isinstance(target, bool) or not isinstance(target, (str, int)):
            raise BindError(f"{name}={target!r}: bind a name to a quantity of the layer or to a whole number")
        if isinstance(target, str):
            target = target.strip()
            if target.lstrip("-").isdigit():
                target = int(target)
            elif target not in kinds and target != "N":
                known = ", ".join(n for n, k in kinds.items() if k != CONSTANT or not n.startswith("%"))
                raise BindError(f"{name}={target}: '{target}' is not a quantity of the layer (the names: {known}, N)")
        out[name] = target
    return out


def parse_pairs(text: str) -> dict[str, str]:
    """``"dout=dy,stdinv=ivar"`` as a table (for the command line)."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, eq, target = part.partition("=")
        if not eq or not name.strip() or not target.strip():
            raise BindError(f"'{part}': write NAME=TARGET, e.g. dout=dy")
        out[name.strip()] = target.strip()
    return out


__all__ = ["BindError", "Binder", "Target", "check", "parse_pairs"]
