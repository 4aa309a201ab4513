"""Code claims: a function's returned values, each a formula for one gradient of the layer.

``code_claim(layer, code, ...)`` reads the function (:mod:`symbn.lang.python`, never
running it) against the layer's names and gives one :class:`~symbn.lang.formula.Formula`
per returned value: the equations it needs and its result.  ``returns`` says which
gradient each returned value is (default: the layer's differentiable inputs in file
order; a stage means that stage's adjoint); ``axis`` is the slice's axis in the
code's arrays (0: BatchNorm's rows, -1: LayerNorm's features).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from symbn.ir.graph import Graph, kind_of
from symbn.ir.primitives import ROW
from symbn.lang import python
from symbn.lang.formula import Formula
from symbn.lang.python import CodeError, Program
from symbn.lang.python.bind import Binder, BindError


@dataclass(frozen=True)
class CodeClaim:
    """A backward pass as written in code, with what its author meant of each gradient."""

    id: str
    returns: tuple[str, ...]
    formulas: Mapping[str, Formula]  # wrt -> the code's value for it
    program: Program
    expect: Mapping[str, str] = field(default_factory=dict)  # wrt -> correct | wrong
    code: str = ""  # as given: path.py:function, or the source
    source: str = ""
    note: str = ""
    axis: int = 0
    layouts: Mapping[str, Any] = field(default_factory=dict)  # wrt -> its layout in the code's arrays


def shared_inputs(graph: Graph) -> set[str]:
    """Row inputs that no statistic reads (LayerNorm's gamma and beta): parameters the
    code holds once and shares by all slices, whose gradient code sums over them."""
    out = set()
    for v in graph.inputs:
        if v.kind != ROW:
            continue
        reach = {v}
        for e in graph.eqns:
            if any(a in reach for a in e.vars):
                reach.add(e.out)
        if not any(e.prim.reduction and e.args[0] in reach for e in graph.eqns):
            out.add(str(v))
    return out


def code_claim(layer, code: Any, *, function: str | None = None, bind: Mapping[str, Any] | None = None,
               returns: Sequence[str] | None = None, axis: int = 0, base: Path | None = None, id: str = "code",
               expect: Mapping[str, str] | None = None, source: str = "", note: str = "") -> CodeClaim:
    """Read ``code`` (a function object, a path spec 'file.py:function', or source text) as a
    claim about ``layer``'s gradients.  Raises :class:`CodeError` or ``BindError``."""
    graph = layer.graph
    kinds = {**graph.kinds, "dy": layer.output_kind, **layer.adjoint_kinds()}
    kinds.pop("N", None)
    unit = python.unit(code, function, base)
    shared = shared_inputs(graph)
    program = python.read(unit, graph.vars, len(graph.eqns), kinds, dict(bind or {}), axis, shared=shared)
    wanted = tuple(returns) if returns else layer.differentiable
    targets = layer.targets()
    for w in wanted:
        if w not in targets:
            raise CodeError(unit.file, 0, 0, f"--returns names '{w}', which is neither a differentiable input nor a "
                                             f"stage (the gradients: {', '.join(targets)})")
    if program.fault is None and len(program.returns) != len(wanted):
        said = "--returns says" if returns else f"the layer has {len(wanted)} gradients ({', '.join(wanted)}), so symbn expects"
        raise CodeError(unit.file, program.returns[0].line if program.returns else 0, 0,
                        f"{unit.function.name} returns {len(program.returns)} value(s), and {said} {len(wanted)}: "
                        "say which gradient each one is with --returns NAME,...")
    formulas = {}
    for k, w in enumerate(wanted):
        r = program.returns[k] if program.fault is None else None
        atom = r.atom if r is not None else Fraction(0)
        eqns = program.needed([atom]) if r is not None else ()
        text = f"{unit.function.name}(): returned value {k + 1}"
        formulas[w] = Formula(text, None, f"{id}.{w}", kind_of(atom) if r is not None else ROW, eqns, atom)
    binder = Binder(kinds, dict(bind or {}), 2, axis % 2, shared)
    layouts = {w: binder.layout(w) for w in wanted}
    expects = {w: (expect or {}).get(w, "correct") for w in wanted}
    shown = code if isinstance(code, str) else f"{unit.file}:{unit.function.name}"
    return CodeClaim(id, wanted, formulas, program, expects, shown, source, note, axis, layouts)


KEYS = {"id", "source", "code", "function", "bind", "returns", "axis", "expect", "note"}


class ClaimSpecError(ValueError):
    """A ``[[claims]]`` entry with ``code`` that cannot be read: the key at fault and why."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key, self.message = key, message


@dataclass(frozen=True)
class CodeSpec:
    """A ``[[claims]]`` entry with ``code``, checked as TOML when the file is loaded and read
    (:func:`read`) when it is checked, so that a derivation file copied without its code
    can still be proved, emitted and rendered."""

    id: str
    key: str
    code: str
    function: str | None = None
    bind: Mapping[str, Any] = field(default_factory=dict)
    returns: tuple[str, ...] | None = None
    axis: int = 0
    expect: Mapping[str, str] = field(default_factory=dict)
    source: str = ""
    note: str = ""
    base: Path | None = None


def from_spec(layer, spec: Mapping[str, Any], key: str, cid: str, base: Path | None) -> CodeSpec:
    """A ``[[claims]]`` entry ``code = "path.py:function"`` (relative to the derivation
    file) or ``code = \"\"\"def ...\"\"\"``, with ``function``, ``bind``, ``returns``,
    ``axis`` and ``expect`` (a string, or a table by gradient)."""
    bad = sorted(set(spec) - KEYS)
    if bad:
        raise ClaimSpecError(f"{key}.{bad[0]}", f"unknown key; the keys of a code claim are {', '.join(sorted(KEYS))}")
    code = spec.get("code")
    if not isinstance(code, str) or not code.strip():
        raise ClaimSpecError(f"{key}.code", "expected 'path.py:function' or the function's source")
    bind = spec.get("bind", {})
    if not isinstance(bind, dict):
        raise ClaimSpecError(f"{key}.bind", 'expected a table such as { dout = "dy", x_norm = "xhat" }')
    returns = spec.get("returns")
    if isinstance(returns, str):
        returns = [r.strip() for r in returns.split(",") if r.strip()]
    if returns is not None and not (isinstance(returns, list) and all(isinstance(r, str) for r in returns)):
        raise ClaimSpecError(f"{key}.returns", 'expected a list of names such as ["x", "gamma", "beta"]')
    axis = spec.get("axis", 0)
    if isinstance(axis, bool) or not isinstance(axis, int):
        raise ClaimSpecError(f"{key}.axis", f"expected a whole number, got {axis!r}")
    expect = spec.get("expect", "correct")
    if isinstance(expect, str):
        expect = {w: expect for w in (returns or layer.differentiable)}
    if not isinstance(expect, dict) or any(v not in ("correct", "wrong") for v in expect.values()):
        raise ClaimSpecError(f"{key}.expect", 'expected "correct", "wrong", or a table of them by gradient')
    function = spec.get("function")
    if function is not None and not isinstance(function, str):
        raise ClaimSpecError(f"{key}.function", "expected the function's name")
    return CodeSpec(cid, key, code.strip() if "\n" not in code else code, function, dict(bind),
                    tuple(returns) if returns is not None else None, axis, dict(expect),
                    str(spec.get("source", "")), str(spec.get("note", "")), base)


def read(layer, spec: CodeSpec) -> CodeClaim:
    """Read a code claim's function.  Raises :class:`ClaimSpecError` naming the key at fault."""
    try:
        return code_claim(layer, spec.code, function=spec.function, bind=spec.bind, returns=spec.returns,
                          axis=spec.axis, base=spec.base, id=spec.id, expect=spec.expect, source=spec.source,
                          note=spec.note)
    except (CodeError, BindError) as err:
        raise ClaimSpecError(f"{spec.key}.code" if isinstance(err, CodeError) else f"{spec.key}.bind", str(err)) from None


__all__ = ["ClaimSpecError", "CodeClaim", "CodeError", "CodeSpec", "code_claim", "from_spec", "read", "shared_inputs"]
