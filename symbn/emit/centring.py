"""The centring offset: what a rounded mean leaves in ``x - m``, and where it is taken off.

A centring stage ``d = x - m`` with ``m = mean(x)`` is centred once more in
float16/float32, where m is off by up to half an ulp: d's own small per-slice mean
c is the offset of m (m + c is the mean to rounding, d - c is centred).  By default
d is corrected in place (``_recentre``).  With ``fold`` d is left as computed and c
(``_offset``) is folded into what reads d, with no further pass over the data:
Σ d·m becomes Σ d·m - c·Σ m, Σ d² becomes Σ d² - n·c², a term k·d of a gradient
adds -k·c to its constant (k·d·m adds a term -k·c·m).  A read the fold does not
cover (a row stage computed from d, d twice with other factors) raises
:class:`Unfoldable`, and the caller prints again without folding.

:class:`Centring` holds the offsets of one function and decides the text; the
printer (:mod:`.printer`) writes it.
"""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction

from symbn.ir.graph import Eqn
from symbn.ir.primitives import mean_p, sub_p
from symbn.lang.expr import BinOp, Expr, Name, Neg, Num, names

Term = tuple[Expr | None, list[Expr]]  # coefficient (None: 1) and row factors


class Unfoldable(Exception):
    """A read of a centred stage that the offset fold does not cover."""


def centrings(eqns: tuple[Eqn, ...], row_inputs: set[str]) -> dict[str, str]:
    """Centring stages ``d = x - m`` with ``m = mean(x)`` of an input row, read by
    nothing in between: d is re-centred after it is computed (``_recentre``), or
    its offset is taken (``_offset``) and folded into what reads d."""
    out = {}
    for k, m in enumerate(eqns):
        if m.prim is not mean_p or m.args[0] not in row_inputs:
            continue
        for e in eqns[k + 1:]:
            if e.prim is sub_p and e.args == (m.args[0], m.out):
                out[e.out] = m.out
            if m.out in e.args:
                break
    return out


