"""What is wrong: claim − truth in the layer's own terms, proved before it is shown.

For a refuted formula, both sides are written in the layer's basis names
(:class:`~.terms.Terms`) and collected by basis term (dy, mean(dy), x̂·mean(dy·x̂) ...).
The difference is the terms whose coefficients differ; each one is read for a person:

- "mean(dy): subtracted twice" (the claim's coefficient is twice the truth's);
- "xhat*mean(dy*xhat): missing" or "a term the truth does not have";
- "coefficient of xhat*mean(dy*xhat): claim gamma*ivar/(N - 1), truth gamma*ivar/N".

The difference is printed as a formula in symbn's syntax and **checked**: the claim
minus it is proved equal to the truth, for every N, before it is reported as such.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import sympy as sp

from symbn.ir.graph import Var, kind_of
from symbn.ir.primitives import ROW
from symbn.lang.expr import BinOp, Call, Expr, Name, Neg, Num, parse, to_text
from symbn.lang.formula import Formula
from symbn.lang.lower import Lowering
from symbn.proof.counterexample import digits
from symbn.proof.polys import ring_for
from symbn.proof.report import PROVED, WHOLE, Change, Difference
from symbn.proof.terms import Terms

MAX_TERMS = 12  # a longer difference is shown as a count, not spelt out
MAX_FACTOR_DIGITS = 30  # of a numerator or denominator: SymPy's factor tests primes as large as the coefficients (1e-800 took 12 s)


def _factor(e: sp.Expr) -> sp.Expr:
    """e factored, or as it is where a coefficient is too long to factor in time (a 1e-300 in a
    claim): a factored form of such numbers shows a reader nothing more."""
    if any(digits(a) > MAX_FACTOR_DIGITS for a in e.atoms(sp.Rational)):  # digits: str() refuses 4300 of them
        return e
    return sp.factor(e)


def collect(T: Terms, value: sp.Expr) -> dict[sp.Expr, sp.Expr]:
    """basis term -> coefficient, for a value in basis names (a fraction in FLINT, its
    numerator's terms grouped by their basis part)."""
    basis = set(T.body) | {T.sym[n] for n in T.row}
    value = sp.sympify(value)
    ring = ring_for([value])
    num, den = ring.frac(value)
    keys = [k for k, a in enumerate(ring.atoms) if a in basis]
    den_terms = list(den.terms())
    shapes = {tuple(e[k] for k in keys) for e, _ in den_terms}
    if len(shapes) != 1:  # the denominator is not a basis monomial times scalars: one term as it is
        return {_factor(value): sp.Integer(1)}
    (den_shape,) = shapes
    den_basis = sp.Mul(*(ring.atoms[k] ** e for k, e in zip(keys, den_shape)))
    den_scalar = ring.expr(den) / den_basis
    groups: dict[tuple, list] = {}
    for exps, coeff in num.terms():
        groups.setdefault(tuple(exps[k] for k in keys), []).append((exps, coeff))
    out = {}
    for shape, terms in groups.items():
        b = sp.Mul(*(ring.atoms[k] ** e for k, e in zip(keys, shape))) / den_basis
        c = sp.Add(*(sp.Rational(int(q.p), int(q.q)) * sp.Mul(*(ring.atoms[k] ** e for k, e in enumerate(exps)
                                                                 if e and k not in keys)) for exps, q in terms))
        out[b] = sp.cancel(c / den_scalar)
    return {b: c for b, c in out.items() if c != 0}


def _split(term: sp.Expr, basis: set) -> tuple[sp.Expr, sp.Expr]:
    scalar, rows = [], []
    for f in sp.Mul.make_args(term):
        (rows if f.free_symbols & basis else scalar).append(f)
    return sp.Mul(*scalar), sp.Mul(*rows)


class Writer:
    """Basis terms and coefficients as formula text in the layer's names."""

    def __init__(self, T: Terms):
        self.T = T
        self.unrow = {T.at_i[n]: T.sym[n] for n in T.row}
        self._terms: dict = {}
        self._coefficients: dict = {}

    def term(self, c: sp.Expr, b: sp.Expr, like: sp.Expr | None = None) -> tuple[sp.Expr, Expr]:
        """(coefficient, basis as a formula tree): each S[m] is sum(m), or mean(m) when
        the coefficient (or ``like``'s: the truth's, so that both sides read alike) divides by N."""
        key = (c, b, like)
        if key not in self._terms:
            self._terms[key] = self._term(c, b, c if like is None else like)
        return self._terms[key]

    def _term(self, c: sp.Expr, b: sp.Expr, like: sp.Expr) -> tuple[sp.Expr, Expr]:
        factors = []
        for f in sorted(sp.Mul.make_args(b), key=lambda f: (f.as_base_exp()[0] in self.T.body, sp.default_sort_key(f))):
            base, e = f.as_base_exp()
            if base in self.T.body and e.is_Integer and e > 0:
                for _ in range(int(e)):
                    den = sp.denom(sp.cancel(like))
                    mean = not self.T.split and den.has(self.T.N) and sp.expand(den).subs(self.T.N, 0) == 0  # N divides it
                    c = sp.cancel(c * self.T.N) if mean else c
                    like = sp.cancel(like * self.T.N) if mean else like
                    factors.append(Call("mean", self._body(base)) if mean else self._sum(base))
            else:
                factors.append(self.expr(f))
        return c, _fold(factors) if factors else Num(Fraction(1))

    def coefficient(self, c: sp.Expr) -> str:
        return self._coefficient(c)[0]

    def _coefficient(self, c: sp.Expr) -> tuple[str, bool]:
        """A coefficient as text (factored or expanded, whichever is shorter; a minus sign
        in front), and whether it is a sum (which needs parentheses before a factor)."""
        c = sp.sympify(c)
        if c in self._coefficients:
            return self._coefficients[c]
        self._coefficients[c] = out = self._write(c)
        return out

    def _write(self, c: sp.Expr) -> tuple[str, bool]:
        if c.could_extract_minus_sign():
            text, is_sum = self._coefficient(-c)
            return ("-" + (f"({text})" if is_sum else text)), False
        forms = [(to_text(self.expr(f)), f.is_Add) for f in (_factor(c), sp.expand(c))]
        return min(forms, key=lambda t: len(t[0]))

    def expr(self, e: sp.Expr) -> Expr:
        e = sp.sympify(e)
        if e.is_Rational:
            v = Fraction(int(e.p), int(e.q))
            return Neg(Num(-v)) if v < 0 else Num(v)
        if e.is_Symbol:
            if e in self.T.body:  # S[m] is the sum of m over the slice
                return self._sum(e)
            if e == self.T.N and self.T.split:  # the whole slice's count, on a split slice
                return Call("allreduce", Name("Nk"))
            return Name(str(e))
        if e.is_Add:
            out = None
            for t in e.as_ordered_terms():
                neg = t.could_extract_minus_sign() and out is not None
                x = self.expr(-t if neg else t)
                out = x if out is None else BinOp("-" if neg else "+", out, x)
            return out
        if e.is_Mul:
            coeff, factors = e.as_coeff_mul()
            if coeff < 0:
                return Neg(self.expr(-e))
            num = [f for f in factors if not (f.is_Pow and f.exp.is_negative)]
            den = [1 / f for f in factors if f.is_Pow and f.exp.is_negative]
            if coeff.q != 1:
                den.insert(0, sp.Integer(coeff.q))
            top = [self.expr(sp.Integer(coeff.p))] if coeff.p != 1 else []
            top = _fold([*top, *(self.expr(f) for f in num)]) if top or num else Num(Fraction(1))
            return BinOp("/", top, _fold([self.expr(f) for f in den])) if den else top
        if e.is_Pow:
            if e.exp == sp.Rational(1, 2):
                return Call("sqrt", self.expr(e.base))
            if e.exp.is_negative:
                return BinOp("/", Num(Fraction(1)), self.expr(e.base ** -e.exp))
            return BinOp("**", self.expr(e.base), self.expr(e.exp))
        if isinstance(e, (sp.exp, sp.log)):
            return Call(type(e).__name__, self.expr(e.args[0]))
        raise NotImplementedError(f"cannot write {e} as a formula")

    def _body(self, atom: sp.Symbol) -> Expr:
        return self.expr(self.T.body[atom].xreplace(self.unrow))

    def _sum(self, atom: sp.Symbol) -> Expr:
        """S[m] as sum(m); on a split slice allreduce(shard_sum(m)), and shard_sum(m) for one device's."""
        body = self._body(atom)
        if atom in self.T.shard:
            return Call("shard_sum", body)
        return Call("allreduce", Call("shard_sum", body)) if self.T.split else Call("sum", body)

    def text(self, c: sp.Expr, b: sp.Expr, like: sp.Expr | None = None) -> str:
        """coefficient*basis as formula text (parsed again by the checks)."""
        c, basis = self.term(c, b, like)
        negative = sp.sympify(c).could_extract_minus_sign()
        magnitude, is_sum = self._coefficient(-c if negative else c)
        if basis == Num(Fraction(1)):
            body = f"({magnitude})" if is_sum and negative else magnitude
        elif magnitude == "1":
            body = to_text(basis)
        else:
            body = f"({magnitude})*{to_text(basis)}" if is_sum else f"{magnitude}*{to_text(basis)}"
        return ("-" if negative else "") + body

    def basis_text(self, b: sp.Expr, like: sp.Expr) -> str:
        return to_text(self.term(like, b)[1]) if b != 1 else "1"

    def coefficient_of(self, c: sp.Expr, b: sp.Expr, like: sp.Expr) -> str:
        return self.coefficient(self.term(c, b, like)[0]) if c != 0 else "0"


def _fold(parts: list[Expr]) -> Expr:
    out = parts[0]
    for p in parts[1:]:
        out = BinOp("*", out, p)
    return out


def reading(claim: sp.Expr, truth: sp.Expr, basis_text: str, w: Writer, b: sp.Expr, N: sp.Symbol) -> str:
    """One basis term's change, in words."""
    like = truth if truth != 0 else claim
    if truth == 0:
        return f"{basis_text}: a term the truth does not have ({w.text(claim, b, like)})"
    if claim == 0:
        return f"{basis_text}: missing (the truth has {w.text(truth, b, like)})"
    ratio = sp.cancel(claim / truth)
    both = f"{w.text(claim, b, like)} where the truth has {w.text(truth, b, like)}"
    if ratio == 2:
        verb = "subtracted" if truth.could_extract_minus_sign() else "added"
        return f"{basis_text}: {verb} twice ({both})"
    if ratio == -1:
        return f"{basis_text}: the wrong sign ({both})"
    if ratio in (N, 1 / N):
        return f"{basis_text}: {'a sum where the truth has a mean' if ratio == N else 'a mean where the truth has a sum'} ({both})"
    top, bottom = sp.fraction(ratio)
    for mine, theirs in ((bottom, top), (top, bottom)):  # one count for another: 2*Nk where the truth has N
        if theirs == N and mine != 1 and not mine.has(N):
            claim_den, truth_den = (mine, N) if theirs is top else (N, mine)
            return (f"{basis_text}: divided by {w.coefficient(claim_den)} where the truth divides by "
                    f"{w.coefficient(truth_den)} ({both})")
    return f"coefficient of {basis_text}: claim {w.coefficient_of(claim, b, like)}, truth {w.coefficient_of(truth, b, like)}"


def difference(T: Terms, claim: sp.Expr, truth: sp.Expr) -> tuple[str, tuple[Change, ...]]:
    """claim − truth as formula text, and the changes term by term."""
    C, R = collect(T, sp.sympify(claim)), collect(T, sp.sympify(truth))
    w = Writer(T)
    changes, parts = [], []
    for b in sorted(set(C) | set(R), key=sp.default_sort_key):
        c, r = C.get(b, sp.Integer(0)), R.get(b, sp.Integer(0))
        d = _factor(sp.cancel(c - r))
        if d == 0:
            continue
        like = r if r != 0 else c
        shown = w.basis_text(b, like)
        parts.append(w.text(d, b, like))
        changes.append(Change(shown, w.coefficient_of(c, b, like), w.coefficient_of(r, b, like),
                              reading(c, r, shown, w, b, T.N)))
    text = " + ".join(parts).replace("+ -", "- ") if parts else "0"
    return text, _common_factor(C, R, w) + tuple(changes)


def _common_factor(C: dict, R: dict, w: Writer) -> tuple[Change, ...]:
    """When every coefficient of the claim is the truth's times one factor r (and there
    is more than one term), that is the reading: the claim is r times the truth."""
    if len(R) < 2 or set(C) != set(R):
        return ()
    ratios = {_factor(sp.cancel(C[b] / R[b])) for b in R}
    if len(ratios) != 1:
        return ()
    (r,) = ratios
    return (Change(WHOLE, w.coefficient(r), "1", f"the claim is {w.coefficient(r)} times the truth"),)


def written(T: Terms, value: sp.Expr) -> str:
    """A value in basis names, as formula text (Σ coefficient·basis term)."""
    groups = collect(T, value)
    w = Writer(T)
    parts = [w.text(c, b) for b, c in sorted(groups.items(), key=lambda t: sp.default_sort_key(t[0]))]
    return " + ".join(parts).replace("+ -", "- ") if parts else "0"


def explain(prover, wrt: str, sides, truth_value: Any, claim_value: Any, formula: Formula | None) -> Difference | None:
    """The difference of a refuted obligation, checked by a proof (None if it cannot be written)."""
    T: Terms = prover.terms
    B = prover.moments.routes.B
    try:
        text, changes = difference(T, T.express(claim_value, B), T.express(truth_value, B))
    except (NotImplementedError, TypeError, ValueError, ZeroDivisionError, sp.PolynomialError, RecursionError):
        return None
    if len(changes) > MAX_TERMS:
        return Difference(f"{len(changes)} terms differ", (), f"{len(changes)} basis terms differ", False)
    checked = formula is not None and _checked(prover, wrt, sides[0], formula, text)
    whole = [c for c in changes if c.term == WHOLE]
    summary = "; ".join(c.reading for c in (whole or changes))
    return Difference(text, changes, summary, checked)


def _checked(prover, wrt: str, truth_side, formula: Formula, text: str) -> bool:
    """claim − difference, proved equal to the truth (for every N)."""
    from symbn.proof.refute import Side

    corrected = minus(prover.layer, formula, text)
    if corrected is None:
        return False
    side = Side("corrected claim", lambda routes: value_at_j(routes, corrected), corrected)
    return prover.moments.obligation(wrt, (truth_side, side)).verdict == PROVED


def minus(layer, formula: Formula, text: str) -> Formula | None:
    """The formula ``formula − (text)`` over the layer, its equations after the formula's."""
    graph = layer.graph
    low = Lowering({**layer.kinds, **layer.adjoint_kinds()})  # a problem's dy is an input of its graph
    low.vars.update(graph.vars)
    temps = [int(e.out[1:]) for e in formula.eqns if e.out.temp]
    low._count = max([len(graph.eqns), *temps])
    result = formula.result
    if isinstance(result, Var):
        low.vars[str(result)] = result
        left: Expr = Name(str(result))
    else:
        left = Num(result)
    try:
        atom = low.lower(BinOp("-", left, parse(text)), "difference")
    except Exception:  # noqa: BLE001 - a difference that does not lower is simply not checked
        return None
    return Formula(f"({formula.text}) - ({text})", None, "difference", kind_of(atom), (*formula.eqns, *low.eqns), atom)


def value_at_j(routes, formula: Formula):
    """A formula's value, at j if it is a row (whatever the gradient's kind)."""
    from symbn.ad.interpret import read

    value = read(routes.formula_env(formula), routes.B, formula.result)
    return routes.B.at_j(value) if kind_of(formula.result) == ROW else value

__all__ = ["Writer", "collect", "difference", "explain", "minus", "value_at_j", "written"]
