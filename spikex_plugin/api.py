"""One-call entry points: map a network on an architecture and collect the results.

The inputs (spec file and parameters, network, statistics or rate) are checked before the
cost model and mapper are imported, so a bad input is reported at once.
"""

from __future__ import annotations

import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from spikex_plugin.hardware.arch import SpikeXArch, arch_summary, check_parameters, load_arch, resolve_arch_path
from spikex_plugin.mapping.limits import check_dimensions
from spikex_plugin.sparsity.stats import check_stats_match_network, load_stats, resolve_profile
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.util import sha256_file
from spikex_plugin.workload.network import Network, load_network

if TYPE_CHECKING:
    from spikex_plugin.cost_model.spikex import LayerCost
    from spikex_plugin.mapping.mapper import LayerChoice, Objective
    from spikex_plugin.sparsity.density import DensityModel

DEFAULT_DENSITY = 0.005  # 0.5 %: the top of the paper's firing-rate sweep
Engine = Literal["spikex", "accelforge"]


@dataclass
class NetworkResult:
    network: Network
    arch: SpikeXArch
    layers: list[LayerCost]
    density_source: str
    profile: str | None = None   # the statistics file, when the densities came from one
    tws_curves: dict[str, dict[int, float]] | None = None  # per weighted layer: best EDP with each TWS fixed

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
        """result.json (fields: docs/result-json.md)."""
        return {
            **result_header(self.arch, self.network, self.profile),
            "arch": arch_summary(self.arch), "network": self.network.name, "density": self.density_source,
            "layers": [_layer_json(l, self.network.layer(l.name).type) for l in self.layers],
            "total": {"energy_j": self.energy_j, "cycles": self.cycles, "latency_s": self.latency_s,
                      "edp_js": self.edp_js},
        }


RESULT_SCHEMA = "spikex-result/1"


