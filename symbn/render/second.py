r"""The document's second-order section: the backward pass differentiated once more.

For a file with ``[second_order]``, in this order:

1. the quantity: h = Σ_k ⟨dd_k, ∂f/∂k⟩, with the first-order adjoints written v̄ = ∂f/∂v
   and the directions k̇;
2. the first-order backward as stages of a graph, after the layer's own: the second-order
   problem of :func:`symbn.proof.second.second_order`, a layer whose output is h;
3. its reverse pass, step by step: the reverse section of :class:`~symbn.render.modes.Modes`
   run by a builder of that problem (so each value is checked as the first-order ones are);
4. the ``[second_order]`` closed forms, each checked against the engine's value;
5. the verdicts of ``prove --order 2`` (with forward over forward, ÿ against SymPy);
6. the file's claims with ``order = 2``, in the parts of :data:`symbn.render.claims.PARTS`.

The problem's builder has an algebra of its own (its atoms are the backward's stages), so
its equations carry it (:class:`~symbn.render.blocks.Equations`), and its headings go one
level down when they join the document.
"""

from __future__ import annotations

import re
from dataclasses import replace

from symbn.lang.derivation import Layer
from symbn.proof.second import H, prove_second, second_order
from symbn.render.algebra import indexed
from symbn.render.blocks import Heading, text

SECOND_ROUTES = {
    "direct": "SymPy diff twice",
    "forward": "forward over reverse",
    "reverse": "reverse over reverse",
    "closed_form": "closed form",
    "forward_over_forward": "forward over forward",
}


def bar(tex: str) -> str:
    r"""The adjoint's name: \bar{x} for one letter or one command, \overline{...} for the rest."""
    return rf"\bar{{{tex}}}" if re.fullmatch(r"[A-Za-z]|\\[A-Za-z]+", tex) else rf"\overline{{{tex}}}"


class SecondOrder:
    """The second-order section; the helpers it calls (eq, say, add, at ...) are the builder's."""

    def second_order_section(self) -> None:
        if not self.layer.second_order:
            return
        sub = type(self)(self.problem(), self.n, self.timings)
        A, g, first = sub.A, sub.g, self.layer
        dirs = ", ".join(f"${sub.at(d)}$" for d in (f"dd{k}" for k in first.differentiable))
        self.add(Heading(1, text("Second order")))
        self.say(
            f"The backward pass above is a computation of its own, from the inputs and ${sub.at('dy', 'i')}$. "
            f"Write $\\bar{{v}}$ for $\\partial f / \\partial v$, the first-order adjoint of a stage or input $v$ "
            f"(so ${sub.at('dx', 'j') if 'dx' in g.stages else sub.at('dy', 'j')}$ is a gradient above, and "
            f"${sub.at('dy', 'j')}$ is given). Given directions {dirs} of the inputs' kinds, the second-order "
            "quantity is $h$ below, and its gradients are what a framework's double backward returns "
            "(PyTorch's gI, gG and ggO given ggI, ggG and ggB)."
        )
        self.adopt(sub, lambda: sub.eq(sub.at(H), A.defs[H], engine=A.engine.env[H]))
        wrt = ", ".join(f"$\\partial h / \\partial {sub.at(w)}$" for w in sub.layer.differentiable)
        self.add(Heading(2, text("The backward pass as a graph")))
        own = [s for s in g.stages if s not in first.graph.stages]
        self.say(
            f"Wanted: {wrt}. Reverse mode, run once on symbols, writes the backward pass down as stages: after "
            f"the layer's {len(first.graph.stages)} stages (as above) come these, each reading the stages "
            "before it (the graph's edges), the last one $h$:"
        )
        self.adopt(sub, lambda: self.backward_stages(sub, own))
        self.adopt(sub, sub.reverse_section)
        idle = [s for s in first.graph.stages if s not in A.adjoints and s != g.output]
        if idle:
            names = ", ".join(f"${self.at(s, 'j')}$" for s in idle)
            self.say(f"Not shown: {names}, which $h$ does not read (the backward pass needs no output).")
        self.adopt(sub, sub.closed_form_section)
        self.add(Heading(2, text("The proof, second order")))
        self.say(
            "Reverse over reverse and forward over reverse are symbn's rules run on the backward pass; SymPy's "
            "diff twice (of $f$ along the directions, then by each input) uses none of them. Forward over forward "
            "is the second directional derivative $\\ddot{y}_j$ of the output along the directions, against "
            "SymPy's $d^2/dt^2$."
        )
        self.adopt(sub, lambda: sub.verdicts(prove_second(first, self.n), SECOND_ROUTES, self.second_wanted(sub)))
        self.adopt(sub, sub.claims_section)

    def problem(self) -> Layer:
        """The second-order problem, its names in the document's notation: v̄ for d<v>, ẋ for ddx."""
        problem, A = second_order(self.layer), self.A
        names = dict(problem.latex_names)
        names["dy"] = bar(A.tex(self.layer.graph.output))
        for s in problem.graph.stages:
            if s not in self.layer.graph.stages and s != H:
                names[s] = bar(A.tex(s[1:]))
        return replace(problem, latex_names=names)

    def backward_stages(self, sub, stages: list[str]) -> None:
        A, g, text_ = sub.A, sub.g, sub.layer.stage_text
        for s in stages:
            k = g.stages.index(s) + 1
            note = rf"\text{{{k}: }}\texttt{{{_code(text_[s])}}}"
            sub.eq(sub.at(s, "i"), A.defs[s], engine=A.engine.env[s], label=note)

    def second_wanted(self, sub):
        out = indexed(rf"\ddot{{{self.A.tex(self.layer.graph.output)}}}", "j")
        return lambda r: out if r.route == "forward_over_forward" else sub._partial_f(r.wrt)

    def adopt(self, sub, build) -> None:
        """Run ``build`` on the problem's builder and take its blocks, headings one level down."""
        self.flush()
        sub.doc.blocks = []
        build()
        sub.flush()
        for block in sub.doc.blocks:
            self.doc.blocks.append(Heading(block.level + 1, block.text) if isinstance(block, Heading) else block)


def _code(s: str) -> str:
    return "".join(
        {"_": r"\_", "&": r"\&", "%": r"\%", "#": r"\#", "{": r"\{", "}": r"\}", "^": r"\^{}"}.get(c, c) for c in s
    )


__all__ = ["SECOND_ROUTES", "SecondOrder", "bar"]
