"""What the emit tests share: the files, the shapes and axes, and inputs to run modules on."""

from __future__ import annotations

import numpy as np

from symbn.numeric import random_inputs

from ..files import BATCHNORM, ROOT

FILES = sorted(str(p.relative_to(ROOT)) for p in ROOT.glob("derivations/*.toml"))
AXES = [((7, 3), 0), ((3, 7), -1), ((4, 3, 2, 2), (0, 2, 3)), ((2, 3, 4), (1, 2))]
BATCHNORM_TEXT = BATCHNORM.read_text()


def make_inputs(layer, shape, axis, seed=0, dtype=np.float64):
    """Random inputs (in file order, constants left out) and dy, for data of ``shape``."""
    values, dy = random_inputs(layer, shape, axis, seed)
    return [v.astype(dtype) for v in values.values()], dy.astype(dtype)


def float16_case(n=4096, seed=6):
    """BatchNorm's dy, x, gamma, beta in float16, x with mean 100 over n rows."""
    rng = np.random.default_rng(seed)
    x = (100 + rng.standard_normal((n, 4))).astype(np.float16)
    dy = rng.standard_normal((n, 4)).astype(np.float16)
    gamma, beta = rng.standard_normal(4).astype(np.float16), rng.standard_normal(4).astype(np.float16)
    return dy, x, gamma, beta