def result_header(arch: SpikeXArch, network: Network, profile: str | None) -> dict:
    """What a result.json is and what produced it: schema, tool version, input hashes, units."""
    from spikex_plugin import __version__

    network_file = Path(network.source)
    return {
        "schema": RESULT_SCHEMA,
        "tool": {"name": "spikex-plugin", "version": __version__},
        "inputs": {
            "arch": {"name": arch.name, "path": arch.path, "sha256": sha256_file(arch.path), "params": dict(arch.params)},
            "network": {"name": network.name, "path": network.source,
                        "sha256": sha256_file(network_file) if network_file.is_file() else None,
                        "layers_sha256": hashlib.sha256(network.model_dump_json(exclude={"source"}).encode()).hexdigest()},
            "profile": {"name": profile, "path": str(resolve_profile(profile)),
                        "sha256": sha256_file(resolve_profile(profile))} if profile else None,
        },
        "units": {"energy_j": "J", "latency_s": "s", "edp_js": "J*s", "cycles": "clock cycles",
                  "breakdown_j": "J", "actions": "count of each action", "area_mm2": "mm^2", "clock_hz": "Hz",
                  "glb_kb": "KiB", "l1_kb": "KiB"},
        "notes": ["cycles, action counts and energies are expected values over the firing statistics "
                  "(a uniform rate or a recorded profile), not counts of one simulated run; "
                  "they need not be whole numbers",
                  "fields are described in docs/result-json.md"],
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
        from spikex_plugin.sparsity.density import ActualDataDensity, UniformDensity
        dens: dict[str, DensityModel] = {name: ActualDataDensity(s) for name, s in stats.layers.items()}
        missing = [l for l in network.resolved if l.name not in dens]
        if not missing:
            return dens, f"profile:{profile}"
        mean = sum(d.rate for d in dens.values()) / len(dens)  # joins and matmuls have no module to hook
        dens.update({l.name: UniformDensity(mean, l.lines_per_channel) for l in missing})
        return dens, f"profile:{profile} ({len(missing)} unrecorded layers at the mean rate {mean:.4g})"
    d = DEFAULT_DENSITY if density is None else density
    if not (0.0 <= d <= 1.0) or d != d:
        raise SpikeXInputError("--density", "density", f"{d} is not a firing rate in [0, 1]")
    from spikex_plugin.sparsity.density import UniformDensity
    return ({l.name: UniformDensity(d, l.lines_per_channel) for l in network.resolved}, f"uniform:{d}")


def run_map(arch: str | SpikeXArch = "spikex", network: str | Network = "dvsg-medium",
            density: float | None = None, profile: str | None = None, objective: Objective = "edp",
            workers: int = 2, tws: int | None = None, progress: bool = False, engine: Engine = "spikex",
            curves: bool = False, **arch_params) -> NetworkResult:
    """Map `network` on `arch` (the `spikex map` command). Engine `spikex`: the SpikeX mapper
    and sparse cost. Engine `accelforge`: AccelForge's own mapper and dense model per weighted
    layer (`engines.accelforge_engine`), the density only pricing pooling. `curves`: also
    each weighted layer's best EDP with each TWS fixed (from the SpikeX mapper's priced
    candidates), in `tws_curves`."""
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SpikeXInputError("--workers", "workers", f"{workers} is not a whole number >= 1")
    if not isinstance(arch, SpikeXArch):
        check_parameters(resolve_arch_path(arch), arch_params)
    network = network if isinstance(network, Network) else load_network(network)
    check_dimensions(network)  # before anything sized by the layers
    dens, source = densities_for(network, density, profile)
    arch = arch if isinstance(arch, SpikeXArch) else load_arch(arch, **arch_params)
    from spikex_plugin.cost_model.elementwise import check_supported
    from spikex_plugin.mapping.limits import check_mappable
    from spikex_plugin.mapping.mapper import map_network

    check_supported(network)
    if engine == "accelforge":
        if tws is not None:
            raise SpikeXInputError("--tws", "engine", "a fixed TWS needs the spikex engine; AccelForge picks its own tiles")
        result = _map_with_accelforge(arch, network, dens, source, objective, progress, profile)
        if curves:
            result.tws_curves = tws_curves(network, map_network(network.resolved, arch, dens, objective, workers,
                                                                per_tws=True))
        return result
    if tws is not None:
        check_tws(tws, arch, network)
    check_mappable(network, arch, tws)
    global_tws = arch.extras.global_tws and tws is None
    choices = map_network(network.resolved, arch, dens, objective, workers, tws, progress, per_tws=curves or global_tws)
    if global_tws:
        result = _best_global_tws(arch, network, choices, source, objective, profile)
    else:
        result = NetworkResult(network, arch, [c.cost for c in choices], source, profile)
    result.tws_curves = tws_curves(network, choices) if curves else None
    return result


def tws_curves(network: Network, choices: list[LayerChoice]) -> dict[str, dict[int, float]]:
    """Per weighted layer, its best EDP with each TWS fixed (`map_network(per_tws=True)`)."""
    return {l.name: {tws: cost.edp_js for tws, cost in c.by_tws.items()}
            for l, c in zip(network.resolved, choices) if l.has_weights}


def check_tws(tws: int, arch: SpikeXArch, network: Network) -> None:
    """A fixed TWS must be one of the arch's choices and fit the Vmem; SpikeX's template also
    needs it to divide every layer's T (PTB pads the last window)."""
    vmem_values = arch.sizes_bits["Vmem"] / arch.vmem_bits
    divides = arch.extras.model != "ptb"
    usable = [t for t in arch.extras.tws_choices
              if t <= vmem_values and not (divides and any(l.T % t for l in network.resolved))]
    if tws not in usable:
        rule = "that divide T and fit the Vmem" if divides else "that fit the Vmem"
        raise SpikeXInputError("--tws", "tws", f"{tws} is not a usable time-window size for {network.name} "
                               f"on {arch.name}; choose one of {usable} (TWS choices of the arch {rule})")


def _map_with_accelforge(arch: SpikeXArch, network: Network, dens: dict[str, DensityModel], source: str,
                         objective: Objective, progress: bool, profile: str | None) -> NetworkResult:
    """Each weighted layer through AccelForge's mapper (dense: AccelForge has no sparsity),
    pooling through the SpikeX pool model, one layer after another (AccelForge already
    uses every core)."""
    from tqdm import tqdm

    from spikex_plugin.cost_model.elementwise import evaluate_unweighted, lowering
    from spikex_plugin.engines.accelforge_engine import map_layer_accelforge

    for layer in network.weighted_layers:
        if lowering(layer):
            raise SpikeXInputError(network.source, f"layers.{layer.name}", f"the accelforge engine maps plain "
                                   f"conv/fc layers only; this one is lowered ({lowering(layer)}): use --engine spikex")
    print("spikex: warning: the accelforge engine runs AccelForge's mapper on every weighted layer; "
          "expect minutes per conv layer", file=sys.stderr)
    layers = tqdm(network.resolved, desc="AccelForge mapping layers", unit="layer", disable=not progress)
    costs = [map_layer_accelforge(l, arch, objective) if l.has_weights else evaluate_unweighted(l, arch, dens[l.name])
             for l in layers]
    return NetworkResult(network, arch, costs, f"{source}; accelforge engine (dense)", profile)


def _best_global_tws(arch: SpikeXArch, network: Network, choices: list[LayerChoice], source: str,
                     objective: Objective, profile: str | None) -> NetworkResult:
    """PTB: one TWS for the whole network, the best by exhaustive search over the layers'
    best mappings with each TWS fixed (`choices` from `map_network(per_tws=True)`)."""
    best = None
    for tws in arch.extras.tws_choices:
        if arch.extras.model != "ptb" and any(l.T % tws for l in network.resolved):
            continue  # SpikeX's template needs TWS | T; PTB pads the last window
        if any(l.has_weights and tws not in c.by_tws for l, c in zip(network.resolved, choices)):
            continue  # some layer has no mapping with this TWS
        res = NetworkResult(network, arch, [c.by_tws[tws] if l.has_weights else c.cost
                                            for l, c in zip(network.resolved, choices)], source, profile)
        key = {"energy": res.energy_j, "latency": res.cycles, "edp": res.edp_js}[objective]
        if best is None or key < best[0]:
            best = (key, res)
    if best is None:
        raise SpikeXInputError(arch.path, "tws_choices", f"no single TWS maps every layer of {network.name}")
    return best[1]
