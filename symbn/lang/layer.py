"""A loaded layer: its inputs, stages, closed forms and claims, and the checks of a formula
against its graph (names, kinds, where a split's names may appear).

:mod:`symbn.lang.derivation` reads a file into these records; everything downstream reads
only these records.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from symbn.ir.graph import Graph
from symbn.ir.primitives import CONSTANT, ROW, SHARDED
from symbn.lang import code
from symbn.lang.expr import FUNCTIONS, Call, Expr, ExprError, Name, children, parse
from symbn.lang.formula import Formula
from symbn.lang.lower import lower_formula

RESERVED = set(FUNCTIONS) | {"N", "dy", "f", "j", "i"}
# What the core's methods that draw call, filled by the renderer (symbn.render.jupyter.install, run by
# ``import symbn``): the core never imports symbn.render, so Layer.document() looks its renderer up here.
RENDERERS: dict[str, Callable[..., Any]] = {}


class SpecError(ValueError):
    """A derivation file that cannot be used. ``str()`` is the one-line message."""

    def __init__(self, path: str | Path, key: str, message: str):
        self.path, self.key, self.message = str(path), key, message
        super().__init__(f"{self.path}: {key}: {message}" if key else f"{self.path}: {message}")


@dataclass(frozen=True)
class Input:
    name: str
    kind: str  # row | scalar | constant
    latex: str
    positive: bool = False
    default: Fraction | None = None
    direction: bool = False  # an incoming direction dd<k> of a second-order problem: not differentiated

    @property
    def differentiable(self) -> bool:
        return self.kind != CONSTANT and not self.direction


@dataclass(frozen=True)
class Claim:
    id: str
    wrt: str
    formula: Formula
    expect: str  # correct | wrong
    source: str = ""
    note: str = ""
    latex: str = ""
    order: int = 1  # 2: a formula for ∂h/∂wrt, h = Σ_k ⟨dd<k>, ∂f/∂k⟩
    shards: bool = False  # a formula over the [shards] split (shard_sum, allreduce, Nk, its stages)


@dataclass(frozen=True)
class Split:
    """[shards]: the layer's statistics computed per device and merged, and its backward
    computed from per-device sums all-reduced: one graph (inputs, dy; the split stages, the
    layer's remaining stages, the backward stages d<input>), to prove equal to the layer's."""

    graph: Graph
    stages: tuple[str, ...]  # the split forward's own stages (a name the layer has is replaced)
    backward: tuple[str, ...]  # the backward's stages; d<input> among them are its gradients
    text: Mapping[str, str]
    source: str = ""


@dataclass(frozen=True)
class Layer:
    """A loaded, checked derivation file."""

    path: str
    name: str
    title: str
    inputs: Mapping[str, Input]
    stage_text: Mapping[str, str]  # stage name -> its formula as written
    graph: Graph
    closed_form: Mapping[str, Formula]
    claims: tuple[Claim, ...] = ()
    code_claims: tuple = ()  # CodeSpec (symbn.lang.code): backward passes as written in code, read when checked
    latex_names: Mapping[str, str] = field(default_factory=dict)
    notation: Mapping[str, str] = field(default_factory=dict)
    second_order: Mapping[str, Formula] = field(default_factory=dict)  # [second_order]: ∂h/∂w, w an input or dy
    loss: bool = False  # the output is the loss itself (upstream gradient 1), as h of a second-order problem
    first: Layer | None = None  # for a second-order problem: the layer whose backward it differentiates
    split: Split | None = None  # [shards]
    shards: int = 0  # a split problem: the number of devices (0: one)
    whole: Layer | None = None  # a split problem: the single-device layer it must equal

    def document(self, fmt: str = "md", n: int | None = None):
        """The whole derivation as a document (Markdown, or ``fmt="tex"`` for LaTeX), which a notebook
        displays as rendered math; ``str()`` of it is the text.  The renderer is not part of the core:
        ``import symbn`` fills the hook (:data:`RENDERERS`), see :mod:`symbn.render.jupyter`."""
        render = RENDERERS.get("document")
        if render is None:
            raise RuntimeError("no renderer is installed: import symbn (which installs symbn.render) first")
        return render(self, fmt, n)

    @property
    def kinds(self) -> dict[str, str]:
        """Every name a realisation of this layer needs: the graph's, and dy (unless the output is the loss)."""
        return self.graph.kinds if self.loss else {**self.graph.kinds, "dy": self.output_kind}

    @property
    def differentiable(self) -> tuple[str, ...]:
        return tuple(n for n, i in self.inputs.items() if i.differentiable)

    @property
    def constants(self) -> tuple[str, ...]:
        return tuple(n for n, i in self.inputs.items() if not i.differentiable)

    @property
    def output_kind(self) -> str:
        return self.graph.kinds[self.graph.output]

    def formula(self, text: str, key: str = "formula", adjoints: bool = False) -> Formula:
        """Parse and check a formula over this layer's names (``adjoints``: allow d<stage>)."""
        return _formula(self.path, key, text, self.graph, self.adjoint_kinds() if adjoints else {})

    def read_code_claims(self) -> tuple:
        """The code claims, their functions read (:class:`~symbn.lang.code.CodeClaim`).  Raises SpecError."""
        try:
            return tuple(code.read(self, spec) for spec in self.code_claims)
        except code.ClaimSpecError as err:
            raise SpecError(self.path, err.key, err.message) from None

    def check_wrt(self, wrt: str, key: str) -> None:
        """A gradient is taken with respect to a differentiable input or a stage that
        depends on one (a stage of constants only is a constant, and is not differentiated)."""
        targets = self.targets()
        if wrt in self.graph.stages and wrt not in targets:
            raise SpecError(self.path, key, f"'{wrt}' is computed from constants only, and symbn does not "
                                            f"differentiate constants; choose one of {', '.join(targets)}")
        if wrt not in targets:
            raise SpecError(self.path, key, f"'{wrt}' is neither a differentiable input nor a stage; choose one of {', '.join(targets)}")

    def formula_from_expr(self, expr: Expr, key: str, text: str, adjoints: bool = False) -> Formula:
        """Check an already parsed formula (e.g. read from LaTeX) over this layer's names."""
        return _formula(self.path, key, text, self.graph, self.adjoint_kinds() if adjoints else {}, expr)

    def second_order_formula(self, expr: Expr, key: str, text: str) -> Formula:
        """Check an already parsed second-order formula over the layer's names, dy, dd<k> and d<name>."""
        return _formula(self.path, key, text, self.graph, self.second_order_kinds(), expr)

    def targets(self) -> tuple[str, ...]:
        """What a gradient may be taken with respect to: the differentiable inputs and
        the stages that are not constants."""
        return (*self.differentiable, *(s for s in self.graph.stages if self.graph.kinds[s] != CONSTANT))

    def second_order_kinds(self) -> dict[str, str]:
        """The names a second-order formula may use besides the layer's: dy, the directions
        dd<k>, and the first-order adjoints d<name> (stages of the backward pass)."""
        return {"dy": self.output_kind, **self.adjoint_kinds(), **{"dd" + k: self.graph.kinds[k] for k in self.differentiable}}

    def adjoint_kinds(self) -> dict[str, str]:
        """d<name> -> its kind, for formulas that read reverse-mode adjoints (none in a second-order
        problem, whose d<name> are stages: the first-order adjoints)."""
        if self.first is not None or self.loss:  # a problem made from a layer: its d<name> are stages or inputs
            return {}
        return {"d" + n: self.graph.kinds[n] for n in self.targets()}


def check_kind(path: str, formula: Formula, want: str, wrt: str) -> None:
    """A formula for ∂f/∂wrt must not vary along the slice when wrt does not."""
    if formula.kind == ROW and want != ROW:
        raise SpecError(
            path,
            formula.key,
            f"the formula varies along the slice (row) but {wrt} is {want}: reduce it with sum(...) or mean(...)",
        )


def sharded(expr: Expr) -> set[str]:
    """The names of a split across devices (shard_sum, shard_mean, allreduce, Nk) a formula uses."""
    found, todo = set(), [expr]
    while todo:
        e = todo.pop()
        if isinstance(e, Call):
            found.add(e.fn)
        if isinstance(e, Name):
            found.add(e.id)
        todo += children(e)
    return found & SHARDED


def _formula(path: str, key: str, text: str, graph: Graph, adjoints: Mapping[str, str], expr: Expr | None = None,
             split: bool = False) -> Formula:
    """Parse a formula and check its names and kinds against the graph (``split``: over a split's graph)."""
    dy_kind = graph.kinds[graph.output]
    try:
        expr = parse(text) if expr is None else expr
        used = sharded(expr)
        if used and not split:
            raise ExprError(f"'{min(used)}' belongs to a slice split across devices: write it in [shards], or in a "
                            f"claim with shards = true")
        eqns, result, kind = lower_formula(graph, expr, {"dy": dy_kind, **adjoints})
    except ExprError as err:
        hint = ""
        if "unknown name" in err.message:
            names = [*graph.inputs, *graph.stages, "dy", "N"]
            hint = f"; the names are {', '.join(names)}"
        raise SpecError(path, key, f"{err} in {text!r}{hint}") from None
    return Formula(text=text, expr=expr, key=key, kind=kind, eqns=eqns, result=result)


__all__ = ["RENDERERS", "RESERVED", "Claim", "Formula", "Input", "Layer", "SpecError", "Split", "check_kind", "sharded"]
