r"""The normal form: radicals, exponentials and logarithms named, then a fraction of polynomials.

An expression from a realisation is a SymPy expression in atoms (N, inputs, moment
atoms S[m], entries x[j] ...) with radicals R**(p/q), ``exp`` and ``log``.  To decide
whether it is zero on the layer's real domain, :class:`Canonical` rewrites it as a
rational function of atoms, then tests the numerator (:mod:`symbn.proof.polys`):

- **Radicals.**  The radicand is brought to a fraction and factored.  A factor whose
  sign the layer gives (a positive atom, a manifestly positive polynomial, a fact
  such as Σ(x−μ)² ≥ 0) has a root of its own, t = f^{1/q} > 0.  When f is linear
  in an atom v (ε in v + ε, S[x²] in an unbiased variance, the constant c of N − c),
  v is *eliminated*: v = (t^q − b)/a everywhere, and t is a free atom.  Otherwise t
  keeps its *relation* t^q = f, and numerators are reduced modulo the relations
  (they form a Gröbner basis: their leading monomials are powers of distinct roots).
  Factors of unknown sign stay together under one root, allowed only where the
  domain gives the sign: a radicand of the layer itself, or a fact.  Otherwise the
  question is :class:`Undecided`, never guessed: a root's sign is never assumed.
- **exp** of a sum is a product of exp of its terms (atoms, positive).  **log** of a
  product or quotient of positive factors is the sum of their logs, and
  log(exp(a)) = a.

Soundness: a numerator reduced to 0 is zero at every point of the domain (the
eliminations are identities there, and the relations hold there).  A non-zero
normal form proves nothing; refutations are counterexamples (:mod:`symbn.proof.refute`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from fractions import Fraction

import sympy as sp

from symbn.proof.polys import Poly, Ring, linear_in, ring_for

FREE_ROOT = 3  # how eagerly a free root is eliminated, among the ranks the prover gives


class Undecided(Exception):
    """The normal form cannot be built soundly (a root whose radicand's sign is unknown ...)."""


class NoValue(Undecided):
    """The expression divides by zero (or is 0/0) at every point: it has no value to compare."""


class Root:
    """t = f**(1/q) > 0 for a polynomial f (in the atoms of its time)."""

    def __init__(self, symbol: sp.Symbol, radicand: sp.Expr, q: int, free: bool):
        self.symbol, self.radicand, self.q, self.free = symbol, radicand, q, free


class Canonical:
    """Normal forms over one realisation's atoms, sharing one table of named roots.

    ``rank(atom)``: how eagerly an atom may be eliminated (lower first; None: never).
    ``bodies``: moment atom -> its body, so that a moment of a positive body is positive.
    """

    def __init__(self, rank: Callable[[sp.Symbol], int | None], bodies: Mapping[sp.Symbol, sp.Expr] = {}):
        self.rank, self.bodies = rank, bodies
        self.solved: dict[sp.Symbol, sp.Expr] = {}  # eliminated atom -> its value in other atoms
        self.roots: dict[tuple, Root] = {}  # (radicand, q) -> root
        self.by_symbol: dict[sp.Symbol, Root] = {}
        self.facts: list[sp.Expr] = []  # expressions the domain makes >= 0
        self.exps: dict[sp.Expr, sp.Symbol] = {}  # monomial m -> the atom exp[m]
        self.exp_of: dict[sp.Symbol, sp.Expr] = {}
        self.logs: dict[sp.Expr, sp.Symbol] = {}  # positive irreducible factor f -> the atom log[f]
        self.log_of: dict[sp.Symbol, sp.Expr] = {}
        self._memo: dict[tuple, sp.Expr] = {}
        self._signs: dict[sp.Expr, int] | None = None
        self._trusted = False

    # --- the public questions -------------------------------------------------------------

    def rewrite(self, e, trusted: bool = False) -> sp.Expr:
        """``e`` with radicals, exp and log renamed and eliminated atoms substituted.
        ``trusted``: the expression is the layer's own, so the domain gives its radicands' signs."""
        e = sp.sympify(e)
        previous, self._trusted = self._trusted, trusted
        try:
            while True:
                known = len(self.solved)
                out = self._rw(e)
                if len(self.solved) == known:
                    return out
                self._memo.clear()  # an atom was eliminated mid-way: again, with it substituted
                self._signs = None
        finally:
            self._trusted = previous

    def fact(self, e) -> None:
        """Record that ``e`` (the layer's own, e.g. a sum of squares) is >= 0 on the domain."""
        self.facts.append(sp.sympify(e))
        self._signs = None

    def zero(self, e) -> bool:
        """True if ``e`` is zero at every point of the domain where it is defined.
        False means only that the normal form is not 0.  Raises :class:`Undecided`."""
        form = self.rewrite(e)
        if form.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            raise NoValue("the expression divides by zero at every point")
        needed, todo = {}, list(Ring.atoms_of(form))
        while todo:  # the relations of the roots in the form, and of the roots in their radicands
            root = self.by_symbol.get(todo.pop())
            if root is not None and not root.free and root.symbol not in needed:
                needed[root.symbol] = self._rw(root.radicand)
                todo += Ring.atoms_of(needed[root.symbol])
        relations = [r for r in reversed(self.by_symbol.values()) if r.symbol in needed]
        radicands = [needed[r.symbol] for r in relations]
        ring = ring_for([form, *radicands], first=[r.symbol for r in relations])
        try:
            num, den = ring.frac(form)
        except ZeroDivisionError:
            raise NoValue("the expression divides by zero at every point") from None
        reduce = self._reducer(ring, relations, radicands)
        if not reduce(num).is_zero():
            return False
        if reduce(den).is_zero():
            raise NoValue("the expression is 0/0 at every point of the domain")
        return True

    def positive(self, e) -> bool:
        """True if ``e`` is known to be > 0 on the domain (where it is not 0): every factor
        positive (an atom, a manifestly positive polynomial, a fact) or to an even power."""
        try:
            c, factors, ring = self._split(self.rewrite(e))
        except (Undecided, ZeroDivisionError):
            return False
        return c > 0 and all(k % 2 == 0 or self._sign(ring, f) > 0 for f, k in factors)

    # --- the walk -----------------------------------------------------------------------

    def _rw(self, e: sp.Expr) -> sp.Expr:
        key = (e, self._trusted)
        hit = self._memo.get(key)
        if hit is not None:
            return hit
        if e.is_Atom:
            out = self.solved.get(e, e)
        elif e.is_Pow and e.exp.is_Rational and not e.exp.is_Integer:
            out = self._radical(self._current(self._rw(e.base)), e.exp)
        elif isinstance(e, sp.exp):
            out = self._exp(self._current(self._rw(e.args[0])))
        elif isinstance(e, sp.log):
            out = self._log(self._current(self._rw(e.args[0])))
        else:
            out = e.func(*(self._rw(a) for a in e.args))
            if out.is_Pow and out.exp.is_Rational and not out.exp.is_Integer:  # SymPy made one
                out = self._rw(out)
        self._memo[key] = out
        return out

    def _current(self, e: sp.Expr) -> sp.Expr:
        """e with every atom eliminated so far substituted: an elimination made while e's own
        subtree was rewritten is not in it yet, and a root of a stale radicand would be a second
        name for a root that exists."""
        stale = e.free_symbols & self.solved.keys()
        return e.xreplace({a: self.solved[a] for a in stale}) if stale else e

    def _split(self, e: sp.Expr) -> tuple[Fraction, list[tuple[sp.Expr, int]], Ring]:
        """e as c · Π f_i^e_i (c rational, f_i monic irreducible polynomials, e_i may be < 0)."""
        ring = ring_for([e])
        num, den = ring.frac(e)
        if num.is_zero():
            return Fraction(0), [], ring
        cn, fn = num.factor()
        cd, fd = den.factor()
        c = Fraction(int(cn.p), int(cn.q)) / Fraction(int(cd.p), int(cd.q))
        return c, [(f, k) for f, k in fn] + [(f, -k) for f, k in fd], ring

    def _radical(self, base: sp.Expr, r: sp.Rational) -> sp.Expr:
        """base**r: whole powers of positive factors come out; what is left is one root,
        with an atom eliminated if it can be, else one root per positive factor (a
        relation each) and one for the factors of unknown sign, taken together."""
        quick = self._linear_constant(base) if self._trusted else None
        if quick is not None:  # the layer's v + ε: one root, ε eliminated, no factoring of v
            return self._root(base, r.q, quick).symbol ** r.p
        c, factors, ring = self._split(base)
        if c == 0:
            return sp.Integer(0) if r > 0 else sp.zoo
        out, positive, unknown = sp.Integer(1), [], []
        for f, k in factors:
            sign = self._sign(ring, f)
            if sign < 0:
                f, c = -f, c * (-1) ** (k % 2)
            expr = ring.expr(f)
            if not sign:
                unknown.append((expr, k))
                continue
            whole, left = divmod(k * r.p, r.q)  # f**(k p/q) = f**whole * (f**left)**(1/q)
            out *= expr**whole
            if left:
                positive.append((expr, left))
        if unknown:
            if c < 0:
                unknown.append((sp.Integer(-1), 1))
                c = -c
            if not (all(k % 2 == 0 for _, k in unknown) or self._trusted):
                g = sp.Mul(*(f**k for f, k in unknown))
                raise Undecided(f"the sign of {g} on the layer's domain is not known, so its root "
                                f"({g})**({r}) cannot be named (a root's sign is never assumed)")
        if c < 0:
            raise Undecided(f"a root of a negative number: ({base})**({r})")
        group = sp.Mul(*(f ** (k * r.p) for f, k in unknown))
        left = sp.Mul(*(f**k for f, k in positive)) * group
        if left != 1:
            if (left, r.q) in self.roots or self._linear(left):
                out *= self._root(left, r.q).symbol
            else:  # nothing to eliminate: a relation per positive factor, one for the rest
                for f, k in positive:
                    out *= self._root(f, r.q).symbol ** k
                if group != 1:
                    out *= self._root(group, r.q).symbol
        return out * self._rw_numeric(sp.Rational(c.numerator, c.denominator) ** r)

    def _linear(self, f: sp.Expr) -> bool:
        """f = P/Q with P and Q of degree at most 1 in an atom that may be eliminated, and not both 0."""
        ring = ring_for([f])
        num, den = ring.frac(f)
        return any(self._eliminable(a) and max(num.degrees()[k], den.degrees()[k]) == 1
                   for k, a in enumerate(ring.atoms))

    def _rw_numeric(self, e: sp.Expr) -> sp.Expr:
        """A SymPy number such as 2*sqrt(3): its radicals of integers as roots with relations."""
        return e.replace(lambda t: t.is_Pow and t.base.is_Integer and t.exp.is_Rational and not t.exp.is_Integer,
                         lambda t: self._power(t.base, t.exp))

    def _power(self, f: sp.Expr, s: sp.Rational) -> sp.Expr:
        """f**s for f > 0 on the domain (a polynomial, or a positive group of factors)."""
        s = sp.Rational(s)
        whole, part = divmod(s.p, s.q)
        if part == 0:
            return f**whole
        return f**whole * self._root(f, s.q).symbol**part

    def _linear_constant(self, base: sp.Expr) -> sp.Symbol | None:
        """An atom base is linear in with a constant coefficient (ε in v + ε), most eliminable first."""
        first = min(((self.rank(a), sp.default_sort_key(a), a) for a in base.free_symbols
                    if self._eliminable(a) and a not in self.by_symbol), default=None)
        if first is not None and first[0] <= 1:  # a constant (ε): SymPy's diff does not expand v
            d = sp.diff(base, first[2])
            if d.is_number and d != 0:
                return first[2]
        ring = ring_for([base])
        try:
            num, den = ring.frac(base)
        except ZeroDivisionError:
            return None
        ranked = sorted((self.rank(a), sp.default_sort_key(a), k) for k, a in enumerate(ring.atoms)
                        if a.is_Symbol and self._eliminable(a) and a not in self.by_symbol)
        for _, _, k in ranked:
            if den.is_constant() and num.degrees()[k] == 1 and num.derivative(k).is_constant():
                return ring.atoms[k]
        return None

    def _root(self, f: sp.Expr, q: int, atom: sp.Symbol | None = None) -> Root:
        found = self.roots.get((f, q))
        if found is not None:
            return found
        symbol = sp.Symbol(f"s[{len(self.roots) + 1}]", positive=True)  # brackets: never a file's name
        if atom is not None:  # f = d·atom + rest with a number d: solved without expanding rest
            d = sp.diff(f, atom)
            self._solve(atom, (symbol**q - f.xreplace({atom: 0})) / d)  # d is a number: the diff is cheap
            free = True
        else:
            free = self._eliminate(f, symbol**q)
        root = self.roots[(f, q)] = self.by_symbol[symbol] = Root(symbol, f, q, free)
        return root

    def _eliminate(self, f: sp.Expr, value: sp.Expr) -> bool:
        """Solve f = value for the most eliminable atom v of f = P/Q with P and Q of degree
        at most 1 in v (so value·Q − P = a·v + b); True if one was."""
        ring = ring_for([f, value])
        num, den = ring.frac(f)
        lhs = ring.frac(value)[0] * den - num
        ranked = sorted((FREE_ROOT if a in self.by_symbol else self.rank(a), sp.default_sort_key(a), k)
                        for k, a in enumerate(ring.atoms) if self._eliminable(a) and a not in value.free_symbols)
        for _, _, k in ranked:
            if max(num.degrees()[k], den.degrees()[k]) != 1 or lhs.degrees()[k] != 1:
                continue
            a, b = linear_in(lhs, k)
            self._solve(ring.atoms[k], -ring.expr(b) / ring.expr(a) if not a.is_constant() else ring.expr(-b / a))
            return True
        return False

    def _solve(self, atom: sp.Symbol, solution: sp.Expr) -> None:
        self.solved = {v: w.xreplace({atom: solution}) for v, w in self.solved.items()}
        self.solved[atom] = solution

    def _eliminable(self, a: sp.Basic) -> bool:
        root = self.by_symbol.get(a)
        return a.is_Symbol and (root.free if root is not None else self.rank(a) is not None)

    def _exp(self, arg: sp.Expr) -> sp.Expr:
        """exp of a sum: the product of an atom exp[m] > 0 per monomial m, to its coefficient."""
        out = sp.Integer(1)
        for term in sp.Add.make_args(sp.expand(arg)):
            c, m = term.as_coeff_Mul()
            if m in self.log_of:  # exp(c log f) = f**c
                f = self.log_of[m]
                out *= f**c if c.is_Integer else self._radical(f, c)
                continue
            if not c.is_Integer:
                c, m = sp.Integer(1), term
            out *= self._exp_atom(m) ** int(c)
        return out

    def _exp_atom(self, m: sp.Expr) -> sp.Symbol:
        atom = self.exps.get(m)
        if atom is None:
            atom = self.exps[m] = sp.Symbol(f"exp[{m}]", positive=True)
            self.exp_of[atom] = m
        return atom

    def _log(self, arg: sp.Expr) -> sp.Expr:
        c, factors, ring = self._split(arg)
        if c <= 0 and not factors:
            raise Undecided(f"the log of a number that is not positive: log({arg})")
        out, unknown = sp.Integer(0), []
        for f, k in factors:
            sign = self._sign(ring, f)
            if sign < 0:
                f, c = -f, c * (-1) ** (k % 2)
            expr = ring.expr(f)
            if sign:
                out += k * self._log_positive(expr)
            else:
                unknown.append((expr, k))
        if unknown:
            g = sp.Mul(*(f**k for f, k in unknown))
            if c < 0:
                g, c = -g, -c
            if not self._trusted:
                raise Undecided(f"the sign of {g} on the layer's domain is not known, so log({g}) cannot be split")
            out += self._log_positive(g)
        if c <= 0:
            raise Undecided(f"the log of a quantity that is not positive: log({arg})")
        n, d = sp.factorint(c.numerator), sp.factorint(c.denominator)
        primes = [(p, k) for p, k in n.items()] + [(p, -k) for p, k in d.items()]
        return out + sum(k * self._log_positive(sp.Integer(p)) for p, k in primes)

    def _log_positive(self, f: sp.Expr) -> sp.Expr:
        """log of a positive irreducible factor: log(exp[m]) = m, a root's through its radicand, else an atom."""
        if f in self.exp_of:
            return self.exp_of[f]
        root = self.by_symbol.get(f)
        if root is not None and not root.free:
            return self._log(self._rw(root.radicand)) / root.q
        atom = self.logs.get(f)
        if atom is None:
            atom = self.logs[f] = sp.Symbol(f"log[{f}]")
            self.log_of[atom] = f
        return atom

    # --- signs ----------------------------------------------------------------------------

    def _sign(self, ring: Ring, f: Poly) -> int:
        """+1 if the monic polynomial f is positive on the domain, -1 if negative, 0 if unknown."""
        if self._manifest(ring, f):
            return 1
        if self._manifest(ring, -f):
            return -1
        return self._fact_signs().get(ring.expr(f), 0)

    def _manifest(self, ring: Ring, f: Poly) -> bool:
        """Every term positive: a positive coefficient, and odd powers of positive atoms only."""
        for exps, coeff in f.terms():
            if coeff <= 0 or any(k % 2 and not self._positive_atom(ring.atoms[i]) for i, k in enumerate(exps)):
                return False
        return True

    def _positive_atom(self, a: sp.Basic) -> bool:
        if a.is_Symbol and a.is_positive:
            return True
        body = self.bodies.get(a)
        return body is not None and positive_body(body)

    def _fact_signs(self) -> dict[sp.Expr, int]:
        """Monic factors whose sign a fact gives: a fact c·(positive factors)·f^odd >= 0."""
        if self._signs is None:
            self._signs = {}
            for fact in self.facts:
                c, factors, ring = self._split(self.rewrite(fact, trusted=True))
                unknown = [(f, k) for f, k in factors if k % 2 and not self._manifest(ring, f)]
                if len(unknown) == 1 and c != 0:
                    self._signs[ring.expr(unknown[0][0])] = 1 if c > 0 else -1
        return self._signs

    # --- reduction modulo the relations ---------------------------------------------------------

    def _reducer(self, ring: Ring, relations: list[Root], radicands: list[sp.Expr]) -> Callable[[Poly], Poly]:
        rels = [ring.frac(r.symbol**r.q - f)[0] for r, f in zip(relations, radicands)]

        def reduce(p: Poly) -> Poly:
            while True:
                before = p
                for rel in rels:
                    p = p % rel
                if p == before:
                    return p

        return reduce


def positive_body(body: sp.Expr) -> bool:
    """A moment's body that is positive at every element: exp, even powers of reals, products, sums."""
    if isinstance(body, sp.exp):
        return True
    if body.is_Pow:
        return (body.exp.is_Integer and body.exp % 2 == 0) or positive_body(body.base)
    if body.is_Mul or body.is_Add:
        return all(positive_body(a) for a in body.args)
    return bool(body.is_positive)


__all__ = ["Canonical", "NoValue", "Root", "Undecided", "positive_body"]
