r"""The terms of a slice split across devices: a value of two shards written in the split's names.

A claim with ``shards = true`` is computed from per-device sums: on two shards of sizes
N₁ and N₂ (the free index j on the first), its value holds the shards' moments S1[m]
and S2[m] (:mod:`symbn.realise.shards`).  What a reader of SyncBatchNorm writes is

- ``allreduce(shard_sum(m))``: the sum of m over the whole slice, S1[m] + S2[m];
- ``shard_sum(m)``: the sum on j's own device, S1[m];
- ``Nk`` (N₁, the device's count) and ``allreduce(Nk)`` (N₁ + N₂, the whole count);

and, for the rows and scalars, the single-device layer's basis names (x̂, dy, μ, σ⁻¹, γ ...:
:class:`~.terms.Terms` of the layer the split must equal).  So S2[m] is written as
allreduce(shard_sum(m)) − shard_sum(m) and N₂ as allreduce(Nk) − Nk: the layer's own
value then holds whole sums only, the layer's relations (mean(x̂) = 0 ...) apply to them,
and what is left of shard_sum is what the split computes on one device alone.  A
difference written this way is still proved by :mod:`.difference` on the split itself.
"""

from __future__ import annotations

import sympy as sp

from symbn.proof.terms import Terms
from symbn.realise.shards import Sharded


class SplitTerms(Terms):
    """The single-device layer's basis, whole sums as allreduce(shard_sum(m)), and one device's sums."""

    split = True

    def __init__(self, graph, positive_inputs: set[str] = frozenset()):
        super().__init__(graph, positive_inputs)
        self.Nk = sp.Symbol("Nk", integer=True, positive=True)
        self.shard: dict[sp.Symbol, sp.Expr] = {}  # P[m] -> m: the sum of m on j's device
        self._shard_atom: dict[sp.Expr, sp.Symbol] = {}

    def shard_S(self, body: sp.Expr) -> sp.Expr:
        """Σ over j's device of body (in rows at i), in shard moments (no relation holds for them)."""
        return self.summed(body, self.Nk, self._shard_moment)

    def _shard_moment(self, m: sp.Expr) -> sp.Symbol:
        if m not in self._shard_atom:
            atom = sp.Symbol(f"P[{m}]")
            self._shard_atom[m], self.shard[atom], self.body[atom] = atom, m, m
        return self._shard_atom[m]

    def express(self, value, B: Sharded) -> sp.Expr:  # type: ignore[override]
        """A value at j of two shards' moment algebras in the split's names."""
        if not isinstance(B, Sharded) or B.K != 2:
            raise NotImplementedError("a split's difference is written for two devices")
        mine, other = B.bases
        sub: dict = {mine.N: self.Nk, other.N: self.N - self.Nk}
        for base in B.bases:
            sub.update({atom: self.basis(name) for name, atom in base.j_atom.items()})
            sub.update({atom: self.basis(name) for name, atom in base.scalar.items()})
        i_sub = {atom: self.basis(name, "i") for base in B.bases for name, atom in base.i_atom.items()}
        for atom, body in mine.moment_body.items():
            sub[atom] = self.shard_S(sp.sympify(body).xreplace(i_sub))
        for atom, body in other.moment_body.items():
            at_i = sp.sympify(body).xreplace(i_sub)
            sub[atom] = self.S(at_i) - self.shard_S(at_i)
        return self.radicals(sp.sympify(value).xreplace(sub))


__all__ = ["SplitTerms"]
