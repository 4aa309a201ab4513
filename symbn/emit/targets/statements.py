"""A graph op as one line of numba text, and the text helpers the kernels' printer (:mod:`.loops`) uses."""

from __future__ import annotations

import re
from fractions import Fraction

from symbn.emit.printer import number
from symbn.emit.targets.schedule import Op
from symbn.ir.primitives import id_p, neg_p, pow_p


def atom(a: str | Fraction, n: str) -> str:
    if isinstance(a, Fraction):
        text = number(a) if a.denominator != 1 else f"{a.numerator}.0"
        return f"({text})" if a < 0 else text
    return n if a == "N" else a


def statement(op: Op, n: str) -> str:
    """One element-wise or per-slice op as an assignment (N read as ``n``)."""
    args = [atom(a, n) for a in op.args]
    if op.prim is pow_p and isinstance(op.args[1], Fraction):
        e = op.args[1]
        if e == Fraction(1, 2):
            return f"{op.out} = np.sqrt({args[0]})"
        if e.denominator == 1:
            return f"{op.out} = {args[0]} ** {e.numerator}"
    if op.prim.infix:
        return f"{op.out} = {args[0]} {op.prim.infix} {args[1]}"
    if op.prim is neg_p:
        return f"{op.out} = -{args[0]}"
    if op.prim is id_p:
        return f"{op.out} = {args[0]}"
    return f"{op.out} = np.{op.prim.name}({args[0]})"


def words(text: str) -> set[str]:
    return set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))


def indent(lines: list[str], depth: int) -> list[str]:
    return ["    " * depth + line for line in lines]


__all__ = ["atom", "indent", "statement", "words"]
