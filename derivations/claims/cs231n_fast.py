"""CS231n's fast BatchNorm backward: dx in one line (assignment 2, batchnorm_backward_alt).

The dx line is the one people copy; the rest is what it needs.
"""

import numpy as np


def batchnorm_backward_alt(dout, cache):
    x, mu, var, eps, gamma = cache
    N = dout.shape[0]
    dbeta = np.sum(dout, axis=0)
    dgamma = np.sum(dout * (x - mu) * (var + eps)**(-1. / 2.), axis=0)
    dx = (1. / N) * gamma * (var + eps)**(-1. / 2.) * (N * dout - np.sum(dout, axis=0) - (x - mu) * (var + eps)**(-1.0) * np.sum(dout * (x - mu), axis=0))
    return dx, dgamma, dbeta
