"""SpikeX sparse-SNN accelerator models for the AccelForge/HWComponents ecosystem.

The one-call entry points are importable from here (loaded on first use, so `spikex --help`
stays fast): `load_arch`, `load_network`, `run_map`. See docs/api.md.
"""

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("spikex-plugin")
except PackageNotFoundError:  # run from a source tree that was never installed
    __version__ = "0+unknown"

_EXPORTS = {"load_arch": "spikex_plugin.hardware.arch", "load_network": "spikex_plugin.workload.network",
            "run_map": "spikex_plugin.api"}
__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'spikex_plugin' has no attribute '{name}'")
