"""Certification: a formula that is not proved is not emitted."""

from __future__ import annotations

from dataclasses import replace

import pytest

import symbn
from symbn.emit import certify
from symbn.emit.certify import NotCertified
from symbn.emit.module import emit_module

from ..files import BATCHNORM
from .data import BATCHNORM_TEXT


def test_wrong_closed_form_is_refused():
    layer = symbn.loads(BATCHNORM_TEXT.replace('x     = "gamma*ivar*(dy - mean(dy) - xhat*mean(dy*xhat))"',
                                          'x     = "gamma*ivar*(dy - xhat*mean(dy*xhat))"'), "wrong.toml")
    with pytest.raises(NotCertified, match=r"closed form of dx.*not proved.*refuted at N=") as info:
        emit_module(layer)
    assert info.value.verdict == "refuted"


def test_wrong_emitted_formula_is_refused(monkeypatch):
    layer = symbn.load(BATCHNORM)
    wrong = {"x": "gamma*ivar*(dy - ivar**2*mean(dy*xmu)*xmu)", "gamma": "ivar*sum(dy*xmu)", "beta": "sum(dy)"}
    monkeypatch.setattr(certify, "fast_forms", lambda layer: wrong)
    with pytest.raises(NotCertified, match="emitted formula of dx.*nothing was emitted"):
        emit_module(layer)


def test_missing_closed_form_is_refused():
    layer = symbn.load(BATCHNORM)
    layer = replace(layer, closed_form={k: v for k, v in layer.closed_form.items() if k != "beta"})
    with pytest.raises(NotCertified, match="no closed form for beta"):
        emit_module(layer)

