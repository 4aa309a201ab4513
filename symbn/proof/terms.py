r"""The layer's own terms: a value over one slice written as Σ coefficient · basis term.

A value from the moment algebra (:class:`~symbn.realise.moments.Moments`: x[j],
S[dy·x], sqrt(eps + ...) ...) is correct but unreadable.  People write BatchNorm's
gradient with x̂, dy, mean(dy), mean(dy·x̂) and the scalars γ, σ⁻¹.  :class:`Terms`
finds such names for any layer, from its stages alone:

- **basis names**: the latest names of the layer.  Walking the stages from last to
  first, a name that a later stage of the same kind determines (``xhat = xmu*ivar``
  gives xmu = xhat/ivar; ``sqrtvar = sqrt(var + eps)`` gives var = sqrtvar² − eps) is
  written through it; a row stage read only by statistics (``sq = xmu**2``) by its
  definition; every other name is a basis name (BatchNorm: x̂, dy, μ, σ⁻¹, γ, β, ε);
- **moment relations**: each statistic's definition in basis names, e.g. mean(x) = μ
  gives mean(x̂) = 0 and mean((x − μ)²) = v gives mean(x̂²) = 1 − ε·σ⁻²;
- a value is then rewritten in basis names (rows at j, means of monomials of rows,
  scalars), its radicals simplified, and collected by **basis term**: a product of
  rows at j and means (``xhat*mean(dy*xhat)``), with a scalar coefficient.

Every step is an identity on the layer's domain; :mod:`.difference` still proves
what it prints.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType

import sympy as sp

from symbn.ir.graph import Graph, Var
from symbn.ir.primitives import CONSTANT, ROW, div_p, exp_p, id_p, mul_p, pow_p, sqrt_p
from symbn.realise import moments
from symbn.realise.moments import Moments


class _Names:
    """Just enough of a realisation to write a stage's equations in its arguments' names."""

    def __init__(self, N: sp.Symbol):
        self.N = N

    def const(self, q: Fraction) -> sp.Expr:
        return sp.Rational(q.numerator, q.denominator)

    sqrt, exp, log = staticmethod(sp.sqrt), staticmethod(sp.exp), staticmethod(sp.log)

    def sum(self, v):
        raise _Reduction


class _Reduction(Exception):
    pass


class Terms:
    """Basis names of one layer, and values written in them."""

    split = False  # a slice split across devices (:class:`~.split_terms.SplitTerms`)
    shard: Mapping[sp.Symbol, sp.Expr] = MappingProxyType({})  # its one-device sums: none on one device

    def __init__(self, graph: Graph, positive_inputs: set[str] = frozenset(), output: str = "",
                 extra: dict[str, str] | None = None):
        """``extra``: more basis names (name -> kind) that no stage defines, such as a second-order
        problem's directions dd<k>."""
        self.graph, self.N = graph, moments.N
        self.positive = _positive(graph, positive_inputs)
        kinds = {**graph.kinds, **(extra or {})}
        self.sym = {n: sp.Symbol(n, positive=True) if n in self.positive else sp.Symbol(n) for n in kinds}
        self.sym["N"] = self.N
        self.sym["dy"] = sp.Symbol("dy")
        self.row = {n for n, k in kinds.items() if k == ROW} | {"dy"}
        self.at_i = {n: sp.Symbol(f"{n}[i]") for n in self.row}
        self.defs = {s: self._definition(s) for s in graph.stages}
        self.written = self._solve(output or graph.output)
        self.moment: dict[sp.Expr, sp.Symbol] = {}  # body (in rows at i) -> S(body)
        self.body: dict[sp.Symbol, sp.Expr] = {}
        self.relations: dict[sp.Symbol, sp.Expr] = {}
        self._radicands: dict[sp.Expr, sp.Expr] = {}
        # a positive name's square, factored -> the name (sd = 1/iden - eps > 0: sqrt(var) is that)
        self._roots = {sp.factor(sp.cancel(w**2)): w for n, w in self.written.items() if n in self.positive}
        self._relate()

    # --- the basis -----------------------------------------------------------------------

    def _definition(self, stage: str) -> sp.Expr | None:
        """A stage's value in its arguments' names (None for a statistic)."""
        env = {v: self.sym[v] for v in self.graph.vars}
        B = _Names(self.N)
        try:
            for e in self.graph.stage_eqns(stage):
                env[e.out] = e.prim.impl(B, *(B.const(a) if isinstance(a, Fraction) else env[a] for a in e.args))
        except _Reduction:
            return None
        return env[stage]

    def _consumers(self, name: str) -> list[str]:
        return [s for s in self.graph.stages if name in self.graph.stage_args(s)]

    def _solve(self, output: str) -> dict[str, sp.Expr]:
        """Each name that is not a basis name -> its value in basis names."""
        kinds, written = self.graph.kinds, {}
        names = [*(str(v) for v in self.graph.inputs), *self.graph.stages]
        for n in reversed(names):
            if kinds[n] == CONSTANT:
                continue
            if n == output:
                written[n] = self.defs[n]
                continue
            users = self._consumers(n)
            for s in users:
                if s == output or kinds[s] != kinds[n] or self.defs[s] is None:
                    continue
                solved = _unique(sp.Eq(self.sym[s], self.defs[s]), self.sym[n])
                if solved is not None:
                    written[n] = solved
                    break
            else:
                if n in self.defs and self.defs[n] is not None and users and all(self.defs[s] is None for s in users):
                    written[n] = self.defs[n]  # a summand of statistics only (sq = xmu**2)
        return _closed(written, self.sym)

    def basis(self, name: str, at: str = "j") -> sp.Expr:
        """A name's value in basis names: rows at j (plain symbols) or at i."""
        value = self.written.get(name, self.sym.get(name) or sp.Symbol(name))
        return self._at_i(value) if at == "i" else value

    def _at_i(self, e: sp.Expr) -> sp.Expr:
        return sp.sympify(e).xreplace({self.sym[n]: self.at_i[n] for n in self.row})

    # --- moments -------------------------------------------------------------------------

    def S(self, body: sp.Expr) -> sp.Expr:
        """Σ_i body (body in rows at i), in basis moments, relations applied."""
        return self.summed(body, self.N, self._moment)

    def summed(self, body: sp.Expr, size, moment) -> sp.Expr:
        """Σ_i body term by term: a factor free of the rows comes out, Σ_i 1 = ``size``, and
        ``moment(m)`` names the sum of the rest."""
        rows = set(self.at_i.values())
        total = sp.Integer(0)
        for term in sp.Add.make_args(sp.expand(body)):
            outer, inner = [], []
            for f in sp.Mul.make_args(term):
                (inner if f.free_symbols & rows else outer).append(f)
            c, m = sp.Mul(*outer), sp.Mul(*inner)
            total += c * (size if m == 1 else moment(m))
        return total

    def _moment(self, m: sp.Expr) -> sp.Expr:
        if m not in self.moment:
            atom = sp.Symbol(f"S[{m}]")
            self.moment[m], self.body[atom] = atom, m
        atom = self.moment[m]
        return self.relations.get(atom, atom)

    def _relate(self) -> None:
        """The statistics' definitions as relations between moments, solved for the highest."""
        for e in self.graph.eqns:
            if not e.prim.reduction or e.out.temp:
                continue
            arg = e.args[0]
            body = self._stage_body(arg)
            if body is None:
                continue
            total = self.S(body)
            value = self.basis(str(e.out)) * (self.N if e.prim.name == "mean" else 1)
            self._solve_relation(total - value)
        for stage in self.graph.stages:  # a statistic computed in steps: var = sum(sq)/(N - 1)
            eqns = self.graph.stage_eqns(stage)
            if any(e.prim.reduction for e in eqns) and not any(e.prim.reduction and not e.out.temp for e in eqns):
                computed = self._in_moments(eqns)
                if computed is not None:
                    self._solve_relation(sp.together(computed - self.basis(stage)))

    def _solve_relation(self, relation: sp.Expr) -> None:
        """A relation between moments (= 0), solved for its highest moment not yet solved for."""
        relation = sp.expand(sp.fraction(sp.together(relation))[0])
        atoms = sorted((a for a in relation.free_symbols if a in self.body),
                       key=lambda a: (-sp.Poly(self.body[a]).total_degree(), sp.default_sort_key(a)))
        for atom in atoms:
            solved = _unique(sp.Eq(relation, 0), atom)
            if solved is not None and atom not in self.relations:
                self.relations[atom] = sp.factor(solved)
                break

    def _in_moments(self, eqns) -> sp.Expr | None:
        """A stage's value with its sums as moments of basis names (None if it reads a temporary
        of another stage)."""
        T, env = self, {}

        class Sums(_Names):
            def sum(self, v):
                return T.S(v)

        B = Sums(self.N)
        try:
            for e in eqns:
                args = []
                for a in e.args:
                    if isinstance(a, Fraction):
                        args.append(B.const(a))
                    elif a in env:
                        args.append(env[a])
                    elif a.temp:
                        return None
                    else:
                        args.append(self.basis(str(a), "i" if a.kind == ROW else "j"))
                env[e.out] = e.prim.impl(B, *args)
        except (AttributeError, TypeError):  # a primitive of a split, say
            return None
        return env[eqns[-1].out]

    def _stage_body(self, arg) -> sp.Expr | None:
        """A statistic's summand in basis names at i (None if it reads another statistic's temporary)."""
        if not isinstance(arg, Var):
            return None
        if not arg.temp:
            return self.basis(str(arg), "i")
        producer = {e.out: e for e in self.graph.eqns}
        B = _Names(self.N)

        def value(a):
            if isinstance(a, Fraction):
                return B.const(a)
            if not a.temp:
                return self.sym[a]
            e = producer[a]
            return e.prim.impl(B, *(value(b) for b in e.args))

        try:
            named = value(arg)
        except _Reduction:
            return None
        table = {self.sym[n]: w for n, w in self.written.items()}
        return self._at_i(sp.sympify(named).xreplace(table))

    # --- a value of the moment algebra, in basis names ----------------------------------------

    def express(self, value, B: Moments) -> sp.Expr:
        """A value at j of the moment algebra ``B`` in basis names."""
        sub: dict = {B.N: self.N}
        for name, atom in B.j_atom.items():
            sub[atom] = self.basis(name)
        for name, atom in B.scalar.items():
            sub[atom] = self.basis(name)
        i_sub = {atom: self.basis(name, "i") for name, atom in B.i_atom.items()}
        for atom, body in B.moment_body.items():
            sub[atom] = self.S(sp.sympify(body).xreplace(i_sub))
        return self.radicals(sp.sympify(value).xreplace(sub))

    def radicals(self, e: sp.Expr) -> sp.Expr:
        """Radicands as factored fractions; the square of a positive name has that name for its root."""
        return _radicals(e, self._radicands, self._roots)

    def moments_as_means(self) -> dict[sp.Symbol, sp.Expr]:
        return dict(self.body)


