"""A counterexample: a slice size, exact data inside the layer's domain, and the two sides' values.

A refutation is never "the normal form is not zero" (moment atoms are not
independent at every N): it is a point where the two sides differ.  The data are
rationals; the values are exact SymPy numbers (rationals, or algebraic numbers such
as 720*sqrt(1490)/22201), shown simplified with a decimal beside them.  The
difference was decided on FLINT balls, which hold the exact values for certain
(:mod:`symbn.proof.refute`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

NOT_REAL = "not real"


@dataclass(frozen=True)
class Counterexample:
    n: int
    j: int  # 0-based free index (0 for a per-slice wrt)
    values: Mapping[str, Any]  # input -> Rational or list of Rationals, dy included
    lhs: sp.Expr  # exact
    rhs: sp.Expr | str  # exact, or NOT_REAL
    note: str = ""  # why the point refutes, when it is not just two different values
    sizes: tuple[int, ...] = ()  # a slice split across devices: each device's shard size

    def to_json(self) -> dict:
        out = {
            "N": self.n,
            "j": self.j,
            "values": {k: [exact(a) for a in v] if isinstance(v, (list, tuple)) else exact(v) for k, v in self.values.items()},
            "lhs": exact(self.lhs),
            "rhs": exact(self.rhs),
        }
        if self.note:
            out["note"] = self.note
        if self.sizes:
            out["shards"] = list(self.sizes)
        return out

    def __str__(self) -> str:
        vals = ", ".join(f"{k}={_short(v, self.sizes)}" for k, v in self.values.items())
        size = f"N={self.n}" + (f" ({' + '.join(map(str, self.sizes))} on {len(self.sizes)} devices)" if self.sizes else "")
        head = f"{size}, j={self.j}: {show(self.lhs)} != {show(self.rhs)}{_gap(self.lhs, self.rhs)} at {vals}"
        return f"{head} ({self.note})" if self.note else head


def show(value) -> str:
    """An exact value as printed: itself if short and rational, else simplified with its decimal."""
    if isinstance(value, str):
        return value
    value = sp.sympify(value)
    if value.is_Rational and digits(value) <= 60:
        return str(value)
    if value.is_Rational:
        return f"≈ {sp.N(value, 6)!s} (a rational of {digits(value)} digits)"
    decimal = sp.N(value, 6)
    text = str(simplified(value))
    return f"{text} (≈ {decimal!s})" if len(text) <= 60 else f"≈ {decimal!s}"  # !s: format() goes through Decimal, which refuses huge exponents


def _gap(lhs, rhs) -> str:
    """' (rhs - lhs ≈ 1e-300)' where the two sides' six digits are the same, else ''."""
    if isinstance(lhs, str) or isinstance(rhs, str):
        return ""
    lhs, rhs = sp.sympify(lhs), sp.sympify(rhs)
    if str(sp.N(lhs, 6)) != str(sp.N(rhs, 6)):
        return ""
    return f" (rhs - lhs ≈ {(rhs - lhs).evalf(3, maxn=20000)!s})"  # maxn: through the cancellation


def digits(q: sp.Rational) -> int:
    """Digits of a rational's numerator and denominator, without writing them (Python refuses
    to write an int of more than 4300 digits)."""
    return int(max(abs(int(q.p)).bit_length(), int(q.q).bit_length()) * 0.30103) + 1


def exact(value) -> str:
    """A value as exact text for JSON; one too long for Python to write is its decimal, said so."""
    try:
        return str(value)
    except ValueError:
        return f"≈ {sp.N(value, 15)} (the exact value has more than 4300 digits)"


def simplified(value: sp.Expr) -> sp.Expr:
    """The shortest of a few exact forms: radicals out of denominators, then expanded, so that a
    number of Q(√362) reads a + b√362 (an identity, not an approximation)."""
    if sp.count_ops(value) > 200:
        return value
    forms = [value]
    try:
        forms.append(sp.radsimp(sp.together(value)))
        forms.append(sp.expand(forms[-1]))
    except (TypeError, ValueError, NotImplementedError, RecursionError):  # pragma: no cover - SymPy's own limits
        pass
    return min(forms, key=lambda f: len(str(f)))


def _short(v, sizes: tuple[int, ...] = ()) -> str:
    """A value; a row split across devices shows each device's part: [1, 2 | 3]."""
    if not isinstance(v, (list, tuple)):
        return show(v)
    parts, start = [], 0
    for size in sizes or (len(v),):
        parts.append(", ".join(str(a) for a in v[start:start + size]))
        start += size
    return "[" + " | ".join(parts) + "]"


__all__ = ["NOT_REAL", "Counterexample", "digits", "exact", "show", "simplified"]
