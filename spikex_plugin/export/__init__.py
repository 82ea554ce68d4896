"""Exporters from SpikeX designs to other tools' input formats (`export_timeloop`,
`load_timeloop_yaml`: loaded on first use, so the command line starts fast)."""

from importlib import import_module

__all__ = ["export_timeloop", "load_timeloop_yaml"]


def __getattr__(name: str):
    if name in __all__:
        return getattr(import_module("spikex_plugin.export.timeloop"), name)
    raise AttributeError(f"module 'spikex_plugin.export' has no attribute '{name}'")
