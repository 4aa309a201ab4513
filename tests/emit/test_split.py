"""reduce=: the slice split across devices (threads of one process here, no torch).

Each device passes its part of the slice and gets its part of y and dx; the
statistics and the per-slice gradients are those of the whole slice.  Compared
with one call on the whole slice: float64 to 1e-12, float32 to 1e-5 (relative)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

import symbn
from symbn.distributed import Threads
from symbn.emit.module import load_module
from symbn.emit.split import NotSplittable, prove_split, shards_table, statistics
from symbn.ir.primitives import CONSTANT, ROW
from symbn.lang.derivation import _Reader, loads
from symbn.lang.expr import parse_assignment
from symbn.numeric import random_inputs
from symbn.proof.shards import prove_shards

from ..files import BATCHNORM
from .data import BATCHNORM_TEXT, FILES

SIZES = [(5, 1, 7), (1, 9)]  # three devices and two, one of them with a single sample


def relative(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


def shards(layer, values, dy, sizes, axis):
    """Each device's inputs: the data, dy and row-kind inputs cut along ``axis``."""
    cuts = np.cumsum(sizes)[:-1]
    per = []
    for name, v in values.items():
        row = layer.inputs[name].kind == ROW
        pieces = np.split(v, cuts, axis=axis if v.ndim == dy.ndim else 0) if row else [v] * len(sizes)
        per.append(pieces)
    return per, np.split(dy, cuts, axis=axis)


def split_run(module, layer, values, dy, sizes, axis=0, dtype=np.float64, constants=None):
    """forward and backward on len(sizes) devices: (y, dx... joined, per-slice gradients of every device)."""
    kw = {"axis": axis, **(constants or {})}
    per, dys = shards(layer, {k: v.astype(dtype) for k, v in values.items()}, dy.astype(dtype), sizes, axis)

    def device(*args, reduce):
        *inputs, d = args
        y, saved = module.forward(*inputs, return_saved=True, reduce=reduce, **kw)
        return y, module.backward(d, *inputs, saved=saved, reduce=reduce, **kw), \
            module.backward(d, *inputs, reduce=reduce, **kw)

    group = Threads(len(sizes))
    out = group.run(device, *per, dys)
    return out, group


def one_device(module, values, dy, axis=0, dtype=np.float64, constants=None):
    kw = {"axis": axis, **(constants or {})}
    args = [v.astype(dtype) for v in values.values()]
    return module.forward(*args, **kw), module.backward(dy.astype(dtype), *args, **kw)


@pytest.fixture(scope="module")
def batchnorm():
    layer = symbn.load(BATCHNORM)
    return layer, load_module(layer)


@pytest.mark.parametrize("sizes", SIZES)
@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_batchnorm_split_equals_one_device(batchnorm, sizes, dtype, tol):
    layer, module = batchnorm
    values, dy = random_inputs(layer, (sum(sizes), 3), 0, seed=1)
    out, group = split_run(module, layer, values, dy, sizes, dtype=dtype)
    y1, (dx1, dgamma1, dbeta1) = one_device(module, values, dy)  # float64: the reference
    assert relative(np.concatenate([o[0] for o in out]), y1) < tol
    for k in (1, 2):  # saved from the forward, and recomputed (saved=None)
        assert relative(np.concatenate([o[k][0] for o in out]), dx1) < tol
        for o in out:  # every device gets the whole batch's dgamma, dbeta
            assert o[k][1].dtype == dtype and o[k][0].dtype == dtype
            assert relative(o[k][1], dgamma1) < tol and relative(o[k][2], dbeta1) < tol
    assert group.calls == 4  # forward 1, backward given saved 1, backward without saved 2 (its forward's and its own)


def test_message_count_and_size(batchnorm):
    """One all-reduce each way: forward 1 + 2·C values, backward 1 + 2·C."""
    layer, module = batchnorm
    C = 4
    values, dy = random_inputs(layer, (6, C), 0, seed=2)
    per, dys = shards(layer, values, dy, (2, 4), 0)
    sent = []

    def device(x, gamma, beta, d, reduce):
        def counted(a):
            sent.append(a.size)
            return reduce(a)
        _, saved = module.forward(x, gamma, beta, return_saved=True, reduce=counted)
        return module.backward(d, x, gamma, beta, saved=saved, reduce=counted)

    Threads(2).run(device, *per, dys)
    assert sent == [1 + 2 * C] * 4  # two devices, one message each way
    assert "one all-reduce of 1 + 2·C float64 values" in module.forward.__doc__
    assert "one all-reduce of 1 + 2·C float64 values" in module.backward.__doc__
    assert "Forward: one all-reduce of 1 + 2·C float64 values; backward: one" in module.__doc__


