"""Seed 002's staged backward pass (002_1fc2c2a14da3d46e.txt, steps 9 -> 0).

The seed's text gives its forward pass as code, with the cache
``(xhat, gamma, xmu, ivar, sqrtvar, var, eps)``, and the backward pass as a figure per
step with the rule in words (a sum gate passes the gradient on, a product gate swaps
its inputs, a mean spreads the gradient evenly over the N rows, "whenever we have two
gradients coming to one node, we simply add them up", "sum up the gradients dx1 and
dx2").  This is that backward pass written out step by step in the seed's names.
"""

import numpy as np


def batchnorm_backward(dout, cache):
    # unfold the cache of batchnorm_forward
    xhat, gamma, xmu, ivar, sqrtvar, var, eps = cache
    N, D = dout.shape

    # step 9: the sum gate passes the gradient on; beta's is summed over the rows
    dbeta = np.sum(dout, axis=0)
    dgammax = dout

    # step 8: the product gate: each input gets the other one times the gradient
    dgamma = np.sum(dgammax * xhat, axis=0)
    dxhat = dgammax * gamma

    # step 7: the numerator and the denominator branch
    divar = np.sum(dxhat * xmu, axis=0)
    dxmu1 = dxhat * ivar

    # step 6: the inversion
    dsqrtvar = -1. / (sqrtvar**2) * divar

    # step 5: the square root
    dvar = 0.5 * 1. / np.sqrt(var + eps) * dsqrtvar

    # step 4: the column-wise mean spreads the gradient evenly over the rows
    dsq = 1. / N * np.ones((N, D)) * dvar

    # step 3: the square
    dxmu2 = 2 * xmu * dsq

    # step 2: two gradients meet at xmu and are added; mu's is summed over the rows
    dx1 = (dxmu1 + dxmu2)
    dmu = -1 * np.sum(dxmu1 + dxmu2, axis=0)

    # step 1: the mean, as in step 4
    dx2 = 1. / N * np.ones((N, D)) * dmu

    # step 0: dx1 and dx2 are summed into dx
    dx = dx1 + dx2
    return dx, dgamma, dbeta
