"""The fast form of a gradient formula: per-slice coefficients times row monomials.

A closed form such as BatchNorm's ``gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))``
touches the big arrays many times.  Rearranged as

    gamma*ivar*dy - gamma*ivar**3*mean(dy*xmu)*xmu - gamma*ivar*mean(dy)

every coefficient is a per-slice value computed once, and the row part is a short
sum of ``coefficient * monomial`` that the emitter evaluates in a few in-place
passes.  The steps, in SymPy, over names (never over numbers):

- row stages that are a product (``xhat = xmu*ivar``, ``sq = xmu**2``) are inlined,
  so no array is spent on a scaled copy; stages with a sum (``xmu = x - mu``) stay
  named, because expanding them would bring back the cancellation that two-pass
  statistics avoid;
- ``sum(body)`` is expanded and scalar factors are pulled out, leaving one sum per
  monomial of row names (as in :mod:`symbn.moments`);
- the result is collected by row monomial and each coefficient is factored.

The text this module prints is what :mod:`symbn.emit` certifies and compiles: it
is parsed again, so the code computes exactly the formula that was proved.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import sympy as sp

from symbn.ir.primitives import ROW
from symbn.lang.derivation import Layer
from symbn.lang.expr import BinOp, Call, Expr, Name, Neg, Num, parse_assignment, to_text

N = sp.Symbol("N")


class Rearranger:
    """Converts a layer's formulas to SymPy with product stages inlined, and back."""

    def __init__(self, layer: Layer):
        self.layer = layer
        kinds = {**layer.graph.kinds, "dy": layer.output_kind}
        self.rows = {sp.Symbol(n) for n, k in kinds.items() if k == ROW}
        self.sums: dict[sp.Symbol, sp.Expr] = {}  # S[m] -> m
        self.inlined: dict[str, sp.Expr] = {}
        self.named: dict[sp.Symbol, sp.Expr] = {}  # row stages kept as names -> their value
        for name in layer.graph.stages:
            if kinds[name] == ROW:
                value = sp.expand(self.to_sympy(parse_assignment(layer.stage_text[name])[1]))
                if self.is_monomial(value):
                    self.inlined[name] = value
                else:
                    self.named[sp.Symbol(name)] = value

    def recognise(self, e: sp.Expr) -> sp.Expr:
        """Write the named row stages back into e (``x - mu`` becomes ``xmu``), so that
        expanding e cannot undo a centring."""
        for symbol, value in reversed(self.named.items()):
            e = e.subs(value, symbol)
        return e

    # --- expr -> SymPy ---------------------------------------------------------------

    def to_sympy(self, e: Expr) -> sp.Expr:
        if isinstance(e, Num):
            return sp.Rational(e.value.numerator, e.value.denominator)
        if isinstance(e, Name):
            return N if e.id == "N" else self.inlined.get(e.id, sp.Symbol(e.id))
        if isinstance(e, Neg):
            return -self.to_sympy(e.arg)
        if isinstance(e, BinOp):
            a, b = self.to_sympy(e.left), self.to_sympy(e.right)
            return {"+": a + b, "-": a - b, "*": a * b, "/": a / b, "**": a**b}[e.op] if e.op != "**" else a**b
        body = self.to_sympy(e.arg)
        if e.fn == "sum":
            return self.slice_sum(body)
        if e.fn == "mean":
            return self.slice_sum(body) / N
        return {"sqrt": sp.sqrt, "exp": sp.exp, "log": sp.log}[e.fn](body)

    def slice_sum(self, body: sp.Expr) -> sp.Expr:
        """Σ over the slice: N·c for a scalar term, c·S[m] for c times a row monomial m."""
        total = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(self.recognise(body))):
            c, m = self.split(term)
            if m == 1:
                total += N * c
            else:
                atom = next((s for s, b in self.sums.items() if b == m), None)
                if atom is None:
                    atom = sp.Symbol(f"S[{m}]")
                    self.sums[atom] = m
                total += c * atom
        return total

    def split(self, term: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """A product as (scalar part, row part)."""
        scalar, row = [], []
        for f in sp.Mul.make_args(term):
            (row if f.free_symbols & self.rows else scalar).append(f)
        return sp.Mul(*scalar), sp.Mul(*row)

    def is_monomial(self, value: sp.Expr) -> bool:
        """A single product whose row factors are names to integer powers."""
        if isinstance(value, sp.Add):
            return False
        _, row = self.split(value)
        for f in sp.Mul.make_args(row):
            base, exp = f.as_base_exp()
            if row != 1 and not (base in self.rows and exp.is_Integer):
                return False
        return True

    # --- the fast form -------------------------------------------------------------

    def fast(self, e: Expr) -> Expr:
        """The formula as Σ coefficient·monomial (row) or one factored scalar."""
        groups: dict[sp.Expr, sp.Expr] = {}
        for term in sp.Add.make_args(sp.expand(self.recognise(self.to_sympy(e)))):
            c, m = self.split(term)
            groups[m] = groups.get(m, 0) + c
        terms = [(sp.factor(c), m) for m, c in groups.items() if sp.factor(c) != 0] or [(sp.Integer(0), sp.Integer(1))]
        terms.sort(key=lambda t: (t[1] == 1, t[0].could_extract_minus_sign(), sp.default_sort_key(t[1])))
        common = _common_factor([c for c, _ in terms]) if sum(m != 1 for _, m in terms) > 1 else sp.Integer(1)
        total = self.total([(sp.factor(c / common), m) for c, m in terms])
        return total if common == 1 else BinOp("*", self.to_expr(common), total)

    def total(self, terms: list[tuple[sp.Expr, sp.Expr]]) -> Expr:
        out: Expr | None = None
        for c, m in terms:
            negative = c.could_extract_minus_sign() and out is not None
            term = self.term(-c if negative else c, m)
            out = term if out is None else BinOp("-" if negative else "+", out, term)
        return out

    def term(self, c: sp.Expr, m: sp.Expr) -> Expr:
        if m == 1:
            return self.to_expr(c)
        if c == 1:
            return self.to_expr(m)
        if c == -1:
            return Neg(self.to_expr(m))
        return _fold("*", [self.to_expr(c), *(self.to_expr(f) for f in sp.Mul.make_args(m))])

    # --- SymPy -> expr ------------------------------------------------------------

    def to_expr(self, e: sp.Expr) -> Expr:
        if e.is_Rational:
            value = Fraction(int(e.p), int(e.q))
            return Neg(Num(-value)) if value < 0 else Num(value)
        if e.is_Symbol:
            body = self.sums.get(e)
            return Call("sum", self.to_expr(body)) if body is not None else Name(str(e))
        if e.is_Add:
            out = None
            for t in e.as_ordered_terms():
                negative = t.could_extract_minus_sign() and out is not None
                x = self.to_expr(-t if negative else t)
                out = x if out is None else BinOp("-" if negative else "+", out, x)
            return out
        if e.is_Mul:
            return self.product(e)
        if e.is_Pow:
            return self.power(e.base, e.exp)
        if isinstance(e, (sp.exp, sp.log)):
            return Call(type(e).__name__, self.to_expr(e.args[0]))
        raise NotImplementedError(f"cannot print {e!r} ({type(e).__name__}) as a symbn formula")

    def product(self, e: sp.Expr) -> Expr:
        coeff, factors = e.as_coeff_mul()
        if coeff < 0:
            return Neg(self.product(-e))
        num = [f for f in factors if not (f.is_Pow and f.exp.is_negative)]
        den = [1 / f for f in factors if f.is_Pow and f.exp.is_negative]
        means = [f for f in num if f in self.sums] if N in den else []
        if means:  # S[m]/N prints as mean(m)
            num.remove(means[0])
            den.remove(N)
        num.sort(key=lambda f: f in self.sums)  # names first, then sums
        parts = ([self.to_expr(coeff)] if coeff != 1 else []) + [self.to_expr(f) for f in num]
        if means:
            parts.append(Call("mean", self.to_expr(self.sums[means[0]])))
        top = _fold("*", parts) if parts else Num(Fraction(1))
        return BinOp("/", top, _fold("*", [self.to_expr(f) for f in den])) if den else top

    def power(self, base: sp.Expr, exp: sp.Expr) -> Expr:
        if exp == sp.Rational(1, 2):
            return Call("sqrt", self.to_expr(base))
        if exp.is_negative:
            return BinOp("/", Num(Fraction(1)), self.power(base, -exp))
        value = Num(Fraction(int(exp.p), int(exp.q)))
        return BinOp("**", self.to_expr(base), value)


def _common_factor(coefficients: list[sp.Expr]) -> sp.Expr:
    """The product of the factors (to their least power > 0) that every coefficient
    has, e.g. gamma*ivar for gamma*ivar, -gamma*ivar**3*S/N and -gamma*ivar*S'/N:
    the row part is then summed in place and scaled once."""
    powers = [sp.Mul(c).as_powers_dict() for c in coefficients]
    common = sp.Integer(1)
    for base, exp in powers[0].items():
        if base.is_number or not all(base in p and p[base].is_positive for p in powers):
            continue
        least = min(p[base] for p in powers)
        if exp.is_positive and least.is_positive:
            common *= base**least
    return common


def _fold(op: str, parts: list[Expr]) -> Expr:
    out = parts[0]
    for p in parts[1:]:
        out = BinOp(op, out, p)
    return out


def fast_forms(layer: Layer, formulas: Mapping[str, Expr] | None = None) -> dict[str, str]:
    """The fast form of each closed form (or of ``formulas``), as formula text."""
    r = Rearranger(layer)
    source = formulas if formulas is not None else {n: f.expr for n, f in layer.closed_form.items()}
    return {name: to_text(r.fast(e)) for name, e in source.items()}


__all__ = ["Rearranger", "fast_forms"]
