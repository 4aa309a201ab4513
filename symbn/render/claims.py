r"""The document's claims section: each claim as written, as read, and judged.

For every claim of the file, in this order:

1. where it comes from (its source, by title);
2. the claim **as written**: the source's LaTeX token for token when the claim has it,
   else its formula typeset from the parsed tree (:mod:`symbn.render.source`); nothing
   simplified;
3. **symbn's reading** of it: the value of what was written, over the stages' own symbols,
   first as read, then with the centring identities (Σ(x_i − μ) = 0) applied — checked
   equal to the engine's value like every value of the document;
4. the verdict against reverse mode, what the file expects, and for a refuted claim the
   true value and the counterexample as a table of exact values;
5. the file's note, labelled.

:meth:`Claims.claim` runs the parts of :data:`PARTS` in order, so a new part (the
difference claim − truth, say) is one method and one name.
"""

from __future__ import annotations

import re
from dataclasses import replace

import sympy as sp

from symbn.ir.primitives import ROW
from symbn.lang.derivation import Claim, Formula, SpecError
from symbn.lang.expr import Num
from symbn.proof.claims import check_claims, from_latex
from symbn.proof.counterexample import NOT_REAL, Counterexample, simplified
from symbn.proof.report import Report
from symbn.render.blocks import Heading, Items, Table, text
from symbn.render.source import Breakable, Faithful, source_latex

PARTS = ("source", "as_written", "reading", "verdict", "truth", "counterexample", "difference", "note")
_NUMBER = re.compile(r"(?:\d[\d_]*\.?[\d_]*|\.\d[\d_]*)(?:[eE][-+]?\d+)?")


