"""What reading a function gives: its values as graph equations, and where each came from.

A :class:`Program` holds the equations (:class:`~symbn.ir.graph.Eqn`) that compute the
code's values over one slice, in terms of the layer's own variables (inputs, stages,
``dy``, adjoints ``d<stage>``), so every realisation evaluates them with the one
interpreter loop (:func:`symbn.ad.interpret.run`).  Beside them: each assignment the
function makes (:class:`Record`: line, name, the value at that moment), the values it
returns, the notes a reader needs (a sum over other slices), and a :class:`Fault` if
NumPy could not run the code at all (shapes that do not broadcast).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property

from symbn.ir.graph import Atom, Eqn, Var
from symbn.lang.python.layout import Layout


@dataclass(frozen=True)
class Record:
    """One name assigned by one statement of the function."""

    line: int
    col: int
    name: str
    atom: Atom
    shape: str  # as layout.show() prints it
    how: str  # "=", "+=" (augmented), "read" (an input taken apart), "return"
    final: bool = False  # the name's last assignment in the function
    across: bool = False  # a value summed over other slices (a shared parameter's gradient)


@dataclass(frozen=True)
class Returned:
    atom: Atom
    layout: Layout
    line: int
    col: int
    name: str  # the returned variable's name ("" for an expression)
    across: tuple[int, int] | None = None  # (line, axis) of a sum over other slices it comes from


@dataclass(frozen=True)
class Fault:
    """The code cannot run: NumPy raises at ``line`` (and, with equal lengths, mixes slices).
    ``blame`` is the line that made the shape wrong (a reduction without keepdims)."""

    line: int
    col: int
    message: str
    blame_line: int
    blame_name: str
    expected: str
    got: str


@dataclass(frozen=True)
class Program:
    file: str
    function: str
    eqns: tuple[Eqn, ...]
    returns: tuple[Returned, ...]
    records: tuple[Record, ...]
    bind: dict = field(default_factory=dict)  # code name -> layer name or int, as given
    notes: tuple[str, ...] = ()  # one per returned value ('' if nothing to say)
    fault: Fault | None = None

    @cached_property
    def _producer(self) -> dict[str, Eqn]:
        return {e.out: e for e in self.eqns}

    def ancestors(self, atom: Atom) -> set[str]:
        """Every variable ``atom`` is computed from (itself included)."""
        seen: set[str] = set()
        todo = [atom] if isinstance(atom, Var) else []
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            eqn = self._producer.get(v)
            if eqn is not None:
                todo += eqn.vars
        return seen

    def needed(self, atoms: Iterable[Atom]) -> tuple[Eqn, ...]:
        """The equations that compute ``atoms``, in order."""
        wanted: set[str] = set()
        for a in atoms:
            wanted |= self.ancestors(a)
        return tuple(e for e in self.eqns if e.out in wanted)

    def reads(self) -> set[str]:
        """The layer's variables the code reads (inputs, stages, dy, adjoints)."""
        made = {e.out for e in self.eqns}
        return {a for e in self.eqns for a in e.vars if a not in made}


__all__ = ["Fault", "Program", "Record", "Returned"]
