import importlib.util
import os

import pytest

import symbn
from symbn.emit.module import load_module
from symbn.emit.targets import load

from ...files import ROOT
from ..data import FILES


def installed(library: str) -> bool:
    return importlib.util.find_spec(library) is not None


# Compiling numba's kernels costs 5-15 s each, about 20 per file: compiled, the numba tests run on these files
# (a column slice, a row slice with a per-feature gain, a stage of constants, exp, GroupNorm's slice); every file
# runs through the same kernels as Python (NUMBA_DISABLE_JIT=1) in test_numba.py's
# test_every_file_with_the_jit_off.  SYMBN_NUMBA_ALL=1 compiles for every file.
NUMBA_COMPILED = [f for f in FILES if f.rsplit("/", 1)[-1] in (
    "batchnorm.toml", "layernorm.toml", "rmsnorm.toml", "batchnorm_eval.toml", "softmax.toml", "groupnorm.toml")]
NUMBA_FILES = FILES if os.environ.get("SYMBN_NUMBA_ALL") or os.environ.get("NUMBA_DISABLE_JIT") else NUMBA_COMPILED


def loaded(target: str, files: list[str] = FILES):
    """A session fixture: (layer, the target's module, the NumPy module) for each derivation file."""
    @pytest.fixture(scope="session", params=files)
    def fixture(request):
        if not installed(target):
            pytest.skip(f"{target} is not installed (pip install 'symbn[{target}]')")
        layer = symbn.load(ROOT / request.param)
        # no time limit: the prover forks a worker for one, and JAX, once imported, warns against forking
        return layer, load(layer, target, time_limit=None), load_module(layer, time_limit=None)

    return fixture


numba_case = loaded("numba", NUMBA_FILES)
torch_case = loaded("torch")
jax_case = loaded("jax")
