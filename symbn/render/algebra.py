r"""The display algebra: the engines' own rules, run over the stages' symbols.

The prover works in moment atoms (x_i, S[x], S[x²], …), where μ is ``S[x_i]/N`` and the
building blocks are unreadable.  A document should say μ, σ and x_i − μ.  So the same
primal, JVP and VJP interpreters are run once more on a realisation
(:class:`Display`, the moment algebra itself) in which every row stage is an atom
(``xhat_i`` prints as x̂_i, ``xmu_i`` as x_i − μ) and every scalar stage with a symbol
of its own is that symbol (μ, v, σ).  Sums over the slice then produce moments of stage
atoms, and the *centring identities* Σ_i r_i = 0 (for each row stage r whose sum the
engine's moment algebra reduces to 0, such as x − μ) are applied as they arise.

Nothing shown is taken on trust: :meth:`Algebra.check` maps a displayed value back to
the engine's atoms (:meth:`Algebra.to_engine`) and proves it equal to the engine's own
value with :class:`~symbn.proof.canonical.Canonical` before it may be printed.
"""

from __future__ import annotations

import re
from functools import cached_property
from typing import Any

import sympy as sp

from symbn.ad.interpret import inputs_env, run
from symbn.ad.jvp import jvp
from symbn.ad.vjp import vjp
from symbn.ir.primitives import ROW
from symbn.lang.derivation import Layer
from symbn.proof.canonical import Undecided
from symbn.proof.prover import Prover
from symbn.realise.display import Display
from symbn.realise.moments import DELTA
from symbn.render.printer import Latex, Plain

_ACCENTED = re.compile(r"(\\(?:hat|bar|tilde|dot|check)\{)([a-z])(\})")


class RenderError(RuntimeError):
    """A displayed value that is not the engine's value: a bug in the renderer, never shown."""


def is_atomic(tex: str, kind: str) -> bool:
    """A LaTeX name that is one symbol (μ, x̂, m_2; σ² for a scalar), not a formula (x − μ, σ^{-1})."""
    if any(c in tex for c in "+-()/ ") or r"\frac" in tex:
        return False
    if "^" in tex:
        return kind != ROW
    return True


def indexed(tex: str, index: str) -> str:
    return f"{{{tex}}}_{{{index}}}" if ("_" in tex or "^" in tex) else f"{tex}_{{{index}}}"


def vectorised(tex: str) -> str:
    """The whole-slice name: x -> X, \\hat{x} -> \\hat{X}, else bold."""
    if re.fullmatch("[a-z]", tex):
        return tex.upper()
    m = _ACCENTED.fullmatch(tex)
    if m:
        return m.group(1) + m.group(2).upper() + m.group(3)
    return rf"\boldsymbol{{{tex}}}"


