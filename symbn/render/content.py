r"""What the document says, produced by the engines: a list of blocks.

Sections follow seed 000: the layer, forward mode (one building block per stage, then
the assembled gradient), reverse mode (one step per stage, last to first, as the
seeds' steps 9 -> 0), the proof (identities and verdicts), the closed forms (per element
and vectorised) and the file's claims.  Every expression in an :class:`Eq` has passed
:meth:`~symbn.render.algebra.Algebra.check` against the engine's value; :mod:`.latex`
only prints.
"""

from __future__ import annotations

import sympy as sp

from symbn.ad.interpret import read
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Formula, Layer
from symbn.proof.claims import check_claims
from symbn.proof.prover import Proof, Prover, prove
from symbn.proof.report import Report
from symbn.render.algebra import Algebra, RenderError
from symbn.render.blocks import Block, Document, Eq, Equations, Heading, Table, Text, text
from symbn.render.modes import Modes

ROUTE_NAMES = {
    "direct": "direct (SymPy diff)",
    "forward": "forward mode",
    "reverse": "reverse mode",
    "closed_form": "closed form",
}


SECTIONS = ("layer", "forward", "reverse", "proof", "closed_form", "claims")


def build(layer: Layer, n: int | None = None, sections: tuple[str, ...] = SECTIONS) -> Document:
    """The derivation of a layer (the named sections, in this order).  ``n``: the proof and
    claims at slice size n instead of every N."""
    return _Builder(layer, n).document(sections)


class _Builder(Modes):
    def __init__(self, layer: Layer, n: int | None):
        self.layer, self.n, self.g = layer, n, layer.graph
        self.A = Algebra(layer, Prover(layer))
        self.B = self.A.B
        self.doc = Document(layer.title or layer.name, layer.path, algebra=self.A)
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
            self.eq(self.stage_lhs(s, "i"), A.defs[s], engine=A.engine.env[s], label=note)

    def stage_lhs(self, s: str, index: str) -> str:
        """The name a stage is defined under: its LaTeX, or its code name if that is a formula."""
        if self.A.atomic[s] or self.g.kinds[s] != ROW:
            return self.at(s, index)
        return rf"\mathrm{{{_code(s)}}}_{{{index}}}"

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
        rows = []
        for r in proof.results:
            rows.append(
                [
                    text(f"$\\partial f / \\partial {self.at(r.wrt)}$"),
                    text(ROUTE_NAMES.get(r.route, r.route)),
                    text(ROUTE_NAMES.get(r.against, r.against)),
                    text(r.verdict),
                    text(f"{r.seconds:.3f} s"),
                ]
            )
            if r.counterexample is not None:
                rows.append([text(""), text(f"counterexample: {r.counterexample}"), text(""), text(""), text("")])
        self.add(Table(["gradient", "route", "against", "verdict", "time"], rows))

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

    # --- claims --------------------------------------------------------------------------------

    def claims_section(self) -> None:
        if not self.layer.claims:
            return
        A = self.A
        self.add(Heading(1, text("Claims")))
        report: Report = check_claims(self.layer, self.n)
        results = {c.id: c for c in report.items}
        for claim in self.layer.claims:
            checked = results[claim.id]
            expected = {"correct": "expected correct", "wrong": "expected wrong"}[claim.expect]
            agrees = "as expected" if checked.agrees else "NOT as expected" if checked.agrees is False else ""
            source = f" (source: {claim.source})" if claim.source else ""
            self.add(Heading(2, text(f"Claim `{claim.id}`")))
            self.say(f"{expected}{source}: verdict **{checked.result.verdict}**, {agrees}.")
            lhs = self._partial_f(claim.wrt, "j")
            claimed = self.formula(claim.formula, claim.wrt)
            self.eq(lhs, claimed, engine=A.engine.formula(claim.formula, claim.wrt), label=r"\text{claimed}")
            if checked.result.verdict != "proved":
                truth = A.tidy(self.j(claim.wrt, A.adjoints.get(claim.wrt, 0)))
                self.eq(lhs, truth, engine=_truth(A, claim.wrt), label=r"\text{reverse mode}")
            if checked.result.counterexample is not None:
                self.say(f"Counterexample: `{checked.result.counterexample}`.")
            self.difference(claim.wrt, checked.result)
            transcribed = results.get(f"{claim.id} (LaTeX)")
            if transcribed is not None:
                self.say(f"The claim's LaTeX, as published, read by symbn: verdict **{transcribed.result.verdict}**.")
            if claim.note:
                self.say(claim.note)


        self.code_claims(report)

    def code_claims(self, report: Report) -> None:
        """Backward passes as written in code: each gradient's verdict, and where and how it goes wrong."""
        for spec in self.layer.code_claims:
            self.add(Heading(2, text(f"Code claim `{spec.id}`")))
            self.say(f"`{spec.code}`" + (f" (source: {spec.source})" if spec.source else "")
                     + ", read by symbn and never run.")
            for item in (i for i in report.items if i.id == spec.id):
                r = item.result
                agrees = "as expected" if item.agrees else "NOT as expected"
                self.say(f"$\\partial f / \\partial {self.at(r.wrt)}$: verdict **{r.verdict}**, {agrees}.")
                if r.counterexample is not None:
                    self.say(f"Counterexample: `{r.counterexample}`.")
                if r.first_wrong is not None:
                    self.say(f"First wrong line: `{r.first_wrong}`.")
                self.difference(r.wrt, r)
            if spec.note:
                self.say(spec.note)

    def difference(self, wrt: str, result) -> None:
        """claim − truth, displayed as the engine computes it, with what each changed term means."""
        d = result.difference
        if d is None or not d.changes:
            return
        formula = self.layer.formula(d.text, "difference")
        self.eq(r"\text{claim} - \text{truth}", self.formula(formula, wrt), engine=self.A.engine.formula(formula, wrt))
        checked = "proved: the claim minus this is the truth" if d.checked else "not proved"
        self.say(f"What is wrong ({checked}): " + "; ".join(f"`{c.reading}`" for c in d.changes) + ".")


def _truth(A: Algebra, wrt: str):
    return A.engine.adjoint(wrt)


def _code(s: str) -> str:
    return "".join(
        {"_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "{": r"\{", "}": r"\}", "^": r"\^{}"}.get(c, c) for c in s
    )


def _names(formula: Formula) -> set[str]:
    from symbn.lang.expr import names

    return names(formula.expr)


def _same(a, b) -> bool:
    return isinstance(a, str) == isinstance(b, str) and (
        a == b if isinstance(a, str) else sp.sympify(a) == sp.sympify(b)
    )


def _distinct(items) -> list:
    """Drop an item equal to the one before it (a rule that is already its value)."""
    out: list = []
    for item in items:
        if not out or not _same(out[-1], item):
            out.append(item)
    return out


__all__ = ["SECTIONS", "Document", "Eq", "Equations", "Heading", "Table", "Text", "build", "text"]
