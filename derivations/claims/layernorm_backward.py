"""A LayerNorm backward pass in NumPy: the slice is the last axis (one sample's N features).

gamma and beta are shared by the samples, so their gradients are summed over the batch
(axis 0); the per-sample statistics keep their axis (keepdims=True) to broadcast.
"""

import numpy as np


def layernorm_backward(dout, cache):
    xhat, gamma, ivar = cache  # xhat (B, N), gamma (N,), ivar (B, 1)
    N = dout.shape[-1]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * xhat, axis=0)
    dxhat = dout * gamma
    dx = ivar / N * (N * dxhat - dxhat.sum(axis=-1, keepdims=True) - xhat * np.sum(dxhat * xhat, axis=-1, keepdims=True))
    return dx, dgamma, dbeta
