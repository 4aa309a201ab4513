"""The values a piece of code computes with, as symbn reads it.

Numbers are exact (``0.5`` is 1/2, ``1e-5`` is 1/100000).  An array is an
:class:`Array`: an atom of the graph (:mod:`symbn.ir.graph`: a variable whose value
every realisation computes, or an exact constant) and a :class:`~.layout.Layout`.  An
array is a cell that names share, as NumPy arrays are: ``b = a; b += c`` changes
``a`` too.  Everything else the code may hold is one of the small records below;
any other use of them is an error that names the line.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from symbn.ir.graph import Atom
from symbn.lang.python.layout import Layout


@dataclass(eq=False)
class Array:
    """An array of the code (a mutable cell: assignment shares it, ``+=`` changes it)."""

    atom: Atom
    layout: Layout
    across: tuple | None = None  # (line, axis, "sum"|"mean"|"var") of a reduction over other slices it comes from
    dropped: Dropped | None = None  # the reduction that dropped its axes (no keepdims), if any


@dataclass(frozen=True)
class Dropped:
    """A reduction without ``keepdims``: where, and the shape it would have kept."""

    line: int
    col: int
    kept: str  # the shape with keepdims=True, e.g. "(B, 1)"
    got: str  # the shape it has, e.g. "(B,)"


@dataclass(frozen=True)
class Const:
    """A Python constant: an int, an exact number (Fraction), a bool, None or a string."""

    value: Any

    @property
    def number(self) -> bool:
        return isinstance(self.value, (int, Fraction)) and not isinstance(self.value, bool)


@dataclass(frozen=True)
class Size:
    """The length of an axis, read from ``x.shape``: the slice's N, another axis, or 1."""

    label: str  # layout.SLICE, OTHER or ONE
    axis: int  # which axis of the array it was read from


@dataclass(frozen=True)
class Seq:
    """A Python tuple or list (a shape, several returned values)."""

    items: tuple[Any, ...]


@dataclass(frozen=True)
class Container:
    """A parameter that is none of the layer's quantities: symbn reads it only by the
    names taken from it (``cache['mean']``, or ``xhat, gamma, ... = cache``)."""

    name: str


@dataclass(frozen=True)
class Unbound:
    """A name read from the code's inputs that is bound to nothing of the layer (an
    error as soon as the code uses it)."""

    name: str
    how: str  # "parameter 'cache'", "cache['mean']", "unpacked from cache"
    line: int


@dataclass(frozen=True)
class Library:
    """``np``, ``torch`` or one of their functions (``("numpy", "sum")``)."""

    path: tuple[str, ...]


@dataclass(frozen=True)
class Helper:
    """A function defined at the top level of the same file."""

    node: ast.FunctionDef


Value = Array | Const | Size | Seq | Container | Unbound | Library | Helper


def describe(v: Any) -> str:
    """What a value is, for messages."""
    if isinstance(v, Array):
        return f"an array of shape {v.layout.show()}"
    if isinstance(v, Const):
        return "None" if v.value is None else f"the {type(v.value).__name__} {v.value!r}" if not v.number else f"the number {v.value}"
    if isinstance(v, Size):
        return f"the length of axis {v.axis}"
    if isinstance(v, Seq):
        return f"a tuple of {len(v.items)}"
    if isinstance(v, Container):
        return f"the container '{v.name}'"
    if isinstance(v, Library):
        return ".".join(v.path)
    if isinstance(v, Helper):
        return f"the function {v.node.name}"
    if isinstance(v, Unbound):
        return f"'{v.name}' ({v.how})"
    return type(v).__name__


def number(value: Any) -> Fraction:
    return value if isinstance(value, Fraction) else Fraction(value)


__all__ = ["Array", "Const", "Container", "Dropped", "Helper", "Library", "Seq", "Size", "Unbound", "Value", "describe", "number"]
