"""The document's forward-mode and reverse-mode sections, produced by the engines.

Forward mode follows seed 000: one building block per stage (∂μ/∂x_j, ∂v/∂x_j,
∂x̂_i/∂x_j with its i = j and i ≠ j cases), then the assembled gradient.  Reverse mode
follows the seeds' staged backward, steps 9 -> 0: the adjoint arriving at each stage,
its local derivatives, and the adjoints it sends on.  Each step is computed twice and
checked (:mod:`symbn.render.steps`).  The builder of :mod:`symbn.render.content`
inherits these sections.
"""

from __future__ import annotations

from typing import Any

import sympy as sp

from symbn.ad.jvp import contract, jvp
from symbn.ir.primitives import ROW
from symbn.realise.moments import DELTA
from symbn.render import steps
from symbn.render.blocks import Heading, text
from symbn.render.printer import width


class Modes:
    """Forward and reverse sections; the helpers they call (eq, say, at, j ...) are the builder's."""

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
            cases = [self.cases(V, eng[s])] if V.has(DELTA) else []
            self.eq(self.m(A.tangent(s, w)), rule, raw, V, *cases, engine=eng[s], note=self.by(used))
        self.flush()
        self.assemble(w, t.get(g.output, 0))

    def by(self, used) -> str:
        sums = (self.m(M).replace(r"\sum_{i=1}^{N}", r"\textstyle\sum_{i}") for M in sorted(used, key=str))
        return ", ".join(rf"\text{{by }} {tex} = 0" for tex in sums)

    def cases(self, V: sp.Expr, engine) -> str:
        """A block with δ_ij as its two cases, each checked: the last step of the block's row."""
        A = self.A
        same, other = V.subs(DELTA, 1), V.subs(DELTA, 0)
        A.check(same, engine.subs(DELTA, 1), "case i = j")
        A.check(other, engine.subs(DELTA, 0), "case i != j")
        return (
            rf"\begin{{cases}} \displaystyle {self.m(same)} & i = j \\[1ex] "
            rf"\displaystyle {self.m(other)} & i \neq j \end{{cases}}"
        )

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
            if A.atomic[s] or g.kinds[s] != ROW:
                self.eq(self.at(s, "j"), self.j(s, A.defs[s]), engine=self.ej(s, A.engine.env[s]))
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
