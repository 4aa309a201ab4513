"""The layer's real domain, and random points inside it.

A layer is defined where every square root it takes has a positive radicand, every
log a positive argument, every division a non-zero divisor, and every fractional
power a positive base; its inputs declared positive are positive, and N is a whole
number >= 1.  "Proved" means equal on this domain, and every counterexample lies
inside it.  Whether a point is inside is decided on FLINT balls
(:data:`~symbn.realise.numbers.BALLS`): a condition holds only when its ball says so
for certain.

A formula (a claim) can fail on the layer's domain in its own way: the square root
or log of a negative number is not real there, which refutes it; a division by zero
at one point says nothing (the point is skipped).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Iterator, Mapping
from fractions import Fraction
from typing import Any

from symbn.ad.interpret import read
from symbn.ir.graph import Eqn
from symbn.ir.primitives import ROW, div_p, log_p, pow_p, sqrt_p
from symbn.lang.derivation import Layer
from symbn.realise.concrete import Row
from symbn.realise.shards import PerShard

INSIDE, OUTSIDE, UNSURE = "inside", "outside", "unsure"


def _items(value) -> list:
    if isinstance(value, PerShard):
        return [item for part in value.parts for item in _items(part)]
    return list(value.items) if isinstance(value, Row) else [value]


def conditions(eqns: Iterable[Eqn]) -> Iterator[tuple[Eqn, str, Any]]:
    """(equation, condition, the argument it is about): 'positive' or 'nonzero'."""
    for eqn in eqns:
        if eqn.prim in (sqrt_p, log_p):
            yield eqn, "positive", eqn.args[0]
        elif eqn.prim is div_p:
            yield eqn, "nonzero", eqn.args[1]
        elif eqn.prim is pow_p:
            exponent = eqn.args[1]
            if not isinstance(exponent, Fraction) or exponent.denominator != 1:
                yield eqn, "positive", eqn.args[0]
            elif exponent < 0:
                yield eqn, "nonzero", eqn.args[0]


def check(eqns: Iterable[Eqn], env: Mapping[str, Any], B) -> tuple[str, str]:
    """Whether every condition of ``eqns`` holds at the values in ``env`` (balls):
    INSIDE, OUTSIDE (with what fails) or UNSURE."""
    verdict, why = INSIDE, ""
    for eqn, condition, arg in conditions(eqns):
        for v in _items(read(env, B, arg)):
            if not v.is_finite():
                return UNSURE, f"{eqn.prim.name} in {eqn.stage} is not finite"
            holds = v > 0 if condition == "positive" else not v.contains(0)
            if holds:
                continue
            fails = v <= 0 if condition == "positive" else v == 0
            if fails:
                return OUTSIDE, f"{eqn.prim.name} of {arg} in {eqn.stage}"
            verdict, why = UNSURE, f"{eqn.prim.name} of {arg} in {eqn.stage} is too close to 0"
    return verdict, why


def not_real(eqns: Iterable[Eqn], env: Mapping[str, Any], B) -> str:
    """Where a formula takes the square root, log or fractional power of a negative
    number (certainly), a description; else ''."""
    for eqn, condition, arg in conditions(eqns):
        if condition != "positive":
            continue
        for v in _items(read(env, B, arg)):
            if v.is_finite() and v < 0:
                return f"{eqn.prim.name} of a negative number ({_short(v)})"
    return ""


def _short(ball) -> str:
    return ball.mid().str(6, radius=False)


class Sampler:
    """Random exact points for a layer: small rationals, positive where declared.
    Inside the domain is checked by the caller (it needs the layer evaluated)."""

    def __init__(self, layer: Layer, seed: int = 0):
        self.layer, self.rng = layer, random.Random(seed)

    def point(self, n: int) -> dict[str, Any]:
        layer = self.layer
        values: dict[str, Any] = {}
        given = [("dy", layer.output_kind)] if not layer.loss else []
        for name, kind in [*((v, v.kind) for v in layer.graph.inputs), *given]:
            positive = name in layer.inputs and layer.inputs[name].positive
            values[name] = [self._number(positive) for _ in range(n)] if kind == ROW else self._number(positive)
        return values

    def _number(self, positive: bool) -> Fraction:
        if positive:
            return Fraction(self.rng.randint(1, 9), self.rng.choice((1, 2, 4)))
        return Fraction(self.rng.randint(-9, 9), self.rng.choice((1, 2, 3)))


__all__ = ["INSIDE", "OUTSIDE", "UNSURE", "Sampler", "check", "conditions", "not_real"]
