import os
import tempfile

import pytest

# Tests never read or write the user's cache (spikex_plugin.cache); subprocesses inherit this.
_CACHE = tempfile.TemporaryDirectory(prefix="spikex-test-cache-")
os.environ["SPIKEX_CACHE_DIR"] = _CACHE.name

from spikex_plugin.hardware.arch import load_arch  # noqa: E402


@pytest.fixture(scope="session")
def spikex_arch():
    return load_arch("spikex")
