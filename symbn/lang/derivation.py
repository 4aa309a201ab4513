"""Derivation files: read a TOML file, check it, and build the layer it describes
(:mod:`symbn.lang.layer` holds the records it builds).

Every problem is one :class:`SpecError` naming the file, the key and what is wrong,
with a hint how to fix it.  Nothing in the file is executed: formulas go through
:func:`symbn.expr.parse`, a whitelist over Python's ``ast``.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from symbn.ir.graph import Graph
from symbn.ir.primitives import CONSTANT, KINDS, ROW, SCALAR, SHARD
from symbn.lang import code
from symbn.lang.expr import Expr, ExprError, parse_assignment
from symbn.lang.formula import Formula
from symbn.lang.layer import RENDERERS, RESERVED, Claim, Input, Layer, SpecError, Split, _formula, check_kind, sharded
from symbn.lang.lower import build

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

EXPECT = ("correct", "wrong")


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
        top = {"layer", "inputs", "closed_form", "claims", "latex", "notation", "second_order", "shards"}
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
        layer = replace(layer, second_order=self.second_order(self.table(data, "second_order", set(), required=False), layer))
        layer = replace(layer, split=self.split(self.table(data, "shards", {"stages", "backward", "source"}, required=False),
                                                layer, stages))
        claims = self.claims(data.get("claims", []), layer)
        return replace(layer, claims=tuple(c for c in claims if isinstance(c, Claim)),
                       code_claims=tuple(c for c in claims if not isinstance(c, Claim)))

    def split(self, table: dict, layer: Layer, stages: Mapping[str, tuple[str, Expr]]) -> Split | None:
        """[shards]: stages = the statistics per device and their merge (a stage the layer has is
        replaced), backward = the gradients from all-reduced sums (d<input> for each input)."""
        if not table:
            return None
        kinds = {**{n: i.kind for n, i in layer.inputs.items()}, "dy": layer.output_kind}
        order: list[tuple[str, str, Expr]] = []
        for part in ("stages", "backward"):
            value = table.get(part, [])
            if not isinstance(value, list) or (part == "stages" and not value):
                raise self.error(f"shards.{part}", 'expected a list of stages such as ["mean_k = shard_mean(x)", ...]')
            for k, text in enumerate(value):
                key = f"shards.{part}[{k}]"
                try:
                    name, expr = parse_assignment(text)
                except ExprError as err:
                    raise self.error(key, f"{err} in {text!r}") from None
                if name in kinds or name in ("N", "Nk") or any(name == n for _, n, _ in order):
                    raise self.error(key, f"'{name}' is already defined; a split stage may replace a stage of the layer, once")
                if part == "backward" and name in stages:
                    raise self.error(key, f"'{name}' is a stage of the layer; the backward's stages need names of their own")
                order.append((part, name, expr))
        split_names = {n for p, n, _ in order if p == "stages"}
        kept = [(n, e) for n, (_, e) in stages.items() if n not in split_names]
        forward = [(n, e) for p, n, e in order if p == "stages"]
        backward = [(n, e) for p, n, e in order if p == "backward"]
        try:
            graph = build(kinds, [*forward, *kept, *backward], layer.graph.output, {"Nk": SHARD})
        except ExprError as err:
            raise self.error("shards", f"{err} (the split's stages come first, then the layer's, then the backward's)") from None
        missing = [w for w in layer.differentiable if "d" + w not in graph.vars]
        if backward and missing:
            raise self.error("shards.backward", f"no stage d{missing[0]}: the backward gives a gradient for each of "
                                                f"{', '.join(layer.differentiable)}")
        text = {n: t for t in [*table.get("stages", []), *table.get("backward", [])] for n in [parse_assignment(t)[0]]}
        return Split(graph, tuple(n for n, _ in forward), tuple(n for n, _ in backward), text,
                     self.string(table, "shards.source", required=False))

    def second_order(self, table: dict, layer: Layer) -> dict[str, Formula]:
        out = {}
        allowed = [*layer.differentiable, "dy"]
        for name, text in table.items():
            key = f"second_order.{name}"
            if name not in allowed:
                raise self.error(key, f"'{name}' is not a differentiable input or dy; second-order closed forms are "
                                      f"for {', '.join(allowed)}")
            if not isinstance(text, str):
                raise self.error(key, f"expected a formula string, got {type(text).__name__}")
            formula = _formula(self.path, key, text, layer.graph, layer.second_order_kinds())
            check_kind(self.path, formula, layer.kinds[name], name)
            out[name] = formula
        return out

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
            if sharded(expr):
                raise self.error(key, f"'{min(sharded(expr))}' belongs to a slice split across devices: the layer's "
                                      f"stages compute on one slice; write the split in [shards]")
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
        allowed = {"id", "source", "wrt", "formula", "expect", "note", "latex", "order", "shards"}
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
            order = spec.get("order", 1)
            if order not in (1, 2) or isinstance(order, bool):
                raise self.error(f"{key}.order", f"expected 1 or 2, got {order!r}")
            if order == 2 and wrt not in (*layer.differentiable, "dy"):
                raise self.error(f"{key}.wrt", f"a second-order claim is for ∂h/∂w with w one of "
                                               f"{', '.join((*layer.differentiable, 'dy'))}, not '{wrt}'")
            if order == 1:
                layer.check_wrt(wrt, f"{key}.wrt")
            expect = self.string(spec, f"{key}.expect", required=False, default="correct")
            if expect not in EXPECT:
                raise self.error(f"{key}.expect", f"expected \"correct\" or \"wrong\", got {expect!r}")
            split = spec.get("shards", False)
            if not isinstance(split, bool) or (split and layer.split is None) or (split and order != 1):
                raise self.error(f"{key}.shards", "shards = true is for a first-order claim of a file with [shards]")
            names = layer.adjoint_kinds() if order == 1 else layer.second_order_kinds()
            graph = layer.split.graph if split else layer.graph
            formula = _formula(self.path, f"{key}.formula", self.string(spec, f"{key}.formula"), graph,
                               {} if split else names, split=split)
            check_kind(self.path, formula, layer.kinds[wrt], wrt)
            claims.append(
                Claim(
                    id=cid,
                    wrt=wrt,
                    formula=formula,
                    expect=expect,
                    source=self.string(spec, f"{key}.source", required=False),
                    note=self.string(spec, f"{key}.note", required=False),
                    latex=self.string(spec, f"{key}.latex", required=False),
                    order=order,
                    shards=split,
                )
            )
        return tuple(claims)

    def code_claim(self, spec: dict, key: str, layer: Layer, cid: str):
        """A claim whose ``code`` is a backward pass (read by :mod:`symbn.lang.code` when checked, never run)."""
        try:
            return code.from_spec(layer, spec, key, cid, Path(self.path).parent)
        except code.ClaimSpecError as err:
            raise self.error(err.key, err.message) from None


__all__ = ["CONSTANT", "RENDERERS", "ROW", "SCALAR", "Claim", "Formula", "Input", "Layer", "SpecError", "Split", "load", "loads"]
