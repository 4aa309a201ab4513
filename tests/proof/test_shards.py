"""A slice split across devices: PyTorch's SyncBatchNorm proved for symbolic shard sizes, its
bug class refuted with shards of different sizes (re-checked by the oracle on the concatenated slice)."""

import pytest
import sympy as sp

import symbn
import symbn.lang.expr
from symbn.proof.report import PROVED, REFUTED
from symbn.proof.shards import prove_shards, shard_claims, split_problem

from ..files import BATCHNORM
from ..oracle import formula_value, true_gradient

SPLIT = """
[layer]
name = "mean-centred"
stages = ["mu = mean(x)", "y = gamma*(x - mu)"]
output = "y"
[inputs]
x = { kind = "row" }
gamma = { kind = "scalar" }
[shards]
stages = ["mu = allreduce(shard_sum(x))/allreduce(Nk)"]
backward = ["dx = gamma*(dy - allreduce(shard_sum(dy))/allreduce(Nk))", "dgamma = allreduce(shard_sum(dy*(x - mu)))"]
"""


@pytest.mark.parametrize("k", [2, 3])
def test_syncbatchnorm_is_the_layer_for_every_shard_size(k):
    proof = prove_shards(symbn.load(BATCHNORM), k)
    assert proof.verdict == PROVED, proof.table()
    assert {r.wrt for r in proof.results} == {"mu", "var", "y", "x", "gamma", "beta"}


def test_one_device_is_the_layer_too():
    assert prove_shards(symbn.loads(SPLIT), 2).verdict == PROVED


@pytest.mark.parametrize("wrong, what", [
    ("mu = allreduce(shard_sum(x))/(2*Nk)", "a mean over 2*Nk: right only for equal shards"),
    ("mu = allreduce(shard_mean(x))/2", "the mean of the devices' means"),
])
def test_a_wrong_merge_is_refuted_with_shards_of_different_sizes(wrong, what):
    layer = symbn.loads(SPLIT.replace("mu = allreduce(shard_sum(x))/allreduce(Nk)", wrong))
    proof = prove_shards(layer, 2)
    mu = next(r for r in proof.results if r.wrt == "mu")
    assert mu.verdict == REFUTED, what
    ce = mu.counterexample
    assert len(ce.sizes) == 2 and ce.sizes[0] != ce.sizes[1] and sum(ce.sizes) == ce.n
    xs = ce.values["x"]
    assert sp.simplify(ce.lhs - sum(xs) / ce.n) == 0  # the layer's mu on the concatenated slice


def test_the_pr_36382_bug_class_is_refuted_and_the_oracle_agrees():
    layer = symbn.load(BATCHNORM)
    ((claim, result),) = shard_claims(layer, 2)
    assert claim.id == "syncbn-elemt-local-count" and result.verdict == REFUTED
    ce = result.counterexample
    assert ce.sizes[0] != ce.sizes[1]
    truth = true_gradient(layer, ce.values, "x", ce.n, ce.j)  # the single device, on the concatenated slice
    assert sp.simplify(truth - ce.lhs) == 0
    n1 = ce.sizes[0]  # the claim at j: a device holding n1 samples divides by 2*n1
    values = dict(ce.values)
    claimed = formula_value(layer, symbn.lang.expr.parse(
        f"(dy - sum(dy)/(2*{n1}) - xmu*ivar**2*sum(dy*xmu)/(2*{n1}))*ivar*gamma"), values, ce.n, ce.j)
    assert sp.simplify(claimed - ce.rhs) == 0 and sp.simplify(claimed - truth) != 0


def test_a_split_needs_a_shards_table_and_two_devices():
    with pytest.raises(symbn.SpecError, match="no \\[shards\\] table"):
        split_problem(symbn.load("derivations/layernorm.toml"), 2)
    with pytest.raises(symbn.SpecError, match="at least 2 devices"):
        split_problem(symbn.load(BATCHNORM), 1)


@pytest.mark.parametrize("text, message", [
    ('stages = ["mu = shard_mean(x)", "y = x - mu"]', "belongs to a slice split across devices"),
])
def test_shard_functions_only_in_a_split(text, message):
    bad = SPLIT.split("[shards]")[0].replace('stages = ["mu = mean(x)", "y = gamma*(x - mu)"]', text)
    with pytest.raises(symbn.SpecError, match=message):
        symbn.loads(bad)
