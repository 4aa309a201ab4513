"""Derivation files: read a TOML file, check it, and build the layer it describes.

Every problem is one :class:`SpecError` naming the file, the key and what is wrong,
with a hint how to fix it.  Nothing in the file is executed: formulas go through
:func:`symbn.expr.parse`, a whitelist over Python's ``ast``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from symbn.ir.graph import Graph
from symbn.ir.primitives import CONSTANT, KINDS, ROW, SCALAR
from symbn.lang import code
from symbn.lang.expr import FUNCTIONS, Expr, ExprError, parse, parse_assignment
from symbn.lang.formula import Formula
from symbn.lang.lower import build, lower_formula

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

RESERVED = set(FUNCTIONS) | {"N", "dy", "f", "j", "i"}
EXPECT = ("correct", "wrong")


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

    @property
    def differentiable(self) -> bool:
        return self.kind != CONSTANT


@dataclass(frozen=True)
class Claim:
    id: str
    wrt: str
    formula: Formula
    expect: str  # correct | wrong
    source: str = ""
    note: str = ""
    latex: str = ""


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

    def targets(self) -> tuple[str, ...]:
        """What a gradient may be taken with respect to: the differentiable inputs and
        the stages that are not constants."""
        return (*self.differentiable, *(s for s in self.graph.stages if self.graph.kinds[s] != CONSTANT))

    def adjoint_kinds(self) -> dict[str, str]:
        return {"d" + n: self.graph.kinds[n] for n in self.targets()}


def load(path: str | Path) -> Layer:
    """Read and check a derivation file. Raises :class:`SpecError`."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(path, "", "no such file") from None
    except (OSError, UnicodeDecodeError) as err:
        raise SpecError(path, "", f"cannot read the file: {err}") from None
    return loads(text, str(path))


def loads(text: str, path: str = "<string>") -> Layer:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise SpecError(path, "", f"not valid TOML: {err}") from None
    return _Reader(path).layer(data)


