import pytest

from spikex_plugin.hardware.arch import load_arch


@pytest.fixture(scope="session")
def spikex_arch():
    return load_arch("spikex")
