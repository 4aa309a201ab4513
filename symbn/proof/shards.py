"""A slice split across devices: the split computation proved equal to the single-device layer.

A file's ``[shards]`` gives the layer's statistics computed per device and merged
(sums and counts, or mean/invstd/count with Chan's merge and the ε round trip) and the
backward computed from per-device sums that are all-reduced.  ``symbn prove FILE
--shards K`` realises K shards of symbolic sizes N_1 … N_K ≥ 1 (:mod:`symbn.realise.shards`)
and proves, for every size at once:

- each statistic the split computes (a stage it replaces) equals the layer's on the
  concatenated slice, and so does the output y;
- each gradient the split backward computes (d<input>) equals reverse mode of the layer;
- each claim with ``shards = true`` equals reverse mode of the layer.

K = 2 and K = 3 are proved directly.  That any K follows: the merge of K shards is the
merge of K − 1 shards with one more (a split's statistics are sums over the devices,
which associate), so a proof for two shards of any sizes, one of which may itself be a
merged group, covers every K by induction (README, "Many devices").
"""

from __future__ import annotations

from typing import Any

from symbn.ir.primitives import ROW
from symbn.lang.derivation import Input, Layer, SpecError
from symbn.proof.prover import claim_side, run, truth_side
from symbn.proof.refute import Side
from symbn.proof.report import Proof
from symbn.proof.routes import Routes
from symbn.realise.shards import PerShard


def split_problem(layer: Layer, shards: int) -> Layer:
    """The split computation of ``layer`` over ``shards`` devices, as a layer of its own."""
    if layer.split is None:
        raise SpecError(layer.path, "shards", "no [shards] table: write the split (per-device statistics, their merge, "
                                              "and the backward from all-reduced sums) to prove it")
    if shards < 2:
        raise SpecError(layer.path, "shards", f"--shards {shards}: a split needs at least 2 devices")
    inputs = {**layer.inputs, "dy": Input("dy", layer.output_kind, "dy", direction=True)}
    return Layer(layer.path, f"{layer.name}, split across {shards} devices", layer.title, inputs,
                 {**layer.stage_text, **layer.split.text}, layer.split.graph, {}, loss=True, shards=shards,
                 latex_names=layer.latex_names, whole=layer)


class _Single:
    """The single-device layer's routes on the same realisation as the split's."""

    def __init__(self, layer: Layer):
        self.layer = layer
        self.cache: dict[int, Routes] = {}

    def __call__(self, routes: Routes) -> Routes:
        key = id(routes.B)
        if key not in self.cache:
            self.cache[key] = Routes(self.layer, routes.B)
        return self.cache[key]


def _at_j(routes: Routes, value, kind: str):
    """The value element j sees: at j for a row, its device's for a per-device value."""
    if kind == ROW:
        return routes.B.at_j(value)
    return value.parts[0] if isinstance(value, PerShard) else value


def obligations(layer: Layer, problem: Layer) -> list[tuple[str, tuple[Side, Side]]]:
    single, split = _Single(layer), layer.split
    out = []
    for s in [*(s for s in split.stages if s in layer.graph.stages), layer.graph.output]:
        kind, mine = layer.graph.kinds[s], problem.graph.kinds[s]
        out.append((s, (Side("layer", lambda r, s=s, k=kind: _at_j(r, single(r).env[s], k), None, ("layer", s)),
                        Side("split", lambda r, s=s, k=mine: _at_j(r, r.env[s], k), None, ("split", s)))))
    for w in layer.differentiable:
        if "d" + w in split.backward:
            kind = layer.graph.kinds[w]
            out.append((w, (Side("reverse", lambda r, w=w: single(r).adjoint(w), None, ("reverse", w)),
                            Side("split", lambda r, w=w, k=kind: _at_j(r, r.env["d" + w], k), None, ("split", "d" + w)))))
    return out


def prove_shards(layer: Layer, shards: int = 2, time_limit: float | None = 60.0) -> Proof:
    """The split's statistics, output and backward against the layer, for every shard size."""
    problem = split_problem(layer, shards)
    proof = Proof(layer.name, None, shards=shards)
    proof.results = run(problem, None, obligations(layer, problem), time_limit)
    return proof


def shard_claims(layer: Layer, shards: int = 2, time_limit: float | None = 60.0) -> list[tuple[Any, Any]]:
    """(claim, result) for every claim with shards = true, against reverse mode of the layer."""
    claims = [c for c in layer.claims if c.shards]
    if not claims:
        return []
    problem = split_problem(layer, shards)
    single = _Single(layer)
    sides = []
    for c in claims:
        truth = truth_side(c.wrt)
        truth = Side(truth.label, lambda r, w=c.wrt: single(r).adjoint(w), None, ("reverse", c.wrt))
        sides.append((c.wrt, (truth, claim_side(c.id, c.formula, c.wrt))))
    return list(zip(claims, run(problem, None, sides, time_limit)))


__all__ = ["obligations", "prove_shards", "shard_claims", "split_problem"]