class _Reader:
    def __init__(self, path: str):
        self.path = path

    def error(self, key: str, message: str) -> SpecError:
        return SpecError(self.path, key, message)

    def table(self, data: Mapping[str, Any], key: str, allowed: set[str], required: bool = True) -> dict:
        value = data.get(key.rpartition(".")[2])
        if value is None:
            if required:
                raise self.error(key, f"missing table [{key}]")
            return {}
        if not isinstance(value, dict):
            raise self.error(key, f"expected a table [{key}], got {type(value).__name__}")
        if allowed:
            unknown = sorted(set(value) - allowed)
            if unknown:
                raise self.error(f"{key}.{unknown[0]}", f"unknown key; the keys of [{key}] are {', '.join(sorted(allowed))}")
        return value

    def string(self, data: Mapping[str, Any], key: str, required: bool = True, default: str = "") -> str:
        value = data.get(key.rpartition(".")[2], None)
        if value is None:
            if required:
                raise self.error(key, "missing")
            return default
        if not isinstance(value, str):
            raise self.error(key, f"expected a string, got {type(value).__name__} {value!r}")
        return value

    def layer(self, data: dict) -> Layer:
        top = {"layer", "inputs", "closed_form", "claims", "latex", "notation"}
        unknown = sorted(set(data) - top)
        if unknown:
            raise self.error(unknown[0], f"unknown table; the tables are {', '.join(sorted(top))}")
        meta = self.table(data, "layer", {"name", "title", "stages", "output"})
        inputs = self.inputs(self.table(data, "inputs", set()))
        stages = self.stages(meta.get("stages"), inputs)
        output = self.string(meta, "layer.output")
        if output not in stages:
            raise self.error("layer.output", f"'{output}' is not a stage; the stages are {', '.join(stages)}")
        if "y" in stages and output != "y":
            raise self.error(f"layer.stages[{list(stages).index('y')}]", "a stage named 'y' that is not the output "
                             "would have the adjoint 'dy', which is the output's upstream gradient; rename it")
        try:
            graph = build({n: i.kind for n, i in inputs.items()}, [(n, e) for n, (_, e) in stages.items()], output)
        except ExprError as err:  # pragma: no cover - stages are checked one by one below
            raise self.error("layer.stages", str(err)) from None
        closed = self.closed_forms(self.table(data, "closed_form", set(), required=False), inputs, graph)
        latex_names = {n: i.latex for n, i in inputs.items()}
        latex_names.update(self.latex_table(data, graph))
        layer = Layer(
            path=self.path,
            name=self.string(meta, "layer.name"),
            title=self.string(meta, "layer.title", required=False),
            inputs=inputs,
            stage_text={n: t for n, (t, _) in stages.items()},
            graph=graph,
            closed_form=closed,
            latex_names=latex_names,
            notation=self.notation(data),
        )
        claims = self.claims(data.get("claims", []), layer)
        return replace(layer, claims=tuple(c for c in claims if isinstance(c, Claim)),
                       code_claims=tuple(c for c in claims if not isinstance(c, Claim)))

    def inputs(self, table: dict) -> dict[str, Input]:
        if not table:
            raise self.error("inputs", "no inputs; declare at least x = { kind = \"row\" }")
        out = {}
        for name, spec in table.items():
            key = f"inputs.{name}"
            self.check_name(key, name, out)
            if name == "y":
                raise self.error(key, "an input named 'y' would have the adjoint 'dy', which is the output's upstream "
                                      "gradient; rename the input")
            if not isinstance(spec, dict):
                raise self.error(key, 'expected an inline table such as { kind = "row", latex = "x" }')
            allowed = {"kind", "latex", "positive", "default"}
            if set(spec) - allowed:
                bad = min(set(spec) - allowed)
                raise self.error(f"{key}.{bad}", f"unknown key; the keys of an input are {', '.join(sorted(allowed))}")
            kind = self.string(spec, f"{key}.kind")
            if kind not in KINDS:
                raise self.error(f"{key}.kind", f"unknown kind '{kind}'; the kinds are {', '.join(KINDS)}")
            positive = spec.get("positive", False)
            if not isinstance(positive, bool):
                raise self.error(f"{key}.positive", "expected true or false")
            if positive and kind == ROW:
                raise self.error(f"{key}.positive", "a row input cannot be declared positive (only scalars and "
                                                    "constants can); remove the key")
            default = self.number(spec.get("default"), f"{key}.default")
            if default is not None and kind != CONSTANT:
                raise self.error(f"{key}.default", "only constants have a default value")
            if positive and default is not None and default <= 0:
                raise self.error(f"{key}.default", f"{name} is declared positive but its default is {default}")
            out[name] = Input(name, kind, self.string(spec, f"{key}.latex", required=False, default=name), positive, default)
        if not any(i.differentiable for i in out.values()):
            raise self.error("inputs", "no differentiable input: give at least one input kind row or scalar")
        return out

    def number(self, value: Any, key: str) -> Fraction | None:
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(key, f"expected a number, got {value!r}")
        return Fraction(repr(value)) if isinstance(value, float) else Fraction(value)

    def check_name(self, key: str, name: str, known: Mapping[str, Any] = {}) -> None:
        if not name.isidentifier() or name.startswith("_"):
            raise self.error(key, f"'{name}' is not a valid name: use letters, digits and _, starting with a letter")
        if name in RESERVED:
            raise self.error(key, f"'{name}' is reserved (functions, N, dy, f, i, j); choose another name")
        for other in known:
            if name == "d" + other or other == "d" + name:
                raise self.error(key, f"'{name}' clashes with '{other}': d<name> is the adjoint of <name>; rename one")

    def stages(self, value: Any, inputs: Mapping[str, Input]) -> dict[str, tuple[str, Expr]]:
        if not isinstance(value, list) or not value:
            raise self.error("layer.stages", 'expected a list of stages such as ["mu = mean(x)", ...]')
        stages: dict[str, tuple[str, Expr]] = {}
        kinds = {n: i.kind for n, i in inputs.items()}
        for k, text in enumerate(value):
            key = f"layer.stages[{k}]"
            try:
                name, expr = parse_assignment(text)
            except ExprError as err:
                raise self.error(key, f"{err} in {text!r}") from None
            if name in inputs:
                raise self.error(key, f"stage '{name}' has the name of an input; rename the stage")
            if name in stages:
                raise self.error(key, f"stage '{name}' is defined twice (first as {stages[name][0]!r})")
            self.check_name(key, name, {**inputs, **stages})
            try:  # check order, names and kinds now, to name the stage at fault
                build(kinds, [*((n, e) for n, (_, e) in stages.items()), (name, expr)], name)
            except ExprError as err:
                hint = " (stages are computed in order: define it in an earlier stage)" if "unknown name" in err.message else ""
                raise self.error(key, f"{err} in {text!r}{hint}") from None
            stages[name] = (text.strip(), expr)
        return stages

    def closed_forms(self, table: dict, inputs: Mapping[str, Input], graph: Graph) -> dict[str, Formula]:
        out = {}
        for name, text in table.items():
            key = f"closed_form.{name}"
            if name not in inputs or not inputs[name].differentiable:
                diff = ", ".join(n for n, i in inputs.items() if i.differentiable)
                raise self.error(key, f"'{name}' is not a differentiable input; closed forms are for {diff}")
            if not isinstance(text, str):
                raise self.error(key, f"expected a formula string, got {type(text).__name__}")
            formula = _formula(self.path, key, text, graph, {})
            check_kind(self.path, formula, graph.kinds[name], name)
            out[name] = formula
        return out

    def latex_table(self, data: dict, graph: Graph) -> dict[str, str]:
        table = self.table(data, "latex", set(), required=False)
        for name, value in table.items():
            if name not in graph.stages:
                raise self.error(f"latex.{name}", f"'{name}' is not a stage; [latex] names stages (inputs carry their own latex)")
            if not isinstance(value, str):
                raise self.error(f"latex.{name}", "expected a LaTeX string such as \"\\\\hat{x}\"")
        return dict(table)

    def notation(self, data: dict) -> dict[str, str]:
        table = self.table(data, "notation", set(), required=False)
        for key, value in table.items():
            if not isinstance(value, str):
                raise self.error(f"notation.{key}", "expected the name it stands for, as a string")
        return dict(table)

    def claims(self, value: Any, layer: Layer) -> tuple[Claim, ...]:
        if not isinstance(value, list):
            raise self.error("claims", "expected an array of tables [[claims]]")
        claims: list = []
        seen: set[str] = set()
        allowed = {"id", "source", "wrt", "formula", "expect", "note", "latex"}
        for k, spec in enumerate(value):
            key = f"claims[{k}]"
            if not isinstance(spec, dict):
                raise self.error(key, "expected a table")
            bad = sorted(set(spec) - allowed - (code.KEYS if "code" in spec else set()))
            if bad:
                raise self.error(f"{key}.{bad[0]}", f"unknown key; the keys of a claim are {', '.join(sorted(allowed))}")
            cid = self.string(spec, f"{key}.id")
            key = f"claims.{cid}" if cid not in seen else key
            if cid in seen:
                raise self.error(key, f"claim id '{cid}' is used twice")
            seen.add(cid)
            if "code" in spec:
                claims.append(self.code_claim(spec, key, layer, cid))
                continue
            wrt = self.string(spec, f"{key}.wrt")
            layer.check_wrt(wrt, f"{key}.wrt")
            expect = self.string(spec, f"{key}.expect", required=False, default="correct")
            if expect not in EXPECT:
                raise self.error(f"{key}.expect", f"expected \"correct\" or \"wrong\", got {expect!r}")
            formula = _formula(self.path, f"{key}.formula", self.string(spec, f"{key}.formula"), layer.graph, layer.adjoint_kinds())
            check_kind(self.path, formula, layer.graph.kinds[wrt], wrt)
            claims.append(
                Claim(
                    id=cid,
                    wrt=wrt,
                    formula=formula,
                    expect=expect,
                    source=self.string(spec, f"{key}.source", required=False),
                    note=self.string(spec, f"{key}.note", required=False),
                    latex=self.string(spec, f"{key}.latex", required=False),
                )
            )
        return tuple(claims)

    def code_claim(self, spec: dict, key: str, layer: Layer, cid: str):
        """A claim whose ``code`` is a backward pass (read by :mod:`symbn.lang.code` when checked, never run)."""
        try:
            return code.from_spec(layer, spec, key, cid, Path(self.path).parent)
        except code.ClaimSpecError as err:
            raise self.error(err.key, err.message) from None