def test_float32_large_mean(batchnorm):
    """Data with mean 1e4 and spread 1 in float32: as close to float64 as one device is."""
    layer, module = batchnorm
    rng = np.random.default_rng(5)
    sizes = (700, 1, 1300)
    x = (1e4 + rng.standard_normal((sum(sizes), 4))).astype(np.float32).astype(np.float64)  # exact in both
    values = {"x": x, "gamma": rng.standard_normal(4), "beta": rng.standard_normal(4)}
    dy = rng.standard_normal(x.shape)
    out, _ = split_run(module, layer, values, dy, sizes, dtype=np.float32)
    y1, (dx1, _, _) = one_device(module, values, dy)
    y32, (dx32, _, _) = one_device(module, values, dy, dtype=np.float32)
    split_y = relative(np.concatenate([o[0] for o in out]), y1)
    split_dx = relative(np.concatenate([o[1][0] for o in out]), dx1)
    assert split_y < 1e-6 and split_dx < 1e-6
    assert split_y < 4 * max(relative(y32, y1), 1e-7) and split_dx < 4 * max(relative(dx32, dx1), 1e-7)


@pytest.mark.parametrize("path", FILES)
def test_every_file_splits_along_its_slice(path):
    """Every derivation file: three devices against one, float64, data of (N, 3) split along axis 0,
    and for LayerNorm along its features (axis=-1, each device its features and its gamma, beta)."""
    layer = symbn.load(BATCHNORM.parent.parent / path)
    module = load_module(layer)
    assert "refused" not in module.forward.__doc__  # its split was proved for 2 and 3 devices
    constants = {n: 0.5 for n, i in layer.inputs.items() if i.kind == CONSTANT and i.default is None}
    for shape, axis, sizes in (((10, 3), 0, (4, 1, 5)), ((3, 10), -1, (6, 1, 3))):
        values, dy = random_inputs(layer, shape, axis, seed=3)
        with np.errstate(all="ignore"):
            out, _ = split_run(module, layer, values, dy, sizes, axis=axis, constants=constants)
            y1, grads1 = one_device(module, values, dy, axis=axis, constants=constants)
        assert relative(np.concatenate([o[0] for o in out], axis=axis), y1) < 1e-12
        for k, (name, g1) in enumerate(zip(values, grads1)):
            if layer.inputs[name].kind == ROW:  # cut like its input: each device has its part
                got = [np.concatenate([o[j][k] for o in out], axis=axis if np.ndim(g1) == len(shape) else 0)
                       for j in (1, 2)]
            else:  # per-slice: every device has the whole slice's sum
                got = [o[j][k] for o in out for j in (1, 2)]
            for g in got:
                assert relative(g, g1) < 1e-11, name


def test_one_pass_variance_splits():
    """var = mean(x**2) - mu**2 reads no statistic in its sum: the same slots."""
    text = BATCHNORM_TEXT.replace('"sq = xmu**2",                 # step 3', '"sq = x**2",').replace(
        '"var = mean(sq)",              # step 4', '"var = mean(sq) - mu**2",')
    layer = loads(text.split("[notation]")[0].split("[[claims]]")[0])
    stats = statistics(layer.graph.eqns, {"x"}, {"y"})
    assert [str(s) for s in stats.slots] == ["x", "x**2"]


NOT_POLYNOMIAL = """
[layer]
name = "centred_softmax"
stages = ["mu = mean(x)", "e = exp(x - mu)", "s = sum(e)", "y = e/s"]
output = "y"
[inputs]
x = { kind = "row" }
[closed_form]
x = "y*(dy - sum(dy*y))"
"""


