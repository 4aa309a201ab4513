r"""What the document says, produced by the engines: a list of blocks.

Sections follow seed 000: the layer, forward mode (one building block per stage, then
the assembled gradient), reverse mode (one step per stage, last to first, as the
seeds' steps 9 -> 0), the proof (identities and verdicts), the closed forms (per element
and vectorised) and the file's claims (:mod:`.claims`).  Every value in an :class:`Eq`
has passed :meth:`~symbn.render.algebra.Algebra.check` against the engine's value;
:mod:`.latex` only prints.  The one display that is not a value is a claim as written,
which is the source's own text.

A section is a method ``<name>_section`` of the builder, run in the order of
:data:`SECTIONS`; another section (a second-order one, say) is a method, in a mixin like
:class:`~symbn.render.modes.Modes`, and its name in that tuple.

The document is the same, byte for byte, from run to run: no time is printed unless
asked for (``timings=True``), and the file is named by its name, not by the path it
was given.
"""

from __future__ import annotations

from pathlib import Path

import sympy as sp

from symbn.ad.interpret import read
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Formula, Layer
from symbn.proof.prover import Proof, Prover, prove
from symbn.render.algebra import Algebra, RenderError
from symbn.render.blocks import Block, Document, Eq, Equations, Heading, Table, Text, text
from symbn.render.claims import Claims
from symbn.render.modes import Modes

ROUTE_NAMES = {
    "direct": "direct (SymPy diff)",
    "forward": "forward mode",
    "reverse": "reverse mode",
    "closed_form": "closed form",
}


SECTIONS = ("layer", "forward", "reverse", "proof", "closed_form", "claims", "code_claims")


def build(
    layer: Layer, n: int | None = None, sections: tuple[str, ...] = SECTIONS, timings: bool = False
) -> Document:
    """The derivation of a layer (the named sections, in this order).  ``n``: the proof and
    claims at slice size n instead of every N; ``timings``: each proof's time in the verdicts."""
    return _Builder(layer, n, timings).document(sections)


