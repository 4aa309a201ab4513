"""Backward passes with the mistakes people make, each refuted by symbn and located.

Not for use: each function carries one classic mistake, named in its docstring.
"""

import numpy as np


def batchnorm_backward_unbiased(dout, cache):
    """Seed 002's backward with Bessel's correction in step 4: 1/(N-1) where the forward
    pass divided by N (the variance's backward must mirror its forward)."""
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N, D = dout.shape
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1. / (sqrtvar**2) * divar
    dvar = 0.5 * 1. / np.sqrt(var + eps) * dsqrtvar
    dsq = 1. / (N - 1) * np.ones((N, D)) * dvar
    dxmu2 = 2 * xmu * dsq
    dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)
    dx = dxmu1 + dxmu2 + 1. / N * np.ones((N, D)) * dmu
    return dx, dgamma, dbeta


def layernorm_backward_twice(dout, cache):
    """A LayerNorm dx that subtracts mean(dy*gamma) twice: once in the centring of
    dxhat, and again in the final combination."""
    xhat, gamma, ivar = cache
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    centred = dxhat - dxhat.mean(axis=-1, keepdims=True)
    dx = ivar * (centred - dxhat.mean(axis=-1, keepdims=True) - xhat * np.mean(dxhat * xhat, axis=-1, keepdims=True))
    return dx, dgamma, dbeta
