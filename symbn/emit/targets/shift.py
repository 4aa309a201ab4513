"""Merging blocks exactly: a reduction's body at the block's own statistics, plus shift terms.

A block of a slice cannot know the slice's mean μ while it is read, so it sums
its body at its own mean μ_b: Σ_b (x - μ_b)².  The slice's sum follows exactly,
with δ = μ - μ_b, once μ is known:

    Σ_b (x - μ)² = Σ_b (x - μ_b)² - 2δ Σ_b (x - μ_b) + δ² n_b

which is Chan's merge of variances.  Here it is derived for any body that is a
polynomial in the statistics it reads: each row value v of the block's pass is
v_b + Δv, where Δv, a polynomial in the δs, follows from its equation (for
``xmu = x - mu``, Δ = -δ_mu); a reduction's Δ, collected by powers of the δs,
gives the terms δ^α·c_α(i) whose block sums Σ_b c_α the pass accumulates beside
Σ_b body.  The block's values are centred on its own statistics, so nothing
cancels.  A body that is not polynomial in them (an exp of x - mu, a division by
a row that moves) raises :class:`NotPolynomial`; the caller then makes each
block a whole slice, where every δ is 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from fractions import Fraction
from typing import NamedTuple

import sympy as sp

from symbn.ir.primitives import ROW, add_p, div_p, id_p, mul_p, neg_p, pow_p, sub_p


class NotPolynomial(Exception):
    """A reduction's body is not a polynomial in the statistics it reads."""


class Term(NamedTuple):
    """δ^powers·coefficient: ``powers`` follow the pass's shifted statistics;
    ``rows``: the coefficient varies along the slice (else it is n_b·coefficient)."""

    powers: tuple[int, ...]
    coefficient: sp.Expr
    rows: bool


def delta(name: str) -> sp.Symbol:
    """δ of a statistic, as the kernel names it."""
    return sp.Symbol(f"_d_{name}")


def monomial(shifted: Sequence[str], powers: tuple[int, ...]) -> str:
    """A term's product of shifts as text: ``_d_mu**2``, or ``1.0`` for none."""
    parts = [f"{delta(x)}" + (f"**{e}" if e > 1 else "") for x, e in zip(shifted, powers) if e]
    return "*".join(parts) or "1.0"


def terms(rows: Sequence, bodies: Sequence[str], shifted: Sequence[str], kind: Callable[[str], str]) -> dict[str, list[Term]]:
    """For each body a pass sums, its shift terms (see the module)."""
    deltas = [delta(s) for s in shifted]
    moved: dict[str, sp.Expr] = {s: d for s, d in zip(shifted, deltas)}
    for op in rows:
        args = [_value(a) for a in op.args]
        moves = [moved.get(a, sp.Integer(0)) if isinstance(a, str) else sp.Integer(0) for a in op.args]
        if all(m == 0 for m in moves):
            continue
        moved[op.out] = sp.expand(_apply(op, [a + m for a, m in zip(args, moves)], moves) - _apply(op, args, moves))
    out = {}
    for body in bodies:
        change = moved.get(body, sp.Integer(0))
        if change == 0:
            out[body] = []
            continue
        try:
            poly = sp.Poly(change, *deltas)
        except sp.PolynomialError:
            raise NotPolynomial(body) from None
        rowish = {sp.Symbol(n) for n in _names(change) - {str(d) for d in deltas} if kind(n) == ROW}
        out[body] = [Term(p, c, bool(c.free_symbols & rowish)) for p, c in poly.terms() if c != 0]
    return out


def _value(a) -> sp.Expr:
    return sp.Symbol(a) if isinstance(a, str) else sp.Rational(a.numerator, a.denominator)


def _names(e: sp.Expr) -> set[str]:
    return {s.name for s in e.free_symbols}


def _apply(op, args: list[sp.Expr], moves: list[sp.Expr]) -> sp.Expr:
    """The op on SymPy values, where that is a polynomial in the moving arguments."""
    prim = op.prim
    if prim in (add_p, sub_p, mul_p, neg_p, id_p):
        return prim.impl(None, *args)
    if prim is div_p and moves[1] == 0:
        return args[0] / args[1]
    if prim is pow_p and moves[1] == 0 and isinstance(op.args[1], Fraction) and op.args[1].denominator == 1 \
            and op.args[1] >= 0:
        return args[0] ** int(op.args[1])
    raise NotPolynomial(op.out)


def python(e: sp.Expr) -> str:
    """A polynomial coefficient as Python text over the kernel's names (floats for numbers)."""
    if e.is_Symbol:
        return e.name
    if e.is_Rational:
        return repr(float(e)) if e >= 0 else f"({float(e)!r})"
    if e.is_Add:
        return "(" + " + ".join(python(t) for t in e.args) + ")"
    if e.is_Mul:
        return "(" + "*".join(python(f) for f in e.args) + ")"
    if e.is_Pow and e.exp.is_Integer and e.exp > 0:
        return f"{python(e.base)}**{int(e.exp)}"
    if e.is_Pow and e.exp.is_Integer:
        return f"(1.0/{python(e.base)}**{int(-e.exp)})"
    raise NotPolynomial(str(e))


__all__ = ["NotPolynomial", "Term", "delta", "monomial", "python", "terms"]
