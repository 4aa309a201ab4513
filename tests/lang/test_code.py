"""Code claims in derivation files: checked as TOML on load, read when checked, inline or in a file."""

import pytest

import symbn
from symbn.lang.derivation import SpecError
from symbn.proof.claims import check_claims

from ..files import BATCHNORM

BASE = BATCHNORM.read_text().split("[notation]")[0]
INLINE = '''
[[claims]]
id     = "inline"
code   = """
import numpy as np

def backward(dout, gamma, ivar, xhat):
    dxhat = dout * gamma
    dx = ivar * (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0))
    return dx, (dout * xhat).sum(0), dout.sum(0)
"""
bind   = { dout = "dy" }
expect = "correct"
'''


def test_inline_code_is_a_claim():
    layer = symbn.loads(BASE + INLINE, "inline.toml")
    (spec,) = layer.code_claims
    assert spec.id == "inline" and spec.function is None and spec.bind == {"dout": "dy"}
    items = check_claims(layer, time_limit=None).items
    assert [(i.id, i.result.wrt, i.result.verdict, i.agrees) for i in items] == [
        ("inline", "x", "proved", True), ("inline", "gamma", "proved", True), ("inline", "beta", "proved", True)]


@pytest.mark.parametrize("change, message", [
    (('bind   = { dout = "dy" }', 'bind   = "dout=dy"'), "claims.inline.bind: expected a table"),
    (('expect = "correct"', 'expect = "maybe"'), "claims.inline.expect: expected \"correct\", \"wrong\""),
    (('expect = "correct"', 'axis = "0"'), "claims.inline.axis: expected a whole number"),
    (('expect = "correct"', 'wrt = "x"'), "claims.inline.wrt: unknown key; the keys of a code claim are"),
])
def test_a_bad_code_claim_is_one_error_on_load(change, message):
    with pytest.raises(SpecError, match=message.replace("(", r"\(")):
        symbn.loads(BASE + INLINE.replace(*change), "inline.toml")


def test_code_that_cannot_be_read_is_an_error_when_checked():
    layer = symbn.loads(BASE + INLINE.replace("    return dx,", "    for k in dx:\n        pass\n    return dx,"), "inline.toml")
    with pytest.raises(SpecError, match=r"inline.toml: claims.inline.code: <code>:6:5: loops are not supported"):
        check_claims(layer)
    layer = symbn.loads(BASE + INLINE.replace('{ dout = "dy" }', '{ dout = "dyy" }'), "inline.toml")
    with pytest.raises(SpecError, match="claims.inline.bind: dout=dyy: 'dyy' is not a quantity of the layer"):
        check_claims(layer)