def check_kind(path: str, formula: Formula, want: str, wrt: str) -> None:
    """A formula for ∂f/∂wrt must not vary along the slice when wrt does not."""
    if formula.kind == ROW and want != ROW:
        raise SpecError(
            path,
            formula.key,
            f"the formula varies along the slice (row) but {wrt} is {want}: reduce it with sum(...) or mean(...)",
        )


def _formula(path: str, key: str, text: str, graph: Graph, adjoints: Mapping[str, str], expr: Expr | None = None) -> Formula:
    """Parse a formula and check its names and kinds against the graph."""
    dy_kind = graph.kinds[graph.output]
    try:
        expr = parse(text) if expr is None else expr
        eqns, result, kind = lower_formula(graph, expr, {"dy": dy_kind, **adjoints})
    except ExprError as err:
        hint = ""
        if "unknown name" in err.message:
            names = [*graph.inputs, *graph.stages, "dy", "N"]
            hint = f"; the names are {', '.join(names)}"
        raise SpecError(path, key, f"{err} in {text!r}{hint}") from None
    return Formula(text=text, expr=expr, key=key, kind=kind, eqns=eqns, result=result)


__all__ = ["CONSTANT", "ROW", "SCALAR", "Claim", "Formula", "Input", "Layer", "SpecError", "load", "loads"]
