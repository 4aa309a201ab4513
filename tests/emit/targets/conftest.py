import importlib.util

import pytest

import symbn
from symbn.emit.module import load_module
from symbn.emit.targets import load

from ...files import ROOT
from ..data import FILES


def installed(library: str) -> bool:
    return importlib.util.find_spec(library) is not None


def loaded(target: str):
    """A session fixture: (layer, the target's module, the NumPy module) for each derivation file."""
    @pytest.fixture(scope="session", params=FILES)
    def fixture(request):
        if not installed(target):
            pytest.skip(f"{target} is not installed (pip install 'symbn[{target}]')")
        layer = symbn.load(ROOT / request.param)
        # no time limit: the prover forks a worker for one, and JAX, once imported, warns against forking
        return layer, load(layer, target, time_limit=None), load_module(layer, time_limit=None)

    return fixture


numba_case = loaded("numba")
torch_case = loaded("torch")
jax_case = loaded("jax")
