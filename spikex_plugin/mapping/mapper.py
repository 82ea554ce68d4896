"""The SpikeX mapper: search the SpikeX mapspace of each layer under the sparse cost.

The mapspace is the dataflow template of `mapping.SpikeXMapping`: dispatch mode, TWS,
rows/cols used, channel chunk in L1, and the GLB tile (time block, filters, output rows)
with the DRAM loop order, all perfect factors of the layer, pruned by buffer capacity
(double-buffered tiles must fit) and the Vmem depth. The GLB tile and DRAM order only move
DRAM traffic (what reaches L1 is set by the loops below the GLB), so per (time block, rows)
the pair with the least DRAM traffic is kept. `mapping.mapspace` lists a layer's candidates
and prices them all at once; the best of each TWS comes from the same priced candidates.
PTB specs (`model: ptb`) are mapped in their own mapspace (`cost_model.ptb`).
"""

from __future__ import annotations

import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from spikex_plugin.cost_model.elementwise import evaluate_unweighted, scaled, weighted_unit
from spikex_plugin.cost_model.ptb import evaluate_ptb_layer
from spikex_plugin.cost_model.spikex import LayerCost, evaluate_layer
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import PTBMapping, SpikeXMapping
from spikex_plugin.mapping.mapspace import Objective, layer_mapspace
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.sparsity.memo import MemoDensity
from spikex_plugin.util import ignore_interrupt
from spikex_plugin.workload.network import Layer


def evaluate_mapping(layer: Layer, m: SpikeXMapping | PTBMapping, arch: SpikeXArch, density: DensityModel,
                     out_density: DensityModel | None = None) -> LayerCost:
    """One weighted layer's cost under the spec's own model (SpikeX or PTB); `out_density`:
    statistics of the layer's output spikes, where known (PTB moves its outputs dense)."""
    if arch.extras.model == "ptb":
        return evaluate_ptb_layer(layer, m, arch, density)
    return evaluate_layer(layer, m, arch, density, out_density)


@dataclass
class LayerChoice:
    cost: LayerCost
    candidates: int
    by_tws: dict[int, LayerCost] = field(default_factory=dict)  # best with each TWS fixed (`per_tws`)


def map_layer(layer: Layer, arch: SpikeXArch, density: DensityModel, objective: Objective = "edp",
              tws_choices: list[int] | None = None, modes: list[str] | None = None,
              per_tws: bool = False) -> LayerChoice:
    """Best mapping of one layer under the sparse cost of the spec's model (SpikeX or PTB)
    among the TWS `tws_choices` (default: the spec's); `per_tws`: also the best with each of
    the spec's TWS choices fixed, from the same priced candidates."""
    if not layer.has_weights:
        return LayerChoice(evaluate_unweighted(layer, arch, density), 1)
    unit, unit_arch, times = weighted_unit(layer, arch)  # grouped conv, matmul, multi-bit input
    listed = tws_choices
    if per_tws:
        listed = [*arch.extras.tws_choices, *(t for t in tws_choices or () if t not in arch.extras.tws_choices)]
    memo = density if isinstance(density, MemoDensity) else MemoDensity(density)
    space = layer_mapspace(unit, unit_arch, memo, listed, modes)
    ids = space.allowed(unit_arch, tws_choices)
    if not ids.size:
        raise ValueError(f"layer {layer.name}: no {arch.extras.model} mapping fits the buffers of arch {arch.name}")
    choice = LayerChoice(scaled(space.best_cost(ids, objective), times), len(ids))
    for tws in arch.extras.tws_choices if per_tws else ():
        at = space.allowed(unit_arch, [tws])
        if at.size:
            choice.by_tws[tws] = scaled(space.best_cost(at, objective), times)
    return choice


def _map_one(args) -> LayerChoice:
    return map_layer(*args)


def map_network(layers: list[Layer], arch: SpikeXArch, densities: dict[str, DensityModel],
                objective: Objective = "edp", workers: int = 2, tws: int | None = None,
                progress: bool = False, per_tws: bool = False) -> list[LayerChoice]:
    """Map every layer (in parallel processes when workers > 1). `tws` fixes one TWS for all;
    `per_tws`: each choice also holds the best with each TWS fixed (`map_layer`)."""
    jobs = [(l, arch, densities[l.name], objective, [tws] if tws else None, None, per_tws) for l in layers]
    if workers <= 1 or len(jobs) == 1:
        it = map(_map_one, jobs)
        return list(_with_progress(it, len(jobs), progress))
    # Forking after torch started its threads can deadlock: spawn fresh workers then.
    ctx = multiprocessing.get_context("spawn" if "torch" in sys.modules else "fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=ignore_interrupt) as pool:
        return list(_with_progress(pool.map(_map_one, jobs), len(jobs), progress))


def _with_progress(it, total: int, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm
    return tqdm(it, total=total, desc="mapping layers", unit="layer")
