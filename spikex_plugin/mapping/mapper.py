"""The SpikeX mapper: search the SpikeX mapspace of each layer under the sparse cost.

The mapspace is the dataflow template of `mapping.SpikeXMapping`: dispatch mode, TWS,
rows/cols used, channel chunk in L1, and the GLB tile (time block, filters, output rows)
with the DRAM loop order, all perfect factors of the layer, pruned by buffer capacity
(double-buffered tiles must fit) and the Vmem depth. The GLB tile and DRAM order only move
DRAM traffic (what reaches L1 is set by the loops below the GLB), so per (time block, rows)
the pair with the least DRAM traffic is kept. Layers are independent, so they are mapped in
parallel processes.
PTB specs (`model: ptb`) are mapped in their own mapspace (`cost_model.ptb`).
"""

from __future__ import annotations

import functools
import itertools
import math
import multiprocessing
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from typing import Iterator, Literal

from spikex_plugin.cost_model.elementwise import evaluate_unweighted, scaled, weighted_unit
from spikex_plugin.cost_model.ptb import candidate_ptb_mappings, evaluate_ptb_layer
from spikex_plugin.cost_model.spikex import LayerCost, evaluate_layer
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import PTBMapping, SpikeXMapping, divisors
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.util import ignore_interrupt
from spikex_plugin.workload.network import Layer

Objective = Literal["energy", "latency", "edp"]


def objective_value(cost: LayerCost, objective: Objective) -> float:
    return {"energy": cost.energy_j, "latency": cost.cycles, "edp": cost.edp_js}[objective]


def l1_fits(layer: Layer, arch: SpikeXArch, tb: int, c_l1: int, rows: int, q_cols: int) -> bool:
    w_l1 = (q_cols - 1) * layer.stride + layer.S
    bits = tb * c_l1 * layer.R * w_l1 + rows * c_l1 * layer.R * layer.S * arch.weight_bits
    return 2 * bits <= arch.sizes_bits["L1"]  # double-buffered


def _glb_bits(layer: Layer, weight_bits: int, tb_glb: int, m_glb: int, p_glb: int) -> int:
    h = (p_glb - 1) * layer.stride + layer.R
    return (tb_glb * layer.C * h * layer.W + m_glb * layer.C * layer.R * layer.S * weight_bits
            + tb_glb * m_glb * p_glb * layer.Q)


DRAM_ORDERS = ("tmp", "mtp", "tpm", "mpt", "ptm", "pmt")
# Per order, the DRAM loops (outer to inner) down to each tensor's innermost relevant one:
# the GLB re-reads that tensor's tile once per iteration of these.
_REFILL_LOOPS = {o: (o[:o.index("m") + 1], o[:max(o.index("t"), o.index("p")) + 1]) for o in DRAM_ORDERS}


