"""Rational functions in FLINT: SymPy expressions as reduced fractions of polynomials.

The prover's normal form (:mod:`symbn.proof.canonical`) renames every radical,
``exp`` and ``log`` as an atom, which leaves a rational function of atoms.  Such an
expression is converted here, by one walk over its tree, into a fraction num/den
of ``flint.fmpq_mpoly`` (FLINT's exact multivariate polynomials over Q), cancelled
by a GCD at every sum.  Anything that is not a sum, product, integer power, rational
number or symbol is one more generator (an opaque atom).  NOTES.md gives the
measurements that chose FLINT over SymPy's own polynomial rings.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction

import flint
import sympy as sp

Poly = flint.fmpq_mpoly


class Ring:
    """Polynomials over Q in a fixed list of atoms (SymPy symbols or opaque nodes),
    ordered lexicographically in that order: put atoms to reduce by first."""

    def __init__(self, atoms: Sequence[sp.Basic]):
        self.atoms = tuple(atoms)
        self.index = {a: k for k, a in enumerate(self.atoms)}
        self.ctx = flint.fmpq_mpoly_ctx.get(tuple(f"v{k}" for k in range(len(self.atoms))) or ("v0",), "lex")
        self.gens = self.ctx.gens()
        self.one, self.zero = self.ctx.constant(1), self.ctx.constant(0)

    @staticmethod
    def atoms_of(expr: sp.Basic) -> set[sp.Basic]:
        """The atoms a ring for ``expr`` needs: its symbols, and its opaque nodes."""
        out: set[sp.Basic] = set()
        todo = [expr]
        while todo:
            e = todo.pop()
            if e.is_Symbol or _opaque(e):
                out.add(e)
            elif not e.is_Number:
                todo.extend(e.args)
        return out

    # --- SymPy -> FLINT ---------------------------------------------------------------------

    def frac(self, expr: sp.Basic) -> tuple[Poly, Poly]:
        """``expr`` as (num, den), gcd-cancelled; den is never zero."""
        memo: dict[sp.Basic, tuple[Poly, Poly]] = {}
        return self._frac(sp.sympify(expr), memo)

    def _frac(self, e: sp.Basic, memo) -> tuple[Poly, Poly]:
        hit = memo.get(e)
        if hit is not None:
            return hit
        if e.is_Rational:
            out = (self.ctx.constant(flint.fmpq(int(e.p), int(e.q))), self.one)
        elif e.is_Symbol or _opaque(e):
            out = (self.gens[self.index[e]], self.one)
        elif e.is_Add:
            out = self._sum([self._frac(a, memo) for a in e.args])
        elif e.is_Mul:
            num, den = self.one, self.one
            for a in e.args:
                n, d = self._frac(a, memo)
                num, den = num * n, den * d
            out = _cancel(num, den)
        elif e.is_Pow and e.exp.is_Integer:
            n, d = self._frac(e.base, memo)
            k = int(e.exp)
            if k < 0:
                if n.is_zero():
                    raise ZeroDivisionError(f"{e} divides by zero")
                n, d, k = d, n, -k
            out = (n**k, d**k) if k else (self.one, self.one)
        else:  # pragma: no cover - every other node is opaque
            raise TypeError(f"not a rational function of atoms: {e}")
        if out[1].is_zero():
            raise ZeroDivisionError(f"{e} divides by zero")
        memo[e] = out = _normal(*out)
        return out

    def _sum(self, parts: list[tuple[Poly, Poly]]) -> tuple[Poly, Poly]:
        num, den = self.zero, self.one
        for n, d in parts:
            g = den.gcd(d)
            if g.is_one():
                num, den = num * d + n * den, den * d
            else:
                num, den = num * (d // g) + n * (den // g), den * (d // g)
        return _cancel(num, den)

    # --- FLINT -> SymPy ---------------------------------------------------------------------

    def expr(self, poly: Poly) -> sp.Expr:
        terms = []
        for exps, coeff in poly.terms():
            c = sp.Rational(int(coeff.p), int(coeff.q))
            terms.append(sp.Mul(c, *(self.atoms[k] ** e for k, e in enumerate(exps) if e)))
        return sp.Add(*terms)

    def constant(self, q: Fraction) -> Poly:
        return self.ctx.constant(flint.fmpq(q.numerator, q.denominator))


def _opaque(e: sp.Basic) -> bool:
    """A node the ring treats as one atom: a function (exp, log), or a power that is
    not an integer power (a radical the normal form could not rename)."""
    if e.is_Pow:
        return not e.exp.is_Integer
    return not (e.is_Add or e.is_Mul or e.is_Number or e.is_Symbol)


def _cancel(num: Poly, den: Poly) -> tuple[Poly, Poly]:
    if num.is_zero():
        return num, den.context().constant(1)
    g = num.gcd(den)
    return (num, den) if g.is_one() else (num // g, den // g)


def _normal(num: Poly, den: Poly) -> tuple[Poly, Poly]:
    """The denominator with leading coefficient 1, so equal fractions print alike."""
    lead = den.leading_coefficient()
    return (num, den) if lead == 1 else (num / lead, den / lead)


def linear_in(poly: Poly, k: int) -> tuple[Poly, Poly] | None:
    """(a, b) with poly = a·v_k + b and neither a nor b holding v_k; None if not linear."""
    if poly.degrees()[k] != 1:
        return None
    a = poly.derivative(k)
    return a, poly - a * poly.context().gens()[k]


def ring_for(exprs: Iterable[sp.Basic], first: Sequence[sp.Basic] = ()) -> Ring:
    """A ring holding every atom of ``exprs``: ``first`` (in that order) then the rest by name."""
    atoms: set[sp.Basic] = set()
    for e in exprs:
        atoms |= Ring.atoms_of(sp.sympify(e))
    lead = [a for a in first if a in atoms]
    rest = sorted(atoms - set(lead), key=sp.default_sort_key)
    return Ring([*lead, *rest])


__all__ = ["Poly", "Ring", "linear_in", "ring_for"]