class Centring:
    """The offsets of one function body.  ``fold``: take them off where d is read
    (else d is corrected in place)."""

    def __init__(self, fold: bool = False):
        self.fold = fold
        self.offsets: dict[str, str] = {}  # fold: centred stage -> its offset c (d as stored minus c is centred)
        self.given: dict[str, str] = {}  # centring mean m -> its offset c: m + c is the mean to rounding
        self.mean_of: dict[str, str] = {}  # ... and the row input m is the mean of
        self.unmeasured: set[str] = set()  # means split off a saved dict whose c may still be unknown (None)
        self.centred: set[str] = set()  # means whose centring stage follows (their sum is not widened)
        self.split = False  # the slice is split across devices: Σ d = n·c holds for the whole slice only

    def corrected(self, mean: str) -> str:
        """A centring mean as other stages read it: m + c, the mean to rounding."""
        return f"{mean} + {self.given[mean]}"

    def of_given(self, e: Eqn, row_inputs: set[str]) -> bool:
        """``d = z - m`` of an input row z and a mean m whose offset is known."""
        return e.prim is sub_p and e.args[1] in self.given and e.args[0] in row_inputs

    def reads_folded(self, e: Eqn) -> bool:
        """An equation reads a centred stage whose offset is folded (not taken off in place)."""
        return any(a in self.offsets for a in e.vars)

    def centre(self, stage: str, d: str, mean: str, x: str, named: bool, fresh: Callable[[str], str]) -> tuple[str | None, str]:
        """After the first ``d = x - m`` (d printed as ``d``): the offset's name and
        the line that takes it.  d is re-centred in place, or c is kept to fold.  Every
        later ``z - m`` has the same offset, and every other read of m reads m + c.
        ``named``: m has a name (an unnamed mean is read by nothing else)."""
        if not named and not self.fold:
            return None, f"_recentre({d}, axes, n)"
        # an unnamed mean is recomputed in every branch: its offset keeps the name it got first
        c = self.offsets.get(stage) or fresh(f"{mean if named else d}_c")
        if named:
            self.given[mean], self.mean_of[mean] = c, x
        if self.fold:
            self.offsets[stage] = c
            return c, f"{c} = _offset({d}, axes, n)"
        return c, f"{c} = _recentre({d}, axes, n)"

    def given_centre(self, stage: str, d: str, x: str, mean: str, owned: bool) -> list[str]:
        """The lines after ``d = z - m`` for a mean whose offset c is known (computed
        above, or split off a saved mean, and then measured on m's own ``x - m`` if the
        split could not tell): c is folded where d is read, or d shifted in place
        (``owned``: the function allocated d)."""
        c, lines = self.given[mean], []
        if mean in self.unmeasured:
            self.unmeasured.discard(mean)
            own = self.mean_of[mean]
            on = d if x == own else sub_p.numpy.format(own, mean)
            lines.append(f"{c} = _measured({c}, {on}, axes, n)")
        if self.fold:
            self.offsets[stage] = c
        elif owned:
            lines.append(f"{d} = _shift({d}, {c})")
        else:
            lines.append(f"{d} = {d} - {c}")
        return lines

    # --- the fold ----------------------------------------------------------------------

    def correction(self, factors: list[str | None], scale: str | None, total: Callable[[list[str]], str]) -> str:
        """What to subtract from Σ scale·Π factors when a factor is a centred stage
        stored as d + c: c·Σ scale·(the other factors), or n·scale·c² for d·d.
        ``factors``: the names multiplied (None for a factor that is not a named row);
        ``total(others)``: the text of Σ scale·Π others."""
        ds = [k for k, f in enumerate(factors) if f in self.offsets]
        others = [f for k, f in enumerate(factors) if k not in ds]
        if None in factors:
            raise Unfoldable
        c = self.offsets[factors[ds[0]]]
        count = "n" if scale is None else f"n * {scale}"
        if len(ds) == 1:
            return f"{c} * {total(others) if others else count}"
        if len(ds) == 2 and not others and factors[ds[0]] == factors[ds[1]] and not self.split:
            return f"{count} * {c}**2"
        raise Unfoldable

    def fold_terms(self, terms: list[Term], coeffs: list[str | None], constant: Expr | None, full: bool,
                   coefficient: Callable[[Expr, list[Expr]], str | None]):
        """Terms k·d·m of a gradient, d a centred stage stored as d + c: add -k·c to the
        constant when m is 1, else (a gradient summed to a smaller shape only) a term
        -k·m marked with c.  The coefficients k are already printed (``coeffs``);
        ``coefficient(k, row)`` prints another.  Returns (terms, coefficients, marks,
        constant): ``marks[k]`` names the offset that multiplies term k, else None."""
        terms, coeffs, marks = list(terms), list(coeffs), [None] * len(terms)
        for (k, row), text in list(zip(terms, coeffs)):
            ds = [f for f in row if isinstance(f, Name) and f.id in self.offsets]
            if len(ds) > 1 or any(not isinstance(f, Name) and names(f) & set(self.offsets) for f in row):
                raise Unfoldable
            if not ds:
                continue
            c = Name(self.offsets[ds[0].id])
            if k is not None and not isinstance(k, (Name, Num)):
                k = Name(text)
            fix = c if k is None else BinOp("*", k, c)
            others = list(row)
            others.remove(ds[0])
            if not others:
                constant = Neg(fix) if constant is None else BinOp("-", constant, fix)
            elif full:  # an extra pass and array over the data: re-centring is cheaper
                raise Unfoldable
            else:
                minus_k = Neg(Num(Fraction(1))) if k is None else Neg(k)
                terms.append((minus_k, others))
                coeffs.append(coefficient(minus_k, others))
                marks.append(c.id)
        return terms, coeffs, marks, constant


__all__ = ["Centring", "Term", "Unfoldable", "centrings"]
