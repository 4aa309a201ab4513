r"""The moment algebra: exact symbolic computation over a slice of *every* size N.

A value over the slice is a SymPy expression in

- **i-atoms** ``x_i, dy_i, gamma_i, ...``: row quantities at a generic bound index i,
  and ``δ_ij``, Kronecker's delta between i and the free index j;
- **j-atoms** ``x_j, dy_j, ...``: row quantities at the free index j;
- scalars (``gamma``, ``eps``), the size ``N`` (a positive integer symbol), and
- **moment atoms** ``S[m] = \sum_i m(i)`` for each monomial ``m`` of i-atoms.

A row quantity is an expression with i-atoms; a scalar one has none.  The only
rule that needs care is the sum over the slice (:meth:`Moments.sum`)::

    expand, then per term  c·m(i):   Σ_i c = N·c,   Σ_i c·δ_ij·h(i) = c·h(j),
                                     Σ_i c·m(i) = c·S[m]

Forward-mode tangents are linear in ``δ_ij`` (the seed ẋ_i = δ_ij), so the same
representation carries them; no special tangent type is needed.  The protocol it
implements is :mod:`symbn.realise.protocol`.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

import sympy as sp

from symbn.ir.primitives import ROW
from symbn.realise.protocol import Point

N = sp.Symbol("N", integer=True, positive=True)
DELTA = sp.Symbol("δ[i,j]")  # atom names hold brackets: no file name (an identifier) can equal one


class Moments:
    """The general-N realisation: values are SymPy expressions as described above."""

    def __init__(self, kinds: Mapping[str, str], positive: set[str] = frozenset(), size: sp.Symbol = N,
                 label: str = ""):
        """``size`` and ``label``: a shard's own size symbol and a tag for its moments (S2[x])."""
        self.N, self.label = size, label
        self.kinds = dict(kinds)
        self.positive = set(positive)
        self.i_atom: dict[str, sp.Symbol] = {}
        self.j_atom: dict[str, sp.Symbol] = {}
        self.scalar: dict[str, sp.Symbol] = {}
        self.moment_body: dict[sp.Symbol, sp.Expr] = {}  # S[m] -> m (in i-atoms)
        self._moment: dict[sp.Expr, sp.Symbol] = {}
        self._sum_cache: dict[sp.Expr, sp.Expr] = {}

    # --- atoms -----------------------------------------------------------------

    def input(self, name: str) -> sp.Expr:
        """The primal value of an input (or of dy): its atom at i, or its scalar symbol."""
        if self.kinds[name] == ROW:
            if name not in self.i_atom:
                self.i_atom[name] = sp.Symbol(f"{name}[i]")
                self.j_atom[name] = sp.Symbol(f"{name}[j]")
            return self.i_atom[name]
        if name not in self.scalar:
            self.scalar[name] = sp.Symbol(name, positive=True) if name in self.positive else sp.Symbol(name)
        return self.scalar[name]

    def seed(self, kind: str) -> sp.Expr:
        """The tangent of the input being differentiated: δ_ij for a row, 1 for a per-slice one."""
        return DELTA if kind == ROW else sp.Integer(1)

    def const(self, value: Fraction) -> sp.Expr:
        return sp.Rational(value.numerator, value.denominator)

    def moment(self, body: sp.Expr) -> sp.Symbol:
        """The atom S[body]; one symbol per distinct body."""
        atom = self._moment.get(body)
        if atom is None:
            atom = sp.Symbol(f"S{self.label}[{body}]")
            self._moment[body] = atom
            self.moment_body[atom] = body
        return atom

    @property
    def moments(self) -> dict[sp.Symbol, sp.Expr]:
        """Every moment atom so far -> its body."""
        return self.moment_body

    def atoms(self, name: str) -> tuple[sp.Symbol, ...]:
        """The atoms that stand for an input in a value at j: its j-atom, or its symbol."""
        self.input(name)
        return (self.j_atom[name],) if self.kinds[name] == ROW else (self.scalar[name],)

    @property
    def i_atoms(self) -> set[sp.Symbol]:
        return {*self.i_atom.values(), DELTA}

    # --- the primitives a realisation provides -------------------------------------

    def sqrt(self, v: sp.Expr) -> sp.Expr:
        return sp.sqrt(v)

    def exp(self, v: sp.Expr) -> sp.Expr:
        return sp.exp(v)

    def log(self, v: sp.Expr) -> sp.Expr:
        return sp.log(v)

    def sum(self, v: sp.Expr) -> sp.Expr:
        """Σ_i v(i) over the slice, in moment atoms: term by term (the sum is linear), each
        term's per-slice factors kept as they are and only its row part expanded."""
        v = sp.sympify(v)
        cached = self._sum_cache.get(v)
        if cached is None:
            cached = self._sum_cache[v] = sp.Add(*(self._sum_product(t) for t in sp.Add.make_args(v)))
        return cached

    def _sum_product(self, term: sp.Expr) -> sp.Expr:
        cached = self._sum_cache.get(term)
        if cached is None:
            i_atoms = self.i_atoms
            outer, inner = [], []
            for factor in sp.Mul.make_args(term):
                (inner if factor.free_symbols & i_atoms else outer).append(factor)
            c = sp.Mul(*outer)
            if not inner:
                cached = self.N * c
            else:
                cached = c * sp.Add(*(self._sum_term(t) for t in sp.Add.make_args(sp.expand(sp.Mul(*inner)))))
            self._sum_cache[term] = cached
        return cached

    def _sum_term(self, term: sp.Expr) -> sp.Expr:
        i_atoms = self.i_atoms
        outer, inner = [], []
        for factor in sp.Mul.make_args(term):
            (inner if factor.free_symbols & i_atoms else outer).append(factor)
        c, m = sp.Mul(*outer), sp.Mul(*inner)
        if not inner:
            return self.N * c
        if m.has(DELTA):  # Σ_i δ_ij h(i) = h(j); tangents are linear in δ
            return c * self.at_j(m)
        return c * self.moment(m)

    # --- one device: a shard is the whole slice ------------------------------------------------

    @property
    def Nk(self):
        return self.N

    def shard_sum(self, v):
        return self.sum(v)

    def allreduce(self, v):
        return v

    def at_j(self, v: sp.Expr) -> sp.Expr:
        """The value at the free index j: i-atoms become j-atoms, δ_jj = 1."""
        sub = {a: self.j_atom[n] for n, a in self.i_atom.items()}
        sub[DELTA] = sp.Integer(1)
        return sp.sympify(v).xreplace(sub)

    def diff(self, f: sp.Expr, name: str) -> sp.Expr:
        """∂f/∂name (at the free index j for a row input) of a per-slice f in moment atoms.

        SymPy differentiates with respect to the atoms; the one fact it cannot know is
        how a moment moves with the data, ∂S[m]/∂x_j = ∂m/∂x (at j), and through a
        moment nested in m, which is applied here::

            ∂f/∂θ = ∂f/∂θ (direct) + Σ_M ∂f/∂M · ∂M/∂θ,   ∂S[m]/∂θ = Σ_i ∂m/∂θ + Σ_K Σ_i ∂m/∂K · ∂K/∂θ
        """
        theta = self.input(name)
        row = self.kinds[name] == ROW
        cache: dict[sp.Symbol, sp.Expr] = {}

        def d_moment(M: sp.Symbol) -> sp.Expr:
            if M not in cache:
                body = self.moment_body[M]
                d = sp.diff(body, theta)
                own = self.at_j(d) if row else self.sum(d)
                inner = [K for K in body.free_symbols if K in self.moment_body]
                cache[M] = own + sp.Add(*(self.sum(sp.diff(body, K)) * d_moment(K) for K in inner))
            return cache[M]

        f = sp.sympify(f)
        head = sp.Integer(0) if row else sp.diff(f, theta)
        return head + sp.Add(*(sp.diff(f, M) * d_moment(M) for M in f.free_symbols if M in self.moment_body))

    def zero(self, value: sp.Expr, name: str) -> sp.Expr:
        """``value`` with the per-slice input ``name`` set to 0: moments whose bodies hold it
        (or hold such a moment) are summed again."""
        atom = self.input(name)
        memo: dict[sp.Symbol, sp.Expr | None] = {}

        def moved(M: sp.Symbol) -> sp.Expr | None:  # the moment with atom = 0, or None if it does not hold it
            if M not in memo:
                body = self.moment_body[M]
                inner = {K: moved(K) for K in body.free_symbols if K in self.moment_body}
                inner = {K: v for K, v in inner.items() if v is not None}
                memo[M] = self.sum(body.xreplace({atom: 0, **inner})) if atom in body.free_symbols or inner else None
            return memo[M]

        value = sp.sympify(value)
        sub = {M: moved(M) for M in value.free_symbols if M in self.moment_body}
        return value.xreplace({atom: 0, **{M: v for M, v in sub.items() if v is not None}})

    # --- evaluation at data -----------------------------------------------------------

    def substitution(self, point: Point) -> dict[sp.Symbol, sp.Expr]:
        """Atoms -> exact values at a data point (slice size, free index, values:
        lists for rows, numbers for per-slice inputs, as SymPy numbers)."""
        n, j, data = point.n, point.j, point.values
        sub: dict[sp.Symbol, sp.Expr] = {self.N: sp.Integer(n)}
        for name, atom in self.scalar.items():
            sub[atom] = data[name]
        for name, atom in self.j_atom.items():
            sub[atom] = data[name][j]
        rows = [{self.i_atom[name]: data[name][k] for name in self.i_atom} for k in range(n)]
        for atom, body in self.moment_body.items():  # in creation order: inner moments first
            sub[atom] = sp.Add(*(body.xreplace(row) for row in rows)).xreplace(sub)
        return sub
