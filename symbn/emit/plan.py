"""What the backward pass reads, saves and recomputes.

The certified formulas name some stages.  A per-slice (scalar) stage they read,
directly or through a row stage, is *saved* by the forward (it is small); a row
stage is *recomputed* by the backward from the inputs and the saved scalars
(keeping it would cost an array the size of the data).  Without saved values
the backward recomputes the scalars too.
"""

from __future__ import annotations

from symbn.emit.certify import NotCertified
from symbn.ir.graph import Eqn
from symbn.ir.primitives import ROW
from symbn.lang.derivation import Layer
from symbn.lang.expr import names, parse, to_text

# names the emitted functions use for themselves: a stage or input may not take one
RESERVED = {"np", "n", "axes", "kept", "kshape", "dtype", "result", "shape", "out", "saved", "axis", "return_saved",
            "forward", "backward", "double_backward", "reduce", "LAYER", "INPUTS", "GRADIENTS", "SAVED", "FORMULAS"}


class Plan:
    """Which stages the backward pass reads, which scalar stages it saves, and the
    equations that compute them (from the inputs, or from the saved scalars)."""

    def __init__(self, layer: Layer, formulas: dict[str, str]):
        graph = layer.graph
        self.layer, self.graph = layer, graph
        clash = sorted(RESERVED & ({*layer.inputs, *graph.stages} | {"d" + w for w in layer.differentiable}))
        if clash:
            raise NotCertified(f"{layer.path}: the name {clash[0]!r} is used by the emitted code; rename it in the file")
        rows = [n for n, i in layer.inputs.items() if i.kind == ROW]
        if not rows:
            raise NotCertified(f"{layer.path}: no row input: the emitter needs the data the slice is taken from")
        self.data = rows[0]
        self.formulas = {w: parse(t) for w, t in formulas.items()}
        self.deps = {s: {a for e in graph.stage_eqns(s) for a in e.vars if a in graph.stages} for s in graph.stages}
        read = set().union(*(names(e) for e in self.formulas.values())) & set(graph.stages)
        self.rows, self.saved = set(), set()
        todo = list(read)
        while todo:
            s = todo.pop()
            if graph.kinds[s] != ROW:
                self.saved.add(s)
            elif s not in self.rows:
                self.rows.add(s)
                todo.extend(self.deps[s])
        self.saved_order = tuple(s for s in graph.stages if s in self.saved)

    def closure(self, targets: set[str], stop: set[str] = frozenset()) -> set[str]:
        """The stages ``targets`` need, themselves included; a stage in ``stop`` is
        known (saved), and what it needs is not."""
        out, todo = set(), list(targets)
        while todo:
            s = todo.pop()
            if s not in out:
                out.add(s)
                if s not in stop:
                    todo.extend(self.deps[s])
        return out

    def eqns(self, stages: set[str]) -> tuple[Eqn, ...]:
        return tuple(e for e in self.graph.eqns if e.stage in stages)

    def texts(self) -> dict[str, str]:
        """Each gradient's formula as the module prints it."""
        return {w: to_text(e) for w, e in self.formulas.items()}


__all__ = ["RESERVED", "Plan"]
