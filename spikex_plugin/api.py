"""One-call entry points: map a network on an architecture and collect the results."""

from __future__ import annotations

from dataclasses import dataclass

from spikex_plugin.cost_model.spikex import LayerCost
from spikex_plugin.hardware.arch import SpikeXArch, arch_summary, load_arch
from spikex_plugin.mapping.mapper import Objective, map_network
from spikex_plugin.sparsity.density import ActualDataDensity, DensityModel, UniformDensity
from spikex_plugin.sparsity.stats import check_stats_match_network, load_stats
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.workload.network import Network, load_network

DEFAULT_DENSITY = 0.005  # 0.5 %: the top of the paper's firing-rate sweep


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
            "layers": [_layer_json(l) for l in self.layers],
            "total": {"energy_j": self.energy_j, "cycles": self.cycles, "latency_s": self.latency_s,
                      "edp_js": self.edp_js},
        }


def _layer_json(l: LayerCost) -> dict:
    actions: dict[str, dict[str, float]] = {}
    for (comp, action), n in sorted(l.actions.items()):
        actions.setdefault(comp, {})[action] = n
    return {"name": l.name, "energy_j": l.energy_j, "cycles": l.cycles, "latency_s": l.latency_s,
            "edp_js": l.edp_js, "tws": l.mapping.tws if l.mapping else None,
            "mode": l.mapping.mode if l.mapping else None,
            "mapping": l.mapping.to_dict() if l.mapping else None,
            "breakdown_j": l.breakdown_j, "actions": actions, "cycle_parts": l.cycle_parts}


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
            workers: int = 2, tws: int | None = None, progress: bool = False, **arch_params) -> NetworkResult:
    """Map `network` on `arch` with the SpikeX sparse cost (the `spikex map` command)."""
    arch = arch if isinstance(arch, SpikeXArch) else load_arch(arch, **arch_params)
    network = network if isinstance(network, Network) else load_network(network)
    dens, source = densities_for(network, density, profile)
    if arch.extras.global_tws and tws is None:
        return _best_global_tws(arch, network, dens, source, objective, workers)
    choices = map_network(network.resolved, arch, dens, objective, workers, tws, progress)
    return NetworkResult(network, arch, [c.cost for c in choices], source)


def _best_global_tws(arch, network, dens, source, objective, workers) -> NetworkResult:
    """PTB: one TWS for the whole network, the best by exhaustive search."""
    best = None
    for tws in arch.extras.tws_choices:
        if any(l.T % tws for l in network.resolved):
            continue
        choices = map_network(network.resolved, arch, dens, objective, workers, tws)
        res = NetworkResult(network, arch, [c.cost for c in choices], source)
        key = {"energy": res.energy_j, "latency": res.cycles, "edp": res.edp_js}[objective]
        if best is None or key < best[0]:
            best = (key, res)
    return best[1]
