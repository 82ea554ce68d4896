"""Sweeps over one knob at a time: cost against firing rate (EDP against TWS per layer comes
with `api.run_map(curves=True)`, from the mapper's priced candidates)."""

from __future__ import annotations

from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapper import Objective
from spikex_plugin.workload.network import Network


def rate_sweep(network: Network, arch: SpikeXArch, rates: list[float], objective: Objective = "edp",
               workers: int = 2) -> list[dict]:
    """Network energy, latency and EDP at each uniform firing rate (the paper's 0.5 %..0.01 %)."""
    from spikex_plugin.api import run_map

    rows = []
    for rate in rates:
        res = run_map(arch, network, density=rate, objective=objective, workers=workers)
        rows.append({"rate": rate, "energy_j": res.energy_j, "latency_s": res.latency_s,
                     "edp_js": res.edp_js, "cycles": res.cycles})
    return rows