class Claims:
    """The claims section; the helpers it calls (eq, say, add, at, j ...) are the builder's."""

    def claims_section(self) -> None:
        claims = [c for c in self.layer.claims if c.order == 1 and not c.shards]  # the others: sections of their own
        if not claims:
            return
        self.add(Heading(1, text("Claims")))
        self.say(
            "Formulas people published, each shown as its source writes it, then as symbn reads it (the value of "
            "what is written, checked against the engines like every value above), then judged against "
            + ("reverse over reverse." if self.layer.loss else "reverse mode.")
        )
        self.checked = {c.id: c for c in self.report().items}
        for claim in claims:
            self.add(Heading(2, text(f"Claim `{claim.id}`")))
            for part in PARTS:
                getattr(self, f"claim_{part}")(claim)

    # --- the parts --------------------------------------------------------------------------

    def claim_source(self, claim: Claim) -> None:
        if claim.source:
            self.say(f"Source: {claim.source.rstrip('.')}.")

    def claim_as_written(self, claim: Claim) -> None:
        wanted = f"${self._partial_f(claim.wrt)}$"
        if claim.latex:
            lhs, rhs = source_latex(claim.latex)
            self.say(f"As written in the source (a claim for {wanted}):")
            self.eq(lhs, rhs, rel="=" if lhs else "", label=r"\text{as written}")
        else:
            self.say(f"As written in the file, in symbn's syntax (a claim for {wanted}; the source gives no LaTeX):")
            self.eq(self._partial_f(claim.wrt), self.faithful(claim.formula), label=r"\text{as written}")
        self.flush()

    def claim_reading(self, claim: Claim) -> None:
        formula = self.claim_formula(claim)
        raw, value, used = self.read_formula(formula, claim.wrt)
        self.say("Read by symbn, over the stages' symbols:")
        engine = self.A.engine.formula(formula, claim.wrt)
        self.eq(self._partial_f(claim.wrt), raw, value, engine=engine, label=r"\text{read}", note=self.by(used))
        self.flush()

    def claim_verdict(self, claim: Claim) -> None:
        checked = self.checked[claim.id]
        verdict = checked.result.verdict
        expected = "right" if claim.expect == "correct" else "wrong"
        agrees = {True: "as expected", False: "**not** as expected", None: ""}[checked.agrees]
        line = f"Verdict: **{verdict}**. The file expects the claim to be {expected}: {agrees}."
        if checked.result.detail:
            line += f" symbn could not decide it: {checked.result.detail}."
        other = self.checked.get(f"{claim.id} (LaTeX)")
        if other is not None:
            same = "the same verdict" if other.result.verdict == verdict else f"the verdict **{other.result.verdict}**"
            line += f" The file's transcription of it in symbn's syntax gets {same}."
        self.say(line)

    def claim_truth(self, claim: Claim) -> None:
        if self.checked[claim.id].result.verdict == "proved":
            return
        A = self.A
        truth = A.tidy(self.j(claim.wrt, A.adjoints.get(claim.wrt, 0)))
        route = "reverse over reverse" if self.layer.loss else "reverse mode"
        self.say(f"The true value, by {route}:")
        self.eq(self._partial_f(claim.wrt), truth, engine=A.engine.adjoint(claim.wrt), label=rf"\text{{{route}}}")
        self.flush()

    def claim_counterexample(self, claim: Claim) -> None:
        found = self.checked[claim.id].result.counterexample
        if found is not None:
            route = "reverse over reverse" if self.layer.loss else "reverse mode"
            self.counterexample(found, claim.wrt, (f"the true value ({route})", "the claim"))

    def claim_difference(self, claim: Claim) -> None:
        self.difference(claim.wrt, self.checked[claim.id].result)

    def claim_note(self, claim: Claim) -> None:
        if claim.note:
            self.say(f"**Note.** {claim.note}")

    # --- code claims: backward passes as written in code -------------------------------------

    def code_claims_section(self) -> None:
        """Each gradient of a code claim: its verdict, and where and how it goes wrong."""
        if not self.layer.code_claims:
            return
        self.add(Heading(1, text("Code claims")))
        self.say("Backward passes as written in code, read by symbn (never run) and judged against reverse mode.")
        items = self.report().items
        if self.unread:
            self.say(f"The code could not be read, so it is not checked here: {self.unread}.")
            return
        for spec in self.layer.code_claims:
            self.add(Heading(2, text(f"Code claim `{spec.id}`")))
            self.say(f"`{spec.code}`" + (f" (source: {spec.source.rstrip('.')})" if spec.source else "") + ".")
            for item in (i for i in items if i.id == spec.id):
                r = item.result
                agrees = {True: "as expected", False: "**not** as expected", None: ""}[item.agrees]
                self.say(f"${self._partial_f(r.wrt)}$: verdict **{r.verdict}**, {agrees}.")
                if r.first_wrong is not None:
                    self.say(f"First wrong line: `{r.first_wrong}`.")
                if r.counterexample is not None:
                    self.counterexample(r.counterexample, r.wrt, ("the true value (reverse mode)", "the code"))
                self.difference(r.wrt, r)
            if spec.note:
                self.say(f"**Note.** {spec.note}")

    # --- helpers --------------------------------------------------------------------------------

    def report(self) -> Report:
        """The file's claims checked once (formula claims and code claims).  Code that cannot be
        read (a file copied without its claims/ folder) is said so in its section; the rest is
        still checked."""
        if getattr(self, "_report", None) is None:
            self.unread = ""
            try:
                self.layer.read_code_claims()
                layer = self.layer
            except SpecError as err:
                self.unread, layer = str(err), replace(self.layer, code_claims=())
            self._report = check_claims(layer, self.n)
        return self._report

    def difference(self, wrt: str, result) -> None:
        """claim − truth for a refuted claim, displayed as the engine computes it, with what each
        changed term means."""
        d = result.difference
        if d is None or not d.changes:
            return
        proved = " (proved)" if d.checked else " (not proved)"
        if not d.readable:  # the terms still say what is wrong
            self.say(f"What is wrong{proved}: the claim minus the true value takes {len(d.text)} characters in the "
                     f"layer's terms, too long to typeset as one formula (`symbn check` prints it).")
        else:
            formula = self.layer.formula(d.text, "difference")
            self.say(f"What is wrong: the claim minus the true value{proved}:")
            self.eq(r"\text{claim} - \text{truth}", self.formula(formula, wrt), engine=self.A.engine.formula(formula, wrt))
            self.flush()
        self.say("Term by term:")
        self.add(Items([text(f"`{c.reading}`") for c in d.changes]))

    def claim_formula(self, claim: Claim) -> Formula:
        """What symbn reads: the source's LaTeX when the claim has it, else the file's formula."""
        if claim.latex:
            return from_latex(self.layer, claim.latex, f"claims.{claim.id}.latex")
        return claim.formula

    def read_formula(self, formula: Formula, wrt: str) -> tuple[sp.Expr, sp.Expr, set]:
        """A formula's display value as read, then with the centring identities, and those used."""
        B = self.B
        saved = B.used, B.identities
        try:
            B.used, B.identities = set(), False
            raw = self.formula(formula, wrt)
            B.identities = True
            value = self.formula(formula, wrt)
            return raw, value, set(B.used)
        finally:
            B.used, B.identities = saved[0] | B.used, saved[1]

    def faithful(self, formula: Formula) -> Breakable:
        source = formula.text.strip()

        def literal(num: Num) -> str:
            found = _NUMBER.match(source, num.col - 1) if num.col else None
            v = num.value
            return found.group(0).replace("_", "") if found else str(v.numerator if v.denominator == 1 else v)

        return Faithful(self.formula_name, literal).breakable(formula.expr)

    def formula_name(self, name: str, index: str) -> str:
        """A name of a formula in the document's notation, at index i (in a sum) or j."""
        A, kinds = self.A, self.g.kinds
        if name == "N":
            return "N"
        if name == "dy" and not self.layer.loss:
            return A.names[A.atom("dy", index if self.layer.output_kind == ROW else "i")]
        if name.startswith("d") and name in self.layer.adjoint_kinds():
            return self._partial_f(name[1:], index)
        return A.name_at(name, index if kinds.get(name) == ROW else None, bare=True)

    def counterexample(self, found: Counterexample, wrt: str, sides: tuple[str, str]) -> None:
        """A counterexample as a table: the slice size, the element, each input's exact value,
        and the two sides' values, each simplified with a decimal beside it."""
        A = self.A
        rows = [[text("slice size $N$"), text(f"${found.n}$")]]
        if self.g.kinds.get(wrt) == ROW:
            rows.append([text("element $j$"), text(f"${found.j + 1}$")])
        for name, value in found.values.items():
            if isinstance(value, (list, tuple)):
                label = f"${_row_label(A, name, len(value))}$"
                cell = ", ".join(number_tex(v) for v in value)
            else:
                label, cell = f"${A.name_at(name)}$", number_tex(value)
            rows.append([text(label), text(f"${cell}$")])
        rows.append([text(sides[0]), text(f"${number_tex(found.lhs)}$")])
        other = "not a real number" if found.rhs == NOT_REAL else f"${number_tex(found.rhs)}$"
        rows.append([text(sides[1]), text(other)])
        note = f" ({found.note})" if found.note else ""
        self.say(f"Counterexample: at these values the two differ{note}.")
        self.add(Table(["", "exact value"], rows))


def _row_label(A, name: str, n: int) -> str:
    """x_1, …, x_N for a row input (the values in order)."""
    first = A.names[A.atom("dy", "i")].replace("_{i}", "_{1}") if name == "dy" else A.name_at(name, "1")
    last = A.names[A.atom("dy", "i")].replace("_{i}", f"_{{{n}}}") if name == "dy" else A.name_at(name, str(n))
    return first if n == 1 else f"{first}, \\dots, {last}"


def number_tex(value) -> str:
    """An exact number as LaTeX: a rational as it is, anything else simplified, ≈ its decimal beside it."""
    value = sp.sympify(value)
    if value.is_Rational:
        return sp.latex(value)
    exact = simplified(value)
    decimal = sp.N(value, 6)
    shown = sp.latex(exact)
    return rf"{shown} \approx {sp.latex(decimal)}" if len(shown) <= 80 else rf"\approx {sp.latex(decimal)}"


__all__ = ["PARTS", "Claims", "number_tex"]
