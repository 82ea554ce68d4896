"""One-call entry points: map a network on an architecture and collect the results."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Literal

from spikex_plugin.cost_model.spikex import LayerCost, evaluate_pool
from spikex_plugin.hardware.arch import SpikeXArch, arch_summary, load_arch
from spikex_plugin.mapping.mapper import Objective, map_network
from spikex_plugin.sparsity.density import ActualDataDensity, DensityModel, UniformDensity
from spikex_plugin.sparsity.stats import check_stats_match_network, load_stats
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.workload.network import Network, load_network

DEFAULT_DENSITY = 0.005  # 0.5 %: the top of the paper's firing-rate sweep
Engine = Literal["spikex", "accelforge"]


@dataclass
class NetworkResult:
    network: Network
    arch: SpikeXArch
    layers: list[LayerCost]
    density_source: str

    @property
    def energy_j(self) -> float:
        return sum(l.energy_j for l in self.layers)

    @property
    def cycles(self) -> float:
        return sum(l.cycles for l in self.layers)

    @property
    def latency_s(self) -> float:
        return sum(l.latency_s for l in self.layers)

    @property
    def edp_js(self) -> float:
        return self.energy_j * self.latency_s

    def to_json(self) -> dict:
        return {
            "arch": arch_summary(self.arch), "network": self.network.name, "density": self.density_source,
            "layers": [_layer_json(l, self.network.layer(l.name).type) for l in self.layers],
            "total": {"energy_j": self.energy_j, "cycles": self.cycles, "latency_s": self.latency_s,
                      "edp_js": self.edp_js},
        }


def _layer_json(l: LayerCost, layer_type: str) -> dict:
    actions: dict[str, dict[str, float]] = {}
    for (comp, action), n in sorted(l.actions.items()):
        actions.setdefault(comp, {})[action] = n
    return {"name": l.name, "type": layer_type, "energy_j": l.energy_j, "cycles": l.cycles, "latency_s": l.latency_s,
            "edp_js": l.edp_js, "tws": l.mapping.tws if l.mapping else None,
            "mode": l.mapping.mode if l.mapping else None,
            "mapping": l.mapping.to_dict() if l.mapping else None,
            "breakdown_j": l.breakdown_j, "actions": actions, "cycle_parts": l.cycle_parts,
            "bound": l.bound}


def densities_for(network: Network, density: float | None = None, profile: str | None = None,
                  ) -> tuple[dict[str, DensityModel], str]:
    """Per-layer density models from a uniform rate or a statistics file."""
    if profile is not None:
        stats = load_stats(profile)
        check_stats_match_network(stats, network, profile)
        return {name: ActualDataDensity(s) for name, s in stats.layers.items()}, f"profile:{profile}"
    d = DEFAULT_DENSITY if density is None else density
    if not (0.0 <= d <= 1.0) or d != d:
        raise SpikeXInputError("--density", "density", f"{d} is not a firing rate in [0, 1]")
    return ({l.name: UniformDensity(d, l.lines_per_channel) for l in network.resolved}, f"uniform:{d}")


def run_map(arch: str | SpikeXArch = "spikex", network: str | Network = "dvsg-medium",
            density: float | None = None, profile: str | None = None, objective: Objective = "edp",
            workers: int = 2, tws: int | None = None, progress: bool = False, engine: Engine = "spikex",
            **arch_params) -> NetworkResult:
    """Map `network` on `arch` (the `spikex map` command). Engine `spikex`: the SpikeX mapper
    and sparse cost. Engine `accelforge`: AccelForge's own mapper and dense model per weighted
    layer (`engines.accelforge_engine`), the density only pricing pooling."""
    arch = arch if isinstance(arch, SpikeXArch) else load_arch(arch, **arch_params)
    network = network if isinstance(network, Network) else load_network(network)
    dens, source = densities_for(network, density, profile)
    if engine == "accelforge":
        if tws is not None:
            raise SpikeXInputError("--tws", "engine", "a fixed TWS needs the spikex engine; AccelForge picks its own tiles")
        return _map_with_accelforge(arch, network, dens, source, objective, progress)
    if arch.extras.global_tws and tws is None:
        return _best_global_tws(arch, network, dens, source, objective, workers)
    choices = map_network(network.resolved, arch, dens, objective, workers, tws, progress)
    return NetworkResult(network, arch, [c.cost for c in choices], source)


def _map_with_accelforge(arch: SpikeXArch, network: Network, dens: dict[str, DensityModel], source: str,
                         objective: Objective, progress: bool) -> NetworkResult:
    """Each weighted layer through AccelForge's mapper (dense: AccelForge has no sparsity),
    pooling through the SpikeX pool model, one layer after another (AccelForge already
    uses every core)."""
    from tqdm import tqdm

    from spikex_plugin.engines.accelforge_engine import map_layer_accelforge

    print("spikex: warning: the accelforge engine runs AccelForge's mapper on every weighted layer; "
          "expect minutes per conv layer", file=sys.stderr)
    layers = tqdm(network.resolved, desc="AccelForge mapping layers", unit="layer", disable=not progress)
    costs = [map_layer_accelforge(l, arch, objective) if l.has_weights else evaluate_pool(l, arch, dens[l.name])
             for l in layers]
    return NetworkResult(network, arch, costs, f"{source}; accelforge engine (dense)")


def _best_global_tws(arch, network, dens, source, objective, workers) -> NetworkResult:
    """PTB: one TWS for the whole network, the best by exhaustive search."""
    best = None
    for tws in arch.extras.tws_choices:
        if arch.extras.model != "ptb" and any(l.T % tws for l in network.resolved):
            continue  # SpikeX's template needs TWS | T; PTB pads the last window
        choices = map_network(network.resolved, arch, dens, objective, workers, tws)
        res = NetworkResult(network, arch, [c.cost for c in choices], source)
        key = {"energy": res.energy_j, "latency": res.cycles, "edp": res.edp_js}[objective]
        if best is None or key < best[0]:
            best = (key, res)
    return best[1]
