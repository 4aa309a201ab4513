import pytest

import symbn

from .files import BATCHNORM


@pytest.fixture(scope="session")
def bn():
    """The BatchNorm derivation file, loaded once."""
    return symbn.load(BATCHNORM)