def test_a_statistic_not_polynomial_in_another_is_refused():
    layer = loads(NOT_POLYNOMIAL)
    with pytest.raises(NotSplittable, match="not a polynomial"):
        statistics(layer.graph.eqns, {"x"}, {"y"})
    module = load_module(layer)
    x = np.arange(6.0).reshape(3, 2)
    assert module.forward(x).shape == x.shape  # one device: as before
    with pytest.raises(ValueError, match="cannot be summed across devices in one message"):
        module.forward(x, reduce=lambda a: a)


def test_reduce_must_return_its_shape_and_dtype(batchnorm):
    _, module = batchnorm
    x = np.arange(6.0).reshape(3, 2)
    with pytest.raises(ValueError, match="same shape and dtype|shape and dtype it was given"):
        module.forward(x, np.ones(2), np.zeros(2), reduce=lambda a: a.astype(np.float32))


def test_one_device_reduce_is_identity(batchnorm):
    """reduce = the identity (one device) gives what reduce=None gives."""
    layer, module = batchnorm
    values, dy = random_inputs(layer, (7, 3), 0, seed=4)
    args = list(values.values())
    y0, y1 = module.forward(*args), module.forward(*args, reduce=lambda a: a)
    assert relative(y1, y0) < 1e-13
    for a, b in zip(module.backward(dy, *args, reduce=lambda a: a), module.backward(dy, *args)):
        assert relative(a, b) < 1e-13


def test_the_split_is_written_as_shards_and_proved(batchnorm):
    """What the module computes with reduce=, as a [shards] table the prover checks."""
    layer, module = batchnorm
    table = shards_table(layer, module.FORMULAS)
    assert table["stages"] == [
        "mu = allreduce(shard_sum(x))/allreduce(Nk)",
        "var = (allreduce(Nk)*mu**2 - 2*allreduce(shard_sum(x))*mu + allreduce(shard_sum(x**2)))/allreduce(Nk)"]
    assert table["backward"][2] == "dbeta = allreduce(shard_sum(dy))"
    assert prove_split(layer, module.FORMULAS) is None


def test_a_wrong_split_is_not_proved(batchnorm):
    """N - 1 for N in the backward is refuted; so is the bug class of PyTorch #36382, each
    device dividing the all-reduced sums by its own count (written into the table by hand)."""
    layer, module = batchnorm
    formulas = {**module.FORMULAS, "dx": module.FORMULAS["dx"].replace("mean(dy)", "sum(dy)/(N - 1)")}
    verdict = prove_split(layer, formulas)
    assert verdict is not None and verdict.startswith("x on 2 devices: refuted")

    table = shards_table(layer, module.FORMULAS)
    table["backward"][0] = table["backward"][0].replace("/allreduce(Nk)", "/(2*Nk)")
    stages = {n: (t, parse_assignment(t)[1]) for n, t in layer.stage_text.items()}
    split = replace(layer, split=_Reader(layer.path).split(table, layer, stages))
    verdicts = {r.wrt: r.verdict for r in prove_shards(split, 2).results}
    assert verdicts["x"] == "refuted" and verdicts["gamma"] == verdicts["beta"] == "proved"


def test_a_device_without_rows_and_nchw(batchnorm):
    """A device may hold no rows; (N, C, H, W) with axis=(0, 2, 3) splits along N."""
    layer, module = batchnorm
    values, dy = random_inputs(layer, (6, 3, 2, 2), (0, 2, 3), seed=6)
    for sizes in ((0, 2, 4), (1, 5)):
        out, _ = _nchw(module, layer, values, dy, sizes)
        y1, (dx1, dgamma1, _) = one_device(module, values, dy, axis=(0, 2, 3))
        assert out[0][0].shape[0] == sizes[0]
        assert relative(np.concatenate([o[0] for o in out]), y1) < 1e-12
        assert relative(np.concatenate([o[1][0] for o in out]), dx1) < 1e-12
        assert all(relative(o[1][1], dgamma1) < 1e-12 for o in out)


def _nchw(module, layer, values, dy, sizes):
    per, dys = shards(layer, values, dy, sizes, 0)

    def device(x, gamma, beta, d, reduce):
        y, saved = module.forward(x, gamma, beta, axis=(0, 2, 3), return_saved=True, reduce=reduce)
        return y, module.backward(d, x, gamma, beta, axis=(0, 2, 3), saved=saved, reduce=reduce)

    return Threads(len(sizes)).run(device, *per, dys), None
