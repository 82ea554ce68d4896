"""HWComponents discovery shim for the SpikeX PE models.

HWComponents imports every installed top-level module named ``hwcomponents_*`` and
collects the public ``ComponentModel`` subclasses in its namespace
(``hwcomponents.find_models.installed_models``); re-exporting the models here makes
``spike_accumulator``, ``vmem_scratchpad``, ... resolvable by class name from any
HWComponents or AccelForge query once ``spikex-plugin`` is installed.
"""

from spikex_plugin.hardware.components import (
    ActivityTagLogic,
    PEController,
    SpikeAccumulator,
    SpikeComparator,
    VmemScratchpad,
    WeightRegister,
)

__all__ = [
    "ActivityTagLogic",
    "PEController",
    "SpikeAccumulator",
    "SpikeComparator",
    "VmemScratchpad",
    "WeightRegister",
]
