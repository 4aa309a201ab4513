r"""What the document says, produced by the engines: a list of blocks.

Sections follow seed 000: the layer, forward mode (one building block per stage, then
the assembled gradient), reverse mode (one step per stage, last to first, as the
seeds' steps 9 -> 0), the proof (identities and verdicts), the closed forms (per element
and vectorised) and the file's claims.  Every expression in an :class:`Eq` has passed
:meth:`~symbn.render.algebra.Algebra.check` against the engine's value; :mod:`.latex`
only prints.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from symbn.ad.interpret import read
from symbn.ad.jvp import contract, jvp
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import Formula, Layer
from symbn.proof.claims import Report, check_claims
from symbn.proof.prover import Proof, Prover, prove
from symbn.realise.moments import DELTA
from symbn.render import steps
from symbn.render.algebra import Algebra, RenderError
from symbn.render.blocks import Block, Document, Eq, Equations, Heading, Table, Text, text
from symbn.render.printer import width

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


class _Builder:
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

    def forward_section(self) -> None:
        self.add(Heading(1, text("Forward mode")))
        self.say(
            "Seed the input with its tangent ($\\partial x_i / \\partial x_j = \\delta_{ij}$, which is 1 if $i = j$ and 0 "
            "otherwise; 1 for a scalar) and push it through the stages with the chain rule. Each stage gives a building "
            "block: first the rule applied to the blocks before it, then its value. Sums over the slice are reduced with "
            "$\\sum_{i=1}^{N} \\delta_{ij}\\, h_i = h_j$ and the identities of the proof section."
        )
        for w in self.layer.differentiable:
            self.forward(w)

    def forward(self, w: str) -> None:
        A, B, g = self.A, self.B, self.g
        seed = B.seed(g.kinds[w])
        t = jvp(g.eqns, B, A.env, {w: seed})
        eng = A.engine_tangents(w)
        self.add(Heading(2, text(f"Building blocks of ${self._partial_f(w)}$")))
        values: dict[str, Any] = {}
        for s in g.stages:
            if s not in t:
                continue
            seeds = {a: seed if a == w else A.tangent(a, w) for a in g.stage_args(s) if a == w or a in values}
            rule = A.tidy(steps.stage_jvp(g, s, seeds, B, A.env))
            sub = {A.tangent(a, w): values[a] for a in seeds if a != w}
            raw = self.substitute(rule, sub, identities=False)[0]
            V, used = self.substitute(rule, sub)
            values[s] = V
            lhs = self.m(A.tangent(s, w))
            self.eq(lhs, rule, raw, V, engine=eng[s], note=self.by(used))
            if V.has(DELTA):
                self.cases(lhs, V, eng[s])
        self.flush()
        self.assemble(w, t.get(g.output, 0))

    def by(self, used) -> str:
        sums = (self.m(M).replace(r"\sum_{i=1}^{N}", r"\textstyle\sum_{i}") for M in sorted(used, key=str))
        return ", ".join(rf"\text{{by }} {tex} = 0" for tex in sums)

    def cases(self, lhs: str, V: sp.Expr, engine) -> None:
        A = self.A
        same, other = V.subs(DELTA, 1), V.subs(DELTA, 0)
        A.check(same, engine.subs(DELTA, 1), "case i = j")
        A.check(other, engine.subs(DELTA, 0), "case i != j")
        a, b = self.m(same), self.m(other)
        if a.count(r"\frac") + b.count(r"\frac") <= 2 and max(width(a), width(b)) < 30:
            self.eq(lhs, rf"\begin{{cases}} {a} & i = j \\ {b} & i \neq j \end{{cases}}")
        else:
            self.eq(lhs, same, engine=engine.subs(DELTA, 1), note=r"i = j")
            self.eq(lhs, other, engine=engine.subs(DELTA, 0), note=r"i \neq j")

    def assemble(self, w: str, t_out) -> None:
        A, B, g = self.A, self.B, self.g
        dy = A.atom("dy")
        out_row = self.layer.output_kind == ROW
        engine = A.engine.gradient("forward", w)
        T = A.tangent(g.output, w)
        chain = B.moment(dy * T) if out_row else dy * T
        final = A.tidy(self.j(w, contract(g.output, B, t_out, dy)))
        shown: list = [chain]
        if out_row and g.kinds[w] == ROW and t_out != 0 and sp.sympify(t_out).has(DELTA):
            t_out = A.tidy(t_out)
            rest, diag = sp.factor_terms(t_out.subs(DELTA, 0)), sp.factor_terms(sp.diff(t_out, DELTA))
            outside = sp.Mul(*(f for f in sp.Mul.make_args(rest) if not f.free_symbols & B.i_atoms))
            split = (outside * B.moment(dy * rest / outside) if rest != 0 else 0) + B.at_j(dy * diag)
            shown.append(split)
        self.say(f"Assembled ($\\partial y_i/\\partial {self.at(w)}$ is the last block):" if out_row else "Assembled:")
        self.eq(self._partial_f(w), *shown, final, engine=engine)
        self.flush()

    # --- reverse mode -------------------------------------------------------------------------

    def reverse_section(self) -> None:
        A, g = self.A, self.g
        self.add(Heading(1, text("Reverse mode")))
        self.say(
            f"Start from ${self.m(A.atom('dy', 'j'))}$ and walk the stages backwards. Each step shows the adjoint "
            "arriving at the stage, the stage's local derivatives, and the adjoints it sends to its arguments: "
            "local derivative times incoming adjoint, summed over $i$ where a scalar fed every row. Where a "
            "variable feeds several stages, their contributions add up ($\\mathrel{+}=$). Row quantities are shown "
            "at the index $j$; sums run over $i$."
        )
        adj = A.adjoints
        users = steps.users(g)
        parts: dict[str, list] = {v: [] for v in users}
        for k in range(len(g.stages), 0, -1):
            s = g.stages[k - 1]
            self.add(Heading(2, text(f"Step {k}: `{self.layer.stage_text[s]}`")))
            self.eq(self.stage_lhs(s, "j"), self.j(s, A.defs[s]), engine=self.ej(s, A.engine.env[s]))
            incoming = A.tidy(adj.get(s, 0))
            if s == g.output:
                self.eq(self.m(A.adjoint(s, "j")), label=r"\text{incoming (given)}")
            else:
                summed = [sp.Add(*(self.j(s, p) for p in parts[s]))] if len(parts[s]) > 1 else []
                after = " and ".join(str(g.stages.index(u) + 1) for u in users[s])
                note = rf"\text{{incoming (steps {after})}}" if summed else r"\text{incoming}"
                self.eq(
                    self.m(A.adjoint(s, "j")),
                    *summed,
                    self.j(s, incoming),
                    engine=self.ej(s, A.engine.adjoint_value(s)),
                    label=note,
                )
            self.local(s)
            self.send(s, incoming, users, parts)
        self.add(Heading(2, text("Step 0: arriving at the inputs")))
        for w in self.layer.differentiable:
            final = A.tidy(self.j(w, adj.get(w, 0)))
            summed = [sp.Add(*(self.j(w, p) for p in parts[w]))] if len(parts[w]) > 1 else []
            self.eq(self._partial_f(w), *summed, final, engine=A.engine.gradient("reverse", w))
        self.flush()
        self.say("Forward and reverse mode give the same gradients; the next section proves it for every $N$.")

    def send(self, s: str, incoming, users: dict, parts: dict) -> None:
        A = self.A
        g_sym = A.adjoint(s, "i")
        sent = steps.sent(A, s)
        for a, (C, engine) in sent.items():
            raw = self.substitute(C, {g_sym: incoming}, identities=False)[0]
            value, used = self.substitute(C, {g_sym: incoming})
            parts[a].append(value)
            rel = "=" if len(users[a]) == 1 else r"\mathrel{+}="
            label = r"\text{sent}" if a == next(iter(sent)) else ""
            self.eq(
                self.m(A.adjoint(a, "j")),
                self.j(a, C),
                self.j(a, raw),
                self.j(a, value),
                engine=self.ej(a, engine),
                rel=rel,
                label=label,
                note=self.by(used),
            )
        self.flush()

    def local(self, s: str) -> None:
        A, g = self.A, self.g
        items = []
        for a in g.stage_args(s):
            row_s, row_a = g.kinds[s] == ROW, g.kinds[a] == ROW
            L, E = steps.local(A, s, a)
            top, bottom = self.at(s, "j" if row_s else None), self.at(a, "j" if row_a else None)
            if row_s and row_a and sp.sympify(L).subs(DELTA, 0) == 0:
                L = A.check(sp.diff(L, DELTA), sp.diff(E, DELTA), f"local derivative of {s} wrt {a}")  # elementwise
            elif row_s and row_a:
                top = self.at(s, "i")
            value = L if L.has(DELTA) else self.j(s, L)
            items.append((rf"\frac{{\partial {top}}}{{\partial {bottom}}}", self.m(value)))
        line = r", \qquad ".join(f"{lhs} = {rhs}" for lhs, rhs in items[1:])
        if items and width(items[0][1] + line) < 50:
            self.eq(items[0][0], items[0][1] + (r", \qquad " + line if line else ""), label=r"\text{local}")
        else:
            for k, (lhs, rhs) in enumerate(items):
                self.eq(lhs, rhs, label=r"\text{local}" if k == 0 else "")

    # --- the proof -----------------------------------------------------------------------------

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
            transcribed = results.get(f"{claim.id} (LaTeX)")
            if transcribed is not None:
                self.say(f"The claim's LaTeX, as published, read by symbn: verdict **{transcribed.result.verdict}**.")
            if claim.note:
                self.say(claim.note)


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
