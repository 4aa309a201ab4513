"""The display realisation: the moment algebra over the stages' own symbols.

The document shows μ, σ and x_i − μ, not moment atoms; :class:`~symbn.render.algebra.Algebra`
runs the interpreters over this realisation with every stage an atom.  It is the
moment algebra (:mod:`symbn.realise.moments`) with one addition: the *centring
identities* Σ_i r_i = 0 (for a row stage r such as x − μ) are applied as sums arise,
and each one used is recorded, so the document can say which it used.
"""

from __future__ import annotations

import sympy as sp

from symbn.realise.moments import Moments


class Display(Moments):
    """The moment algebra with the centring identities Σ_i r_i = 0 applied (and recorded)."""

    def __init__(self, kinds, positive):
        super().__init__(kinds, positive)
        self.zero: set[sp.Symbol] = set()  # moment atoms S[r_i] known to be 0
        self.identities = True
        self.used: set[sp.Symbol] = set()

    def sum(self, v):
        out = super().sum(v)
        hit = out.free_symbols & self.zero if self.identities else set()
        if hit:
            self.used |= hit
            out = out.xreplace({z: 0 for z in hit})
        return out


__all__ = ["Display"]
