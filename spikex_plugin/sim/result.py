"""What a simulation returns: per-action counts, energy from the arch's per-action table,
cycles, and the layer's output spikes."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from spikex_plugin.hardware.arch import SpikeXArch


@dataclass
class SimResult:
    actions: dict[tuple[str, str], float]      # (component, action) -> count
    cycles: float
    energy_j: float
    breakdown_j: dict[str, float]              # component -> J (actions + leakage over the run)
    cycle_parts: dict[str, float] = field(default_factory=dict)
    output_spikes: np.ndarray | None = None    # [T, M, P, Q] / [T, M] when weights were given


def priced(actions: dict[tuple[str, str], float], cycles: float, arch: SpikeXArch,
           cycle_parts: dict[str, float], output_spikes: np.ndarray | None = None) -> SimResult:
    """Energy = counts x the arch's energy per action, plus each component's leakage over
    the simulated time."""
    breakdown = arch.energy_breakdown(actions, cycles)
    return SimResult(actions, cycles, sum(breakdown.values()), breakdown, cycle_parts, output_spikes)
