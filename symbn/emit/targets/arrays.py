"""Stages and formulas as whole-array expressions, for the frameworks' targets (torch, JAX).

A framework fuses and differentiates what it is given, so its targets print the
file's stages and the certified formulas as they are written: one assignment per
stage, one expression per formula.  Values broadcast as in the NumPy module (a
per-slice value keeps its reduced axes, of size 1); ``mean(e)`` is
``_sum(e, axes) / n`` and ``sum(e)`` is ``_sum(e, axes)``, helpers every module
defines for its library.

Centring (see :mod:`symbn.emit.centring`): after a stage ``d = x - m`` that
subtracts the mean of an input row, ``m_c = _offset(d, axes, n)`` is the mean
left in d by m's rounding (0 in float64) and d is centred once more; other reads
of m read ``m + m_c``.  A backward that is given m and m_c subtracts the given
offset instead of measuring it.
"""

from __future__ import annotations

from fractions import Fraction

from symbn.emit.centring import centrings
from symbn.emit.printer import number
from symbn.ir.primitives import ROW
from symbn.lang.derivation import Layer
from symbn.lang.expr import BinOp, Call, Expr, Name, Neg, Num, parse_assignment


class Arrays:
    """Prints a layer's stages and formulas for the library ``xp`` ("torch" or "jnp")."""

    def __init__(self, layer: Layer, xp: str):
        self.layer, self.xp = layer, xp
        graph = layer.graph
        rows = {n for n, i in layer.inputs.items() if i.kind == ROW}
        self.centred: dict[str, str] = {}  # centring stage d -> the name of its offset
        self.mean_of: dict[str, str] = {}  # a named mean m -> its offset (read as m + offset)
        for d, m in centrings(graph.eqns, rows).items():
            if d.temp:  # x - mean(x) inside a stage: no name to centre
                continue
            named = not m.temp
            self.centred[d] = f"{m if named else d}_c"
            if named:
                self.mean_of[m] = self.centred[d]

    def offsets(self, stages) -> list[str]:
        """The offsets of the named means among ``stages`` (saved beside them)."""
        return [self.mean_of[s] for s in stages if s in self.mean_of]

    def stages(self, names: set[str], given_offsets: bool = False) -> list[str]:
        """Assignments for the stages in ``names``, in the file's order.  ``given_offsets``:
        the offsets are arguments (a backward given the forward's), not measured."""
        lines = []
        for stage in self.layer.graph.stages:
            if stage not in names:
                continue
            _, expr = parse_assignment(self.layer.stage_text[stage])
            lines.append(f"{stage} = {self.expr(expr, centring=stage in self.centred)}")
            if stage in self.centred:
                c = self.centred[stage]
                if not given_offsets:
                    lines.append(f"{c} = _offset({stage}, axes, n)")
                lines.append(f"{stage} = {stage} - {c}")
        return lines

    def expr(self, e: Expr, centring: bool = False) -> str:
        """A formula as text, fully parenthesised; a centring mean m is read as m + m_c
        except in its own centring stage (``centring``)."""
        if isinstance(e, Num):
            return _number(e.value)
        if isinstance(e, Name):
            if e.id == "N":
                return "n"
            if e.id in self.mean_of and not centring:
                return f"({e.id} + {self.mean_of[e.id]})"
            return e.id
        if isinstance(e, Neg):
            return f"(-{self.expr(e.arg, centring)})"
        if isinstance(e, BinOp):
            if e.op == "**" and isinstance(e.right, Num) and e.right.value.denominator == 1:  # x**2, not x**2.0
                return f"({self.expr(e.left, centring)} ** {e.right.value.numerator})"
            return f"({self.expr(e.left, centring)} {e.op} {self.expr(e.right, centring)})"
        assert isinstance(e, Call)
        inner = self.expr(e.arg, centring)
        if e.fn == "sum":
            return f"_sum({inner}, axes)"
        if e.fn == "mean":
            return f"(_sum({inner}, axes) / n)"
        return f"{self.xp}.{e.fn}({inner})"


def _number(value: Fraction) -> str:
    text = number(value) if value.denominator != 1 else f"{value.numerator}.0"
    return f"({text})" if value < 0 else text


__all__ = ["Arrays"]
