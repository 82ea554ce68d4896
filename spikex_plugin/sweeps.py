"""Sweeps over one knob at a time: EDP against TWS per layer, cost against firing rate."""

from __future__ import annotations

from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapper import Objective, map_layer
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.workload.network import Network


def edp_vs_tws(network: Network, arch: SpikeXArch, densities: dict[str, DensityModel],
               objective: Objective = "edp") -> dict[str, dict[int, float]]:
    """Best EDP of each weighted layer with its TWS fixed to each allowed choice."""
    curves: dict[str, dict[int, float]] = {}
    for layer in network.weighted_layers:
        curve = {}
        for tws in arch.extras.tws_choices:
            if layer.T % tws and arch.extras.model != "ptb":  # PTB pads the last window
                continue
            try:
                curve[tws] = map_layer(layer, arch, densities[layer.name], objective, [tws]).cost.edp_js
            except ValueError:  # no mapping with this TWS fits the buffers
                continue
        curves[layer.name] = curve
    return curves


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
