"""Signs the normal form can read without a fact: N >= 1, and roots written through their radicands.

A sign here means what :meth:`~symbn.proof.canonical.Canonical._manifest` means by one: every
term >= 0 (a zero of the whole is a point the domain or the claim's own definition decides).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import sympy as sp


def unsquared(e: sp.Expr, roots: Mapping[sp.Symbol, Any]):
    """e, then e with a square root t that appears only to even powers written as its radicand
    (t**2 -> f), one root at a time: s**2 - 2 with s = sqrt(sqrt(N) + 1) is sqrt(N) - 1, whose
    sign the sizes give (a root positive as it is is tried first).  ``roots``: symbol -> Root."""
    yield e
    for _ in range(len(roots)):
        for a in sorted(e.free_symbols, key=str):
            root = roots.get(a)
            if root is None or root.q != 2 or not e.is_polynomial(a):
                continue
            poly = sp.Poly(e, a)
            if all(k % 2 == 0 for (k,) in poly.monoms()):
                e = sp.expand(sum(c * root.radicand ** (k // 2) for (k,), c in poly.terms()))
                yield e
                break
        else:
            return


def sizes_manifest(e: sp.Expr, at_least_one: Callable[[sp.Symbol], bool], positive: Callable[[sp.Symbol], bool]) -> int:
    """+1 (-1) if e is >= 0 (<= 0) because every term is, once each atom known to be >= 1 (a size
    N, or its root) is written 1 + M with M >= 0: N**4*eps - N**3*eps + s**2 = eps*(M + 1)**3*M + s**2.
    The same reading of a sign as _manifest's (every term >= 0, odd powers of positive atoms and
    of the M only), for the factors N - 1 of unbiased variances."""
    sizes = [a for a in e.free_symbols if at_least_one(a)]
    if not sizes:
        return 0
    shift = {a: sp.Symbol(f"{a}-1", nonnegative=True) for a in sizes}
    poly = sp.Poly(sp.expand(e.xreplace({a: m + 1 for a, m in shift.items()})), *sorted(e.free_symbols - set(sizes), key=str),
                   *shift.values())
    gens, shifted = poly.gens, set(shift.values())
    for sign in (1, -1):
        if all(sign * c > 0 and all(k % 2 == 0 or gens[i] in shifted or positive(gens[i]) for i, k in enumerate(m))
               for m, c in poly.terms()):
            return sign
    return 0


def positive_body(body: sp.Expr) -> bool:
    """A moment's body that is positive at every element: exp, even powers of reals, products, sums."""
    if isinstance(body, sp.exp):
        return True
    if body.is_Pow:
        return (body.exp.is_Integer and body.exp % 2 == 0) or positive_body(body.base)
    if body.is_Mul or body.is_Add:
        return all(positive_body(a) for a in body.args)
    return bool(body.is_positive)


__all__ = ["positive_body", "sizes_manifest", "unsquared"]
