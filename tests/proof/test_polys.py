"""Rational functions in FLINT: conversion, cancellation, and back."""

import pytest
import sympy as sp

from symbn.proof.polys import Ring, linear_in, ring_for

a, b, c = sp.symbols("a b c")


def test_a_fraction_is_cancelled_and_converts_back():
    ring = ring_for([a, b])
    num, den = ring.frac((a**2 - b**2) / (a + b) + 1 / (a - b) * (a - b))
    assert sp.expand(ring.expr(num) - (a - b + 1)) == 0 and ring.expr(den) == 1


def test_zero_is_zero_and_nonzero_is_not():
    ring = ring_for([a, b, c])
    assert ring.frac(a / (b + c) - a * (b + c) ** -1)[0].is_zero()
    assert not ring.frac(a / (b + c) - a / (b - c))[0].is_zero()


def test_division_by_zero_is_an_error():
    ring = ring_for([a])
    with pytest.raises(ZeroDivisionError):
        ring.frac(sp.Pow(sp.Add(a, -a, evaluate=False), -1, evaluate=False))


def test_functions_and_radicals_are_opaque_atoms():
    e = sp.exp(a) * sp.sqrt(b) + sp.log(c)
    assert Ring.atoms_of(e) == {sp.exp(a), sp.sqrt(b), sp.log(c)}
    ring = ring_for([e])
    num, den = ring.frac(e - sp.exp(a) * sp.sqrt(b))
    assert ring.expr(num) == sp.log(c) and ring.expr(den) == 1


def test_linear_in_one_atom():
    ring = ring_for([a, b])
    num, _ = ring.frac(3 * a * b + 2 * b - 1)
    k = ring.index[a]
    coeff, rest = linear_in(num, k)
    assert ring.expr(coeff) == 3 * b and ring.expr(rest) == 2 * b - 1
    assert linear_in(ring.frac(a**2)[0], k) is None