def dram_traffic_bits(layer: Layer, weight_bits: int, tb_glb: int, m_glb: int, p_glb: int) -> dict[str, float]:
    """Dense DRAM bits of a GLB tile under each DRAM loop order: each tensor's tile is re-read
    for every DRAM loop outside its innermost relevant one (the GLB keeps it across the rest);
    output spikes are written once."""
    bounds = {"t": layer.T // tb_glb, "m": layer.M // m_glb, "p": layer.P // p_glb}
    weights = m_glb * layer.C * layer.R * layer.S * weight_bits
    spikes = tb_glb * layer.C * ((p_glb - 1) * layer.stride + layer.R) * layer.W
    outputs = float(layer.T * layer.M * layer.P * layer.Q)
    return {o: outputs + weights * math.prod(bounds[r] for r in w) + spikes * math.prod(bounds[r] for r in sp)
            for o, (w, sp) in _REFILL_LOOPS.items()}


def best_glb_tile(layer: Layer, arch: SpikeXArch, tb: int, rows: int) -> tuple[int, int, int, str] | None:
    """The GLB tile (tb_glb, m_glb, p_glb) and DRAM order with the least DRAM traffic that
    fit double-buffered (ties: the tile holding more work, then the first order)."""
    return _best_glb_tile(layer, arch.sizes_bits["GLB"], arch.weight_bits, tb, rows)


@functools.lru_cache(maxsize=4096)  # the TWS sweeps and co-search ask again for each TWS
def _best_glb_tile(layer: Layer, glb_bits: float, weight_bits: int, tb: int, rows: int) -> tuple[int, int, int, str] | None:
    best, best_key = None, None
    for tb_glb in (d for d in divisors(layer.T) if d % tb == 0):
        for m_glb in (d for d in divisors(layer.M) if d % rows == 0):
            for p_glb in divisors(layer.P):
                if 2 * _glb_bits(layer, weight_bits, tb_glb, m_glb, p_glb) > glb_bits:
                    continue
                for i, (order, bits) in enumerate(dram_traffic_bits(layer, weight_bits, tb_glb, m_glb, p_glb).items()):
                    key = (bits, -tb_glb * m_glb * p_glb, -p_glb, i)
                    if best_key is None or key < best_key:
                        best, best_key = (tb_glb, m_glb, p_glb, order), key
    return best


def candidate_mappings(layer: Layer, arch: SpikeXArch, tws_choices: list[int] | None = None,
                       modes: list[str] | None = None) -> Iterator[SpikeXMapping]:
    """Mappings of the template that tile the layer perfectly and fit the buffers, each
    with its largest fitting GLB tile."""
    tws_choices = tws_choices or arch.extras.tws_choices
    modes = modes or arch.extras.dispatch_modes
    vmem_values = arch.sizes_bits["Vmem"] / arch.vmem_bits  # one partial sum per window step
    rows_opts = [d for d in divisors(layer.M) if d <= arch.rows]
    glb_tiles: dict[tuple[int, int], tuple[int, int, int] | None] = {}
    for mode, tws in itertools.product(modes, tws_choices):
        if layer.T % tws or tws > vmem_values:
            continue
        col_pool = divisors(layer.T // tws) if mode == "temporal" else divisors(layer.Q)
        for cols in [c for c in col_pool if c <= arch.cols]:
            tb = cols * tws if mode == "temporal" else tws
            q_cols = cols if mode == "spatial" else 1
            for rows, c_l1 in itertools.product(rows_opts, divisors(layer.C)):
                if not l1_fits(layer, arch, tb, c_l1, rows, q_cols):
                    continue
                if (tb, rows) not in glb_tiles:
                    glb_tiles[(tb, rows)] = best_glb_tile(layer, arch, tb, rows)
                if glb_tiles[(tb, rows)] is not None:
                    yield SpikeXMapping(mode, tws, rows, cols, c_l1, *glb_tiles[(tb, rows)])


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


def map_layer(layer: Layer, arch: SpikeXArch, density: DensityModel, objective: Objective = "edp",
              tws_choices: list[int] | None = None, modes: list[str] | None = None) -> LayerChoice:
    """Best mapping of one layer under the sparse cost of the spec's model (SpikeX or PTB)."""
    if not layer.has_weights:
        return LayerChoice(evaluate_unweighted(layer, arch, density), 1)
    unit, unit_arch, times = weighted_unit(layer, arch)  # grouped conv, matmul, multi-bit input
    if arch.extras.model == "ptb":
        cands = candidate_ptb_mappings(unit, unit_arch, tws_choices)
    else:
        cands = list(candidate_mappings(unit, unit_arch, tws_choices, modes))
    if not cands:
        raise ValueError(f"layer {layer.name}: no {arch.extras.model} mapping fits the buffers of arch {arch.name}")
    costs = [evaluate_mapping(unit, m, unit_arch, density) for m in cands]
    return LayerChoice(scaled(min(costs, key=lambda c: objective_value(c, objective)), times), len(cands))


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
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=ignore_interrupt) as pool:
        return list(_with_progress(pool.map(_map_one, jobs), len(jobs), progress))


def _with_progress(it, total: int, enabled: bool):
    if not enabled:
        return it
    from tqdm import tqdm
    return tqdm(it, total=total, desc="mapping layers", unit="layer")