def _unique(eq: sp.Eq, x: sp.Symbol) -> sp.Expr | None:
    """The one solution of ``eq`` for x when x enters linearly (after clearing
    denominators), or under one square root (s = sqrt(u): u = s**2, s > 0); else None."""
    lhs, rhs = eq.lhs, eq.rhs
    if rhs.is_Pow and rhs.exp == sp.Rational(1, 2) and rhs.base.has(x) and not lhs.has(x):
        return _unique(sp.Eq(lhs**2, rhs.base), x)
    num = sp.fraction(sp.together(lhs - rhs))[0]
    try:
        poly = sp.Poly(sp.expand(num), x)
    except sp.PolynomialError:
        return None
    if poly.degree() != 1:
        return None
    a, b = poly.all_coeffs()
    if a.has(x) or b.has(x) or a == 0:
        return None
    return sp.cancel(-b / a)


def _closed(written: dict[str, sp.Expr], sym: dict[str, sp.Symbol]) -> dict[str, sp.Expr]:
    """Substitute the written names into each other until only basis names remain."""
    table = {sym[n]: e for n, e in written.items()}
    out = {}
    for n, e in written.items():
        for _ in range(len(table) + 1):
            nxt = e.xreplace(table)
            if nxt == e:
                break
            e = nxt
        if not e.free_symbols & set(table):
            out[n] = sp.factor(e) if e.is_Mul or e.is_Pow else e
    return out