class _Builder(Modes, Claims):
    def __init__(self, layer: Layer, n: int | None, timings: bool = False):
        self.layer, self.n, self.g, self.timings = layer, n, layer.graph, timings
        self.A = Algebra(layer, Prover(layer))
        self.B = self.A.B
        self.doc = Document(layer.title or layer.name, Path(layer.path).name, algebra=self.A)
        self.eqs: list[Eq] = []

    # --- helpers -------------------------------------------------------------------------

    def add(self, *blocks: Block) -> None:
        self.flush()
        self.doc.blocks.extend(blocks)

    def say(self, s: str) -> None:
        self.add(text(s))

    def eq(
        self, lhs: str, *rhs, engine=None, rel: str = "=", label: str = "", note: str = "", vector: bool = False
    ) -> None:
        """A row ``lhs = rhs[0] = rhs[1] ...``; every expression in it is checked equal to ``engine``,
        the engine's value of the lhs (strings are LaTeX built from values checked before)."""
        items = _distinct(rhs)
        for item in items:
            if isinstance(item, sp.Basic):
                if engine is None:
                    raise RenderError(f"{self.layer.path}: an expression for {lhs} without the engine's value")
                self.A.check(item, engine, lhs)
        self.eqs.append(Eq(lhs, items, rel, label, note, vector))

    def ej(self, name: str, value):
        """An engine value at the free index j when ``name`` is a row quantity."""
        return self.A.engine.B.at_j(value) if self.g.kinds[name] == ROW else value

    def flush(self) -> None:
        if self.eqs:
            self.doc.blocks.append(Equations(self.eqs))
            self.eqs = []

    def m(self, e) -> str:
        return self.A.latex().doprint(e)

    def at(self, name: str, index: str = "j") -> str:
        return self.A.name_at(name, index)

    def j(self, name: str, e):
        return self.B.at_j(e) if self.g.kinds[name] == ROW else e

    def substitute(self, e, sub: dict, identities: bool = True) -> tuple[sp.Expr, set]:
        """e with symbols replaced by values (moments re-summed), and the centring identities
        that were used; ``identities=False`` shows the form before they act."""
        B = self.B
        saved, B.used, B.identities = B.used, set(), identities
        try:
            value = self.A.tidy(self.A.resum(e, sub))
            return value, set(B.used)
        finally:
            B.used, B.identities = saved | B.used, True

    def document(self, sections: tuple[str, ...]) -> Document:
        for name in SECTIONS:
            if name in sections:
                getattr(self, f"{name}_section")()
        self.flush()
        return self.doc

    # --- the layer -------------------------------------------------------------------------

    def layer_section(self) -> None:
        A, g, layer = self.A, self.g, self.layer
        shown = [n for n in (*g.inputs, *g.stages) if n in g.inputs or A.atomic[n]]
        rows = [self.at(n, "i") for n in shown if g.kinds[n] == ROW]
        scalars = [self.at(n) for n in shown if g.kinds[n] not in (ROW, CONSTANT)]
        constants = [self.at(n) for n in layer.constants]
        wrt = ", ".join(f"${self._partial_f(w)}$" for w in layer.differentiable)
        self.add(Heading(1, text("The layer")))
        self.say(
            f"The layer acts on one slice of $N$ values, $i = 1, \\dots, N$. Row quantities vary along the slice "
            f"(${', '.join(rows)}$); scalars are constant over it (${', '.join(scalars)}$)"
            + (
                f"; ${', '.join(constants)}$ {'is a constant' if len(constants) == 1 else 'are constants'}. "
                if constants
                else ". "
            )
            + f"$f$ is a differentiable scalar function of the output, and its gradient ${self.m(A.atom('dy'))}$ is given. "
            f"Wanted: {wrt}. The stages, in computation order:"
        )
        for k, s in enumerate(g.stages, 1):
            note = rf"\text{{{k}: }}\texttt{{{_code(layer.stage_text[s])}}}"
            if self.A.atomic[s] or g.kinds[s] != ROW:
                self.eq(self.at(s, "i"), A.defs[s], engine=A.engine.env[s], label=note)
            else:  # a stage that is written as the formula it is (x_i - mu), as the text below writes it
                self.eq("", A.name_at(s, "i", bare=True), rel="", label=note)

    def _partial_f(self, name: str, index: str = "j") -> str:
        return rf"\frac{{\partial f}}{{\partial {self.at(name, index)}}}"

    # --- forward mode ------------------------------------------------------------------------

    def proof_section(self) -> None:
        A, B = self.A, self.B
        self.add(Heading(1, text("The proof")))
        self.say(
            "Every route is rewritten in moment atoms: $N$, the values at $j$, and sums over the slice of "
            "monomials of the inputs. Each radical is named as a positive atom, and two routes are proved equal "
            "when the normal form (cancel and together) of their difference is exactly 0, which holds for every $N$ at once."
        )
        atoms = [self.m(B.moment(body)) for body in A.engine.B.moment_body.values()]
        if atoms:
            self.say("The moment atoms of this layer: " + ", ".join(f"${t}$" for t in atoms) + ".")
        self.say("The derivation above used these identities (each checked in the moment algebra):")
        for kind, a, b, sym in A._rules:
            if kind == "moment":
                self.eq(self.m(a), sym / b, engine=A.to_engine(a), label=r"\text{definition}")
            elif kind == "pow":
                self.radical(a, b, sym)
        for r in A.centred:
            M = B.moment(A.atom(r))
            A.check(sp.Integer(0), A.to_engine(M), f"centring of {r}")
            self.eq(self.m(M), "0", label=r"\text{centring, used above}" if M in B.used else r"\text{centring}")
        self.flush()
        proof = prove(self.layer, self.n)
        self.verdicts(proof)

    def radical(self, base: sp.Expr, exp: sp.Rational, sym: sp.Symbol) -> None:
        A = self.A
        self.eq(self.m(sym), rf"{self.m(base**exp)} > 0", label=r"\text{a positive atom}")
        for c in self.layer.constants:
            const = A.B.input(c)
            slope = sp.diff(base, const)
            if self.layer.inputs[c].positive and slope != 0 and const not in slope.free_symbols:
                value = sp.expand((sym ** (1 / exp) - (base - slope * const)) / slope)
                self.eq(self.m(const), value, engine=const, label=rf"{self.at(c)}\ \text{{eliminated}}")

    def verdicts(self, proof: Proof) -> None:
        size = "every $N$" if self.n is None else f"$N = {self.n}$"
        self.say(f"Each pair of routes, for {size}: overall verdict **{proof.verdict}**.")
        header = ["gradient", "route", "against", "verdict"] + (["time"] if self.timings else [])
        rows = []
        for r in proof.results:
            row = [
                text(f"$\\partial f / \\partial {self.at(r.wrt)}$"),
                text(ROUTE_NAMES.get(r.route, r.route)),
                text(ROUTE_NAMES.get(r.against, r.against)),
                text(r.verdict),
            ]
            rows.append(row + ([text(f"{r.seconds:.3f} s")] if self.timings else []))
        self.add(Table(header, rows))
        for r in proof.results:
            if r.detail:
                self.say(f"{ROUTE_NAMES.get(r.route, r.route)} against {ROUTE_NAMES.get(r.against, r.against)} "
                         f"for ${self._partial_f(r.wrt)}$: {r.detail}.")
            if r.counterexample is not None:
                sides = (ROUTE_NAMES.get(r.route, r.route), ROUTE_NAMES.get(r.against, r.against))
                self.counterexample(r.counterexample, r.wrt, sides)

    # --- closed forms ------------------------------------------------------------------------------

    def closed_form_section(self) -> None:
        A, g = self.A, self.g
        self.add(Heading(1, text("Closed forms")))
        self.say("Per element (the formulas of the file, or the reverse-mode result where the file has none):")
        forms = {}
        for w in self.layer.differentiable:
            if w in self.layer.closed_form:
                value = self.formula(self.layer.closed_form[w], w)
                engine = A.engine.gradient("closed_form", w)
            else:
                value, engine = (
                    self.j(w, A.tidy(A.adjoints.get(w, 0))),
                    A.engine.gradient("reverse", w),
                )
            forms[w] = value, engine
            self.eq(self._partial_f(w), value, engine=engine)
        self.flush()
        vec = [n for n in (*g.inputs, *g.stages) if g.kinds.get(n) == ROW]
        names = ", ".join(f"${A.vnames[A.atom(n, 'j')]}$" for n in vec if A.atom(n, "j") in A.vnames)
        self.say(
            f"Vectorised: {names} stand for whole slices, $\\operatorname{{sum}}$ and $\\operatorname{{mean}}$ reduce "
            "over the slice, $\\odot$ multiplies elementwise, and scalars broadcast. On a batch of slices (the columns "
            "of a matrix for BatchNorm, its rows for LayerNorm) the same formulas hold slice by slice, each scalar "
            "becoming one value per slice."
        )
        for w in self.layer.differentiable:
            lhs = A.vnames.get(A.atom(w, "j")) if g.kinds[w] == ROW else self.at(w)
            self.eq(rf"\frac{{\partial f}}{{\partial {lhs}}}", forms[w][0], engine=forms[w][1], vector=True)
        self.flush()

    def formula(self, formula: Formula, wrt: str) -> sp.Expr:
        """A file's formula over display atoms (adjoint names d<stage> are adjoint symbols)."""
        A = self.A
        used = {n for n in _names(formula) if n in self.layer.adjoint_kinds()}
        env = {**A.env, "dy": A.atom("dy"), **{n: A.adjoint(n[1:], "i") for n in used}}
        return A.tidy(self.j(wrt, read(A.evaluate(formula.eqns, env), self.B, formula.result)))

def _code(s: str) -> str:
    return "".join(
        {"_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "{": r"\{", "}": r"\}", "^": r"\^{}"}.get(c, c) for c in s
    )


def _names(formula: Formula) -> set[str]:
    from symbn.lang.expr import names

    return names(formula.expr)


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str) or not isinstance(a, sp.Basic) or not isinstance(b, sp.Basic):
        return isinstance(a, str) and isinstance(b, str) and a == b
    return a == b


def _distinct(items) -> list:
    """Drop an item equal to the one before it (a rule that is already its value)."""
    out: list = []
    for item in items:
        if not out or not _same(out[-1], item):
            out.append(item)
    return out


__all__ = ["SECTIONS", "Document", "Eq", "Equations", "Heading", "Table", "Text", "build", "text"]
