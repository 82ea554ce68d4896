"""The SpikeX mapper: search the SpikeX mapspace of each layer under the sparse cost.

The mapspace is the dataflow template of `mapping.SpikeXMapping`: dispatch mode, TWS,
rows/cols used, channel chunk in L1, and the GLB tile (time block, filters, output rows),
all perfect factors of the layer, pruned by buffer capacity (double-buffered tiles must
fit) and the Vmem depth (one partial sum per time point of a window). Layers are
independent, so they are mapped in parallel processes.
"""

from __future__ import annotations

import itertools
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Literal

from spikex_plugin.cost_model.spikex import LayerCost, evaluate_layer, evaluate_pool
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import SpikeXMapping, divisors
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.workload.network import Layer

Objective = Literal["energy", "latency", "edp"]


def objective_value(cost: LayerCost, objective: Objective) -> float:
    return {"energy": cost.energy_j, "latency": cost.cycles, "edp": cost.edp_js}[objective]


def _fits(layer: Layer, m: SpikeXMapping, arch: SpikeXArch) -> bool:
    wb, st = arch.weight_bits, layer.stride
    h_l1, w_l1 = layer.R, (m.q_cols - 1) * st + layer.S
    l1 = m.tb * m.c_l1 * h_l1 * w_l1 + m.rows * m.c_l1 * layer.R * layer.S * wb
    h_glb = (m.p_glb - 1) * st + layer.R
    glb = (m.tb_glb * layer.C * h_glb * layer.W + m.m_glb * layer.C * layer.R * layer.S * wb
           + m.tb_glb * m.m_glb * m.p_glb * layer.Q)
    vmem_values = arch.sizes_bits["Vmem"] / arch.vmem_bits
    return 2 * l1 <= arch.sizes_bits["L1"] and 2 * glb <= arch.sizes_bits["GLB"] and m.tws <= vmem_values


def candidate_mappings(layer: Layer, arch: SpikeXArch, tws_choices: list[int] | None = None,
                       modes: list[str] | None = None) -> Iterator[SpikeXMapping]:
    """Every mapping of the template that tiles the layer perfectly and fits the buffers."""
    tws_choices = tws_choices or arch.extras.tws_choices
    modes = modes or arch.extras.dispatch_modes
    T, M, P, Q, C = layer.T, layer.M, layer.P, layer.Q, layer.C
    rows_opts = [d for d in divisors(M) if d <= arch.rows]
    for mode, tws in itertools.product(modes, tws_choices):
        if T % tws:
            continue
        col_pool = divisors(T // tws) if mode == "temporal" else divisors(Q)
        for cols in [c for c in col_pool if c <= arch.cols]:
            tb = cols * tws if mode == "temporal" else tws
            for rows, c_l1 in itertools.product(rows_opts, divisors(C)):
                for tb_glb in [d for d in divisors(T) if d % tb == 0]:
                    for m_glb in [d for d in divisors(M) if d % rows == 0]:
                        for p_glb in divisors(P):
                            m = SpikeXMapping(mode, tws, rows, cols, c_l1, tb_glb, m_glb, p_glb)
                            if _fits(layer, m, arch):
                                yield m


def _prune_dominated(cands: list[SpikeXMapping]) -> list[SpikeXMapping]:
    """Keep, per (mode, tws, rows, cols), the largest tiles: bigger tiles never add traffic
    in this template, so smaller fitting ones are dominated."""
    best: dict[tuple, SpikeXMapping] = {}
    for m in cands:
        key = (m.mode, m.tws, m.rows, m.cols, m.c_l1)
        cur = best.get(key)
        if cur is None or (m.tb_glb * m.m_glb * m.p_glb, m.p_glb) > (cur.tb_glb * cur.m_glb * cur.p_glb, cur.p_glb):
            best[key] = m
    return list(best.values())


@dataclass
class LayerChoice:
    cost: LayerCost
    candidates: int


def map_layer(layer: Layer, arch: SpikeXArch, density: DensityModel, objective: Objective = "edp",
              tws_choices: list[int] | None = None, modes: list[str] | None = None) -> LayerChoice:
    """Best mapping of one layer under the sparse cost."""
    if not layer.has_weights:
        return LayerChoice(evaluate_pool(layer, arch, density), 1)
    cands = _prune_dominated(list(candidate_mappings(layer, arch, tws_choices, modes)))
    if not cands:
        raise ValueError(f"layer {layer.name}: no SpikeX mapping fits the buffers of arch {arch.name}")
    costs = [evaluate_layer(layer, m, arch, density) for m in cands]
    return LayerChoice(min(costs, key=lambda c: objective_value(c, objective)), len(cands))


def _map_one(args) -> LayerChoice:
    return map_layer(*args)


def map_network(layers: list[Layer], arch: SpikeXArch, densities: dict[str, DensityModel],
                objective: Objective = "edp", workers: int = 2, tws: int | None = None,
                progress: bool = False) -> list[LayerChoice]:
    """Map every layer (in parallel processes when workers > 1). `tws` fixes one TWS for all."""
    jobs = [(l, arch, densities[l.name], objective, [tws] if tws else None) for l in layers]
    if workers <= 1 or len(jobs) == 1:
        it = map(_map_one, jobs)
        return list(_with_progress(it, len(jobs), progress))
    # Forking after torch started its threads can deadlock: spawn fresh workers then.
    ctx = multiprocessing.get_context("spawn" if "torch" in sys.modules else "fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return list(_with_progress(pool.map(_map_one, jobs), len(jobs), progress))


def _with_progress(it, total: int, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm
    return tqdm(it, total=total, desc="mapping layers", unit="layer")