def _radicals(e: sp.Expr, memo: dict, roots: dict | None = None) -> sp.Expr:
    """Radicands as factored fractions, so that sqrt(1/ivar**2) is 1/ivar (ivar > 0), and
    a radicand in ``roots`` (a positive value's square -> the value) is that value squared."""
    if e.is_Atom:
        return e
    args = [_radicals(a, memo, roots) for a in e.args]
    if e.is_Pow and e.exp.is_Rational and not e.exp.is_Integer:
        base = args[0]
        if base not in memo:
            memo[base] = sp.factor(sp.cancel(base))
        root = (roots or {}).get(memo[base])
        if root is not None and (2 * e.exp).is_Integer:
            return root ** int(2 * e.exp)
        return sp.Pow(memo[base], e.exp)
    return e.func(*args)


def _positive(graph: Graph, inputs: set[str]) -> set[str]:
    """Names the domain makes positive: declared inputs, roots, exp, and what is made of them."""
    pos = set(inputs) | {"N"}

    def p(a) -> bool:
        return a > 0 if isinstance(a, Fraction) else str(a) in pos

    for e in graph.eqns:
        args = e.args
        if (e.prim in (sqrt_p, exp_p) or (e.prim in (mul_p, div_p) and all(p(a) for a in args))
                or (e.prim is pow_p and p(args[0])) or (e.prim is id_p and p(args[0]))):
            pos.add(str(e.out))
    return pos


__all__ = ["Terms"]