class Algebra:
    """Display values of one layer, their LaTeX/plain names, and the checks against the engine.

    ``composite=False`` makes every stage an atom named by its code name (for the graph)."""

    def __init__(self, layer: Layer, prover: Prover | None = None, composite: bool = True):
        self.layer, self.graph = layer, layer.graph
        self.prover = prover or Prover(layer)
        self.engine = self.prover.routes
        g = self.graph
        # every stage's adjoint is displayed (a constant stage's too, as 0), not only the targets'
        kinds = {**g.kinds, "dy": layer.output_kind, **{"d" + s: g.kinds[s] for s in g.stages}, **layer.adjoint_kinds()}
        positive = {n for n, i in layer.inputs.items() if i.positive}
        self.B = Display(kinds, positive)
        self.composite = composite
        self.names: dict[sp.Symbol, str] = {}  # LaTeX per element
        self.vnames: dict[sp.Symbol, str] = {}  # LaTeX vectorised
        self.plain: dict[sp.Symbol, str] = {}
        self.expand: dict[sp.Symbol, sp.Expr] = {}  # composite atom -> expression
        self.rows: set[sp.Symbol] = {DELTA}
        self._engine: dict[sp.Symbol, Any] = {}
        self._tangents: dict[str, dict] = {}
        self.checked: list[tuple[str, sp.Expr, Any]] = []
        self.atomic = {s: not composite or is_atomic(self.tex(s), g.kinds[s]) for s in g.stages}
        for name in (*g.inputs, "dy"):
            self._name_input(name)
        self.defs: dict[str, sp.Expr] = {}
        self._rules: list[tuple[str, sp.Expr, sp.Expr]] = []
        self.env = self._primal()
        self.centred = [r for r in g.stages if g.kinds[r] == ROW and self._engine_centred(r)]
        self.B.zero = {self.B.moment(self.atom(r)) for r in self.centred}

    # --- names ---------------------------------------------------------------------------

    def tex(self, name: str) -> str:
        """The file's LaTeX for a name; a multi-letter name without one is set upright.  A row
        stage whose LaTeX is a power, such as (x − μ)², is called by its name in the file (sq,
        as CS231n does): ∂f/∂(x_j − μ)² would read as a second derivative."""
        tex = self.layer.latex_names.get(name, name)
        if self.graph.kinds.get(name) == ROW and name in self.graph.stages and "^" in tex:
            tex = name
        if tex == name and len(name) > 1:
            return r"\mathrm{" + name.replace("_", r"\_") + "}"
        return tex

    def _name_input(self, name: str) -> None:
        value = self.B.input(name)
        out = self.graph.output
        if self.B.kinds[name] != ROW:
            self._name(value, self._partial_f(self.tex(out)) if name == "dy" else self.tex(name), name)
            return
        j = self.B.j_atom[name]
        if name == "dy":
            base = self.tex(out) if self.atomic[out] else r"\mathrm{" + out.replace("_", r"\_") + "}"
            ti, tj, v = (
                self._partial_f(indexed(base, "i")),
                self._partial_f(indexed(base, "j")),
                self._partial_f(vectorised(base)),
            )
        else:
            base = self.tex(name)
            ti, tj, v = indexed(base, "i"), indexed(base, "j"), vectorised(base)
        self._name(value, ti, name, v)
        self._name(j, tj, name, v)
        self.rows |= {value, j}

    def _name(self, sym: sp.Symbol, tex: str, plain: str, vtex: str | None = None) -> None:
        self.names[sym], self.plain[sym], self.vnames[sym] = tex, plain, vtex or tex

    def name_at(self, name: str, index: str | None = None, bare: bool = False) -> str:
        """LaTeX of a variable at index i or j (or of a scalar): x_i, (x_i - μ), σ^{-1};
        ``bare``: a formula without the brackets around it (x_i - μ)."""
        if name in self.graph.stages and not self.atomic[name] and self.graph.kinds[name] == ROW:
            tex = self.latex().doprint(self.atom(name, index or "i"))
            return rf"({tex})" if self.expand[self.atom(name, index or "i")].is_Add and not bare else tex
        if self.graph.kinds.get(name) == ROW:
            return indexed(self.tex(name), index or "i")
        return self.tex(name)

    @staticmethod
    def _partial_f(tex: str) -> str:
        return rf"\frac{{\partial f}}{{\partial {tex}}}"

    # --- atoms -----------------------------------------------------------------------------

    def atom(self, name: str, index: str = "i") -> sp.Symbol:
        """The display atom of an input or stage (row: at i or j)."""
        value = self.B.input(name)
        if index == "j" and name in self.B.j_atom:
            return self.B.j_atom[name]
        return value

    def adjoint(self, name: str, index: str = "i") -> sp.Expr:
        """The symbol ∂f/∂name (at i or j); the output's is dy."""
        if name == self.graph.output:
            return self.atom("dy", index)
        kind = self.graph.kinds[name]
        sym = self.B.input("d" + name)
        if sym not in self.names:
            self._symbol(
                "d" + name, kind, lambda ix: self._partial_f(self.name_at(name, ix)), f"d{name}",
                self.engine.adjoint_value(name),
            )
        return self.atom("d" + name, index)

    def tangent(self, stage: str, wrt: str, index: str = "i") -> sp.Expr:
        """The symbol ∂stage/∂wrt (∂stage_i/∂x_j for a row wrt)."""
        key = f"T.{stage}.{wrt}"
        if key not in self.B.kinds:
            self.B.kinds[key] = self.graph.kinds[stage]
            w = self.name_at(wrt, "j")
            self._symbol(
                key,
                self.graph.kinds[stage],
                lambda ix: rf"\frac{{\partial {self.name_at(stage, ix)}}}{{\partial {w}}}",
                f"d{stage}/d{wrt}",
                self.engine_tangents(wrt).get(stage, 0),
            )
        return self.atom(key, index)

    def _symbol(self, key: str, kind: str, tex, plain: str, engine) -> None:
        sym = self.B.input(key)
        if kind == ROW:
            j = self.B.j_atom[key]
            self._name(sym, tex("i"), plain)
            self._name(j, tex("j"), plain)
            self.rows |= {sym, j}
            self._engine[sym], self._engine[j] = engine, self.engine.B.at_j(engine)
        else:
            self._name(sym, tex(None), plain)
            self._engine[sym] = engine

    # --- primal values ---------------------------------------------------------------------

    def _primal(self) -> dict[str, Any]:
        """Run the stages over display atoms; each stage's value becomes its atom."""
        g = self.graph
        stage = lambda eqn, value: value if eqn.out.temp else self._stage(eqn.out, value)
        return run(g.eqns, inputs_env(g, self.B), self.B, then=stage)

    def _stage(self, name: str, value: sp.Expr) -> sp.Expr:
        self.defs[name] = value = self.tidy(value)
        engine = self.engine.env[name]
        kind = self.graph.kinds[name]
        if kind != ROW and not self.atomic[name]:
            return value
        if value.is_Pow and value.exp.is_Rational and not value.exp.is_Integer:
            self.B.positive.add(name)  # a principal root: sqrt(sigma**2) is sigma
        sym = self.B.input(name)
        if kind == ROW:
            j = self.B.j_atom[name]
            self.rows |= {sym, j}
            self._engine[sym], self._engine[j] = engine, self.engine.B.at_j(engine)
            if self.atomic[name]:
                base = self.tex(name)
                self._name(sym, indexed(base, "i"), name, vectorised(base))
                self._name(j, indexed(base, "j"), name, vectorised(base))
            else:
                self.expand[sym], self.expand[j] = value, self.B.at_j(value)
                self.plain[sym] = self.plain[j] = name
            return sym
        self._name(sym, self.tex(name), name)
        self._engine[sym] = engine
        self._rules.append(self._rule(sym, value))
        return sym

    def _rule(self, sym: sp.Symbol, value: sp.Expr) -> tuple:
        """How to recognise a scalar stage's value in later expressions: a root (σ = (v+ε)^{1/2}),
        a multiple of one moment (μ = S[x_i]/N), or the exact expression."""
        if value.is_Pow and value.exp.is_Rational and not value.exp.is_Integer:
            return ("pow", value.base, value.exp, sym)
        moments = [f for f in sp.Mul.make_args(value) if f in self.B.moment_body]
        if len(moments) == 1:
            return ("moment", moments[0], value / moments[0], sym)
        return ("exact", value, None, sym)

    def tidy(self, e) -> sp.Expr:
        """Scalar stages recognised by their symbols ((v+ε)^{-3/2} -> σ^{-3}, S[x_i] -> Nμ),
        then common factors pulled out."""
        e = sp.sympify(e)
        for kind, a, b, sym in self._rules:
            if kind == "pow":
                e = e.replace(
                    lambda t, a=a, b=b: t.is_Pow and t.base == a and (t.exp / b).is_Integer,
                    lambda t, b=b, sym=sym: sym ** (t.exp / b),
                )
                if (1 / b).is_Integer:
                    e = e.xreplace({a: sym ** (1 / b)})
            elif kind == "moment":
                e = e.xreplace({a: sym / b})
            else:
                e = e.xreplace({a: sym})
        e = sp.factor_terms(e)
        return e.replace(
            lambda t: t.is_Pow and t.exp.is_negative and t.base.is_Add,  # 1/((N - 1) v), not 1/(N v - v)
            lambda t: sp.factor(t.base) ** t.exp,
        )

    @cached_property
    def adjoints(self) -> dict[str, Any]:
        """Reverse mode over the display algebra: every input's and stage's adjoint."""
        return vjp(self.graph, self.B, self.env, self.atom("dy"))

    # --- engine values, and the check ---------------------------------------------------------

    def engine_tangents(self, wrt: str) -> dict[str, Any]:
        if wrt not in self._tangents:
            E = self.engine
            self._tangents[wrt] = jvp(self.graph.eqns, E.B, E.env, {wrt: E.B.seed(self.graph.kinds[wrt])})
        return self._tangents[wrt]

    def to_engine(self, e) -> sp.Expr:
        """A display value in the engine's moment atoms."""
        e = sp.sympify(e)
        sub = {}
        for sym in e.free_symbols:
            if sym in self.B.moment_body:
                sub[sym] = self.engine.B.sum(self.to_engine(self.B.moment_body[sym]))
            elif sym in self._engine:
                sub[sym] = self._engine[sym]
        return e.xreplace(sub)

    def check(self, shown, engine, what: str) -> sp.Expr:
        """``shown`` if it is the engine's value, else RenderError (with the prover's reason when it
        could not decide: a value that is not proved is not printed)."""
        try:
            same = self.prover.canonical.zero(self.to_engine(shown) - sp.sympify(engine))
        except Undecided as err:
            raise RenderError(f"{self.layer.path}: {_plain_what(what)} could not be checked equal to the engine's "
                              f"value, so it is not shown: {err}") from None
        if not same:
            raise RenderError(f"{self.layer.path}: the displayed {what} is not the engine's value: {shown}")
        self.checked.append((what, shown, engine))
        return shown

    def _engine_centred(self, r: str) -> bool:
        E = self.engine
        return self._zero(E.B.sum(E.env[r]))

    def _zero(self, e) -> bool:
        try:
            return self.prover.canonical.zero(e)
        except Undecided:
            return False

    # --- running the rules on display values -------------------------------------------------

    def resum(self, e, sub: dict) -> sp.Expr:
        """Substitute values for symbols (at i; their j-atoms follow), re-summing the moments
        whose bodies mention them."""
        e = sp.sympify(e)
        to_j = {a: self.B.j_atom[n] for n, a in self.B.i_atom.items()}
        full = {**sub, **{to_j[s]: self.B.at_j(v) for s, v in sub.items() if s in to_j}}
        moments = {}
        for sym in e.free_symbols:
            body = self.B.moment_body.get(sym)
            if body is not None and body.free_symbols & set(full):
                moments[sym] = self.B.sum(self.resum(body, sub))
        return e.xreplace({**moments, **full})

    def latex(self, vector: bool = False) -> Latex:
        late = {self.B.input(c) for c in self.layer.constants}
        return Latex(self.vnames if vector else self.names, self.expand, self.B.moment_body, self.rows, late, vector)

    def recognise(self, value) -> sp.Expr:
        """A value with the stages it contains replaced by their atoms (x_i - mu -> xmu_i)."""
        value = sp.sympify(value)
        value = value.xreplace({d: a for a, d in self.expand.items()})
        return self.tidy(value)

    def evaluate(self, eqns, env: dict) -> dict:
        """Run equations (of a formula) over display values, recognising stages as they appear."""
        return run(eqns, env, self.B, then=lambda eqn, value: self.recognise(value))

    def plain_printer(self) -> Plain:
        return Plain(self.plain, self.B.moment_body)


def _plain_what(what: str) -> str:
    """A value's name for a message: \\frac{\\partial \\sigma}{\\partial x_{j}} -> d sigma/d x_j."""
    what = re.sub(r"\\frac\{\\partial ([^{}]*(?:\{[^{}]*\})?)\}\{\\partial ([^{}]*(?:\{[^{}]*\})?)\}", r"d \1/d \2", what)
    return re.sub(r"[\\{}]", "", what.replace("_{", "_"))


__all__ = ["Algebra", "RenderError", "indexed", "is_atomic", "vectorised"]
