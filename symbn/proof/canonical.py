"""Canonical forms: every expression as one reduced fraction p/q of polynomials.

Radicals are what keep gradient formulas from being rational functions.  A power
R**(p/q) with a fractional exponent is handled by naming its root: R = s**q with
``s`` a new positive atom, and when R is linear in a positive constant c (the eps of
sqrt(var + eps)), c is eliminated everywhere as c = (s**q - (R - a·c)) / a.  Then
sqrt(var + eps) = s, (var + eps)**(-3/2) = s**-3, and everything left is a
rational function of independent atoms, whose normal form ``cancel(together(·))``
is unique.  Two expressions are *proved* equal when the normal form of their
difference is 0.  (A non-zero normal form is not a refutation: that takes a
counterexample, see :mod:`symbn.counterexample`.)
"""

from __future__ import annotations

from collections.abc import Iterable

import sympy as sp


class Canonical:
    """Normal forms sharing one table of named roots (one per slice realisation)."""

    def __init__(self, eliminable: Iterable[sp.Symbol] = ()):
        self.eliminable = list(eliminable)  # positive constants that may be solved for
        self.solved: dict[sp.Symbol, sp.Expr] = {}  # c -> its value in terms of a root
        self.roots: dict[sp.Symbol, tuple[sp.Expr, int]] = {}  # s -> (radicand, q): s**q = R
        self._memo: dict[sp.Expr, sp.Expr] = {}

    def rewrite(self, e) -> sp.Expr:
        """Replace radicals by roots and solved constants by their values."""
        e = sp.sympify(e)
        while True:
            known = len(self.solved)
            out = self._rw(e)
            if len(self.solved) == known:
                return out
            self._memo.clear()  # a constant was solved mid-way: redo with it substituted

    def form(self, e) -> sp.Expr:
        """The normal form p/q of e."""
        return sp.cancel(sp.together(self.rewrite(e)))

    def _rw(self, e: sp.Expr) -> sp.Expr:
        hit = self._memo.get(e)
        if hit is not None:
            return hit
        if e.is_Atom:
            out = self.solved.get(e, e)
        else:
            out = e.func(*(self._rw(a) for a in e.args))
            if out.is_Pow and out.exp.is_Rational and not out.exp.is_Integer:
                out = self._root(out.base, out.exp)
        self._memo[e] = out
        return out

    def _root(self, base: sp.Expr, exp: sp.Rational) -> sp.Expr:
        numer, denom = sp.fraction(sp.cancel(sp.together(base)))
        return self._radical(numer, exp) * self._radical(denom, -exp)

    def _radical(self, poly: sp.Expr, exp: sp.Rational) -> sp.Expr:
        """poly**exp for a polynomial: a named root when poly holds a solvable constant."""
        content, rest = poly.as_content_primitive()
        power = rest**exp
        if not (power.is_Pow and power.base == rest):
            return content**exp * power  # SymPy resolved it, e.g. (s**2)**(1/2) = s for s > 0
        for c in self.eliminable:
            if c in self.solved or c not in rest.free_symbols:
                continue
            a = sp.diff(rest, c)
            if a != 0 and c not in a.free_symbols:  # rest = a*c + r: solve rest = s**q for c
                s = sp.Symbol(f"s[{len(self.roots) + 1}]", positive=True)  # never a file's name
                self.roots[s] = (rest, exp.q)
                self.solved[c] = sp.expand((s**exp.q - (rest - a * c)) / a)
                return content**exp * s**exp.p
        return content**exp * power
