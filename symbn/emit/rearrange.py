"""The fast form of a gradient formula: per-slice coefficients times row monomials.

A closed form such as BatchNorm's ``gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))``
touches the big arrays many times.  Rearranged as

    gamma*ivar*(dy - ivar**2*mean(dy*xmu)*xmu - mean(dy))

every coefficient is a per-slice value computed once, and the row part is a short
sum of ``coefficient * monomial`` that the emitter evaluates in a few in-place
passes.  The formula's own equations are run by the interpreter
(:func:`symbn.ad.interpret.run`) on :class:`Rows`, the moment algebra over the
layer's names, whose sum over the slice is the moment algebra's own; the result is
collected by row monomial, each coefficient factored, and printed as formula text.

The text is what :mod:`.certify` proves and the printer compiles: it is parsed
again, so the code computes exactly the formula that was proved.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import sympy as sp

from symbn.ad.interpret import inputs_env, read, run
from symbn.ir.graph import Eqn
from symbn.ir.primitives import ROW
from symbn.lang.derivation import Formula, Layer
from symbn.lang.expr import BinOp, Call, Expr, Name, Neg, Num, to_text
from symbn.realise.moments import Moments


class Rows(Moments):
    """The moment algebra over a layer's own names, for rearranging.

    A row is the plain symbol of its name (``xmu``, not ``xmu[i]``), so moments read
    ``S[dy*xmu]`` and print back as ``sum(dy*xmu)``.  Run over the stages
    (:meth:`stage`), a scalar stage is its symbol; a row stage that is a product
    (``xhat = xmu*ivar``, ``sq = xmu**2``) is inlined, so no array is spent on a
    scaled copy; one with a sum (``xmu = x - mu``) stays a named atom, because
    expanding it would bring back the cancellation that two-pass statistics avoid.
    """

    def __init__(self, kinds: Mapping[str, str]):
        super().__init__(kinds)
        self.named: dict[sp.Symbol, sp.Expr] = {}  # row stages kept as atoms -> their value

    def input(self, name: str) -> sp.Expr:
        if self.kinds[name] == ROW and name not in self.i_atom:
            self.i_atom[name], self.j_atom[name] = sp.Symbol(name), sp.Symbol(f"{name}[j]")
        return super().input(name)

    def split(self, term: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
        """A product as (scalar part, row part)."""
        scalar, row = [], []
        for f in sp.Mul.make_args(term):
            (row if f.free_symbols & self.i_atoms else scalar).append(f)
        return sp.Mul(*scalar), sp.Mul(*row)

    def monomial(self, value: sp.Expr) -> bool:
        """A single product whose row factors are rows to integer powers."""
        if isinstance(value, sp.Add):
            return False
        _, row = self.split(value)
        for f in sp.Mul.make_args(row):
            base, exp = f.as_base_exp()
            if row != 1 and not (base in self.i_atoms and exp.is_Integer):
                return False
        return True

    def stage(self, eqn: Eqn, value: sp.Expr) -> sp.Expr:
        """What a stage's equation leaves in the environment (for :func:`run`'s ``then``)."""
        name = eqn.out
        if name.temp:
            return self.recognise(value)
        if self.kinds[name] != ROW:
            return self.input(name)
        value = sp.expand(value)
        if self.monomial(value):
            return value
        atom = self.input(name)
        self.named[atom] = value
        return atom

    def recognise(self, value: sp.Expr) -> sp.Expr:
        """The named row stages written back into a value (``x - mu`` becomes ``xmu``),
        so that expanding it cannot undo a centring."""
        value = sp.sympify(value)
        for atom, body in reversed(self.named.items()):
            value = value.subs(body, atom)
        return value


class Rearranger:
    """A layer's stages on :class:`Rows`, and each formula's fast form.  ``kinds``: the
    free names formulas may read besides the layer's (default dy and the adjoints;
    :meth:`~symbn.lang.layer.Layer.second_order_kinds` for second-order formulas)."""

    def __init__(self, layer: Layer, kinds: Mapping[str, str] | None = None):
        graph = layer.graph
        free = {"dy": layer.output_kind, **layer.adjoint_kinds()} if kinds is None else kinds
        self.B = Rows({**graph.kinds, **free})
        self.env = run(graph.eqns, inputs_env(graph, self.B), self.B, then=self.B.stage)

    def value(self, formula: Formula) -> sp.Expr:
        """The formula's value on :class:`Rows`, named row stages recognised as they arise."""
        env = dict(self.env)
        made = {e.out for e in formula.eqns}
        read_ = {a for e in formula.eqns for a in e.vars} | ({formula.result} if isinstance(formula.result, str) else set())
        env.update({a: self.B.input(a) for a in read_ - made if a not in env})  # dy, adjoints
        run(formula.eqns, env, self.B, then=lambda eqn, value: self.B.recognise(value))
        return read(env, self.B, formula.result)

    def fast(self, formula: Formula) -> Expr:
        """The formula as Σ coefficient·monomial (row) or one factored scalar."""
        return self.fast_value(self.value(formula))

    def fast_value(self, value: sp.Expr) -> Expr:
        """A value on :class:`Rows` as Σ coefficient·monomial (row) or one factored scalar."""
        groups: dict[sp.Expr, sp.Expr] = {}
        for term in sp.Add.make_args(sp.expand(value)):
            c, m = self.B.split(term)
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

    # --- SymPy -> formula ------------------------------------------------------------

    def to_expr(self, e: sp.Expr) -> Expr:
        if e.is_Rational:
            value = Fraction(int(e.p), int(e.q))
            return Neg(Num(-value)) if value < 0 else Num(value)
        if e.is_Symbol:
            body = self.B.moment_body.get(e)
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
        sums = self.B.moment_body
        num = [f for f in factors if not (f.is_Pow and f.exp.is_negative)]
        den = [1 / f for f in factors if f.is_Pow and f.exp.is_negative]
        means = [f for f in num if f in sums] if self.B.N in den else []
        if means:  # S[m]/N prints as mean(m)
            num.remove(means[0])
            den.remove(self.B.N)
        num.sort(key=lambda f: f in sums)  # names first, then sums
        parts = ([self.to_expr(coeff)] if coeff != 1 else []) + [self.to_expr(f) for f in num]
        if means:
            parts.append(Call("mean", self.to_expr(sums[means[0]])))
        top = _fold("*", parts) if parts else Num(Fraction(1))
        return BinOp("/", top, _fold("*", [self.to_expr(f) for f in den])) if den else top

    def power(self, base: sp.Expr, exp: sp.Expr) -> Expr:
        if exp == sp.Rational(1, 2):
            return Call("sqrt", self.to_expr(base))
        if exp.is_negative:
            return BinOp("/", Num(Fraction(1)), self.power(base, -exp))
        if exp == 1:  # 1/N, not 1/N**1
            return self.to_expr(base)
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


def fast_forms(layer: Layer, formulas: Mapping[str, Formula] | None = None,
               kinds: Mapping[str, str] | None = None) -> dict[str, str]:
    """The fast form of each closed form (or of ``formulas``: lowered formulas of
    this layer, such as its claims or its ``[second_order]``, whose free names and
    their kinds are ``kinds``), as formula text."""
    r = Rearranger(layer, kinds)
    source = formulas if formulas is not None else layer.closed_form
    return {name: to_text(r.fast(f)) for name, f in source.items()}


__all__ = ["Rearranger", "Rows", "fast_forms"]
