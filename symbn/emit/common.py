"""Text every emitted module shares, whatever its target: signatures, constants, copied helpers."""

from __future__ import annotations

import inspect
import types

from symbn.emit.plan import Plan
from symbn.emit.printer import number
from symbn.ir.primitives import CONSTANT
from symbn.lang.derivation import Layer


def signature(layer: Layer, first: str, tail: str) -> str:
    """``first, <inputs>, *, <constants with defaults>, tail`` (first may be empty)."""
    args = [first] if first else []
    args += [n for n, i in layer.inputs.items() if i.kind != CONSTANT]
    consts = [f"{n}={number(i.default)}" if i.default is not None else n for n, i in layer.inputs.items() if i.kind == CONSTANT]
    return ", ".join(args + ["*"] + consts + [tail])


def constants(layer: Layer, plan: Plan, twice=None) -> str:
    """The module's LAYER, INPUTS, GRADIENTS, SAVED and FORMULAS (and SECOND_ORDER, the double
    backward's formulas as printed, when ``twice`` has them)."""
    grads = tuple("d" + w for w in layer.differentiable)
    formulas = {"d" + w: t for w, t in plan.texts().items()}
    lines = [
        f"LAYER = {layer.name!r}",
        f"INPUTS = {tuple(layer.inputs)!r}",
        f"GRADIENTS = {grads!r}",
        f"SAVED = {plan.saved_order!r}",
        f"FORMULAS = {formulas!r}",
    ]
    if twice:
        lines.append(f"SECOND_ORDER = {({'d' + w: t for w, (t, _) in twice.items()})!r}")
    return "\n".join(lines)


def helpers(module: types.ModuleType, drop: tuple[str, ...] = ("import numpy as np\n",)) -> str:
    """A helper module's source without its docstring and its imports (the emitted
    module has its own): tested once as a module, copied as text."""
    body = inspect.getsource(module).split('"""', 2)[2]
    for line in drop:
        body = body.replace(line, "", 1)
    return body.strip("\n")


__all__ = ["constants", "helpers", "signature"]
