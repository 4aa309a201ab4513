import pytest

import symbn
from symbn.emit.module import load_module

from ..files import ROOT
from .data import FILES


@pytest.fixture(scope="session", params=FILES)
def case(request):
    """Each file's layer and its emitted module, emitted once for every emit test."""
    layer = symbn.load(ROOT / request.param)
    return layer, load_module(layer)
