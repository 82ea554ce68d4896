"""Exporters from SpikeX designs to other tools' input formats."""

from spikex_plugin.export.timeloop import export_timeloop, load_timeloop_yaml

__all__ = ["export_timeloop", "load_timeloop_yaml"]
