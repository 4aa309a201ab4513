"""A formula of a layer: its text, its parsed tree, and its equations over the layer's graph.

Formulas come from derivation files (closed forms, claims), from LaTeX, and from code
(:mod:`symbn.lang.code`, where there is no one expression: ``expr`` is None and the
equations are the code's).  Every engine reads the equations.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

from symbn.ir.graph import Atom, Eqn
from symbn.lang.expr import Expr


@dataclass(frozen=True)
class Formula:
    """A formula from the file, parsed, with where it came from (for messages)."""

    text: str
    expr: Expr | None  # None for code, which is equations only
    key: str
    kind: str  # row | scalar | constant: its value's kind
    eqns: tuple[Eqn, ...] = ()  # lowered over the layer's graph (dy and d<name> are free variables)
    result: Atom = Fraction(0)

    def reads(self) -> set[str]:
        """The variables its equations read that they do not compute (layer names, dy, d<name>)."""
        made = {e.out for e in self.eqns}
        names = {a for e in self.eqns for a in e.vars if a not in made}
        return names | ({self.result} if isinstance(self.result, str) and self.result not in made else set())


__all__ = ["Formula"]
