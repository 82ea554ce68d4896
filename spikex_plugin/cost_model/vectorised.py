"""The SpikeX cost model over many mappings at once: `evaluate_layer`'s action counts and
cycles for arrays of mappings (one dispatch mode and DRAM order per call, which fixes the
loop nest's shape).

The dense counts and the skipping factors are `dense_actions` and `sparse_factors` run on
arrays (their arithmetic is elementwise); the density model is asked once per distinct
argument tuple (`MemoDensity`). The rest of `evaluate_layer` (whole-word transfers, cycles) is
restated here with array operations; every stochastic term (binomial pmfs, the column
line's Monte Carlo) is computed once per distinct argument by the scalar path's own
functions. tests/test_vectorised.py checks the result against `evaluate_layer` candidate by
candidate on every bundled network.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from spikex_plugin.cost_model.column_line import issued_step_cycles, save_line_tables
from spikex_plugin.cost_model.dense import dense_actions, steps_per_fill
from spikex_plugin.cost_model.spikex import (chain_windows, expected_partial_words, exposed_transfers, glb_transfers,
                                              l1_tile_count, level_actions, overlap_tiles, port_loads,
                                              sparse_action_counts, sparse_factors, spatial_row, tag_group,
                                              temporal_line_units, tile_spread, weight_fetch_shares, widths_of)
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.sparsity.binomial import binomial_log_pmf, binomial_pmf
from spikex_plugin.sparsity.memo import MemoDensity
from spikex_plugin.workload.network import Layer

Action = tuple[str, str]


@dataclass(frozen=True)
class MappingArrays:
    """SpikeX mappings of one dispatch mode and DRAM order, the other fields as arrays
    (the fields of `SpikeXMapping`)."""
    mode: str
    dram_order: str
    tws: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    c_l1: np.ndarray
    tb_glb: np.ndarray
    m_glb: np.ndarray
    p_glb: np.ndarray

    @property
    def tb(self) -> np.ndarray:
        return self.cols * self.tws if self.mode == "temporal" else self.tws

    @property
    def q_cols(self) -> np.ndarray | int:
        return self.cols if self.mode == "spatial" else 1

    def __len__(self) -> int:
        return len(self.tws)


def evaluate_mappings(layer: Layer, m: MappingArrays, arch: SpikeXArch, d: MemoDensity,
                      actions: list[Action], out: MemoDensity | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Action counts ([mappings, actions], columns in the order of `actions`) and cycles of
    each mapping: what `evaluate_layer` gives for each."""
    counts, block_driven, f = action_counts(layer, m, arch, d, out)
    cycles = layer_cycles(layer, m, arch, d, counts, f, block_driven)
    table = np.zeros((len(m), len(actions)))
    col = {a: j for j, a in enumerate(actions)}
    for action, n in counts.items():
        table[:, col[action]] = n
    return table, cycles


def action_counts(layer: Layer, m: MappingArrays, arch: SpikeXArch, d: MemoDensity, out: MemoDensity | None):
    """(counts by action, block-driven counts by component, skipping factors): the first
    part of `evaluate_layer`, in its order of accumulation."""
    widths = widths_of(arch)
    dense = dense_actions(layer, m, widths, innermost_reuse=True)
    f = sparse_factors(layer, m, arch, d, out)
    excess = partial_word_excess(layer, m, arch, f)
    for action, extra in glb_word_excess(layer, m, arch, d, f, dense, out).items():
        excess[action] = excess.get(action, 0.0) + extra
    counts, block_driven = sparse_action_counts(layer, m, arch, f, dense, excess)
    n = len(m)
    return ({k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for k, v in counts.items()},
            {k: np.broadcast_to(np.asarray(v, dtype=np.float64), (n,)) for k, v in block_driven.items()}, f)


def partial_word_excess(layer: Layer, m: MappingArrays, arch: SpikeXArch, f: dict) -> dict[Action, np.ndarray]:
    """`spikex.partial_word_excess` per mapping: the binomial share of partial words is
    computed once per distinct (SP-MBs, bits, activity)."""
    group = tag_group(layer, arch, layer.C)
    whole = m.c_l1 >= group
    sp_mbs = np.where(whole, m.c_l1 // group, 1)
    lines_per = np.where(whole, group, m.c_l1)
    w_l1 = (m.q_cols - 1) * layer.stride + layer.S
    units = {"sin_l1": m.tb * layer.R * w_l1 * lines_per,
             "l1_block": m.rows * layer.R * layer.S * arch.weight_bits * lines_per}
    tiles = l1_tile_count(layer, m)
    n = len(m)
    excess: dict[Action, np.ndarray] = {}
    for factor, bits in units.items():
        p = np.broadcast_to(np.asarray(f[factor], dtype=np.float64), (n,))
        bits = np.broadcast_to(bits, (n,))
        first, where = unique_rows(sp_mbs, p, bits)   # distinct tiles
        blocks, prob, unit_bits = sp_mbs[first], p[first], bits[first]
        k = np.arange(int(blocks.max()) + 1)
        pmf = np.zeros((len(first), len(k)))   # padded with impossible counts
        for i, (b, q) in enumerate(zip(blocks.tolist(), prob.tolist())):
            pmf[i, :b + 1] = block_pmf(b, q)
        for comp, action in (("L1", "write"), ("GLB", "read")):
            words = k[None, :] * unit_bits[:, None] / arch.bits_per_action[comp]
            share = np.sum(pmf * (np.ceil(words) - words), axis=1)
            excess[(comp, action)] = excess.get((comp, action), 0.0) + share[where] * tiles
    return excess


def glb_word_excess(layer: Layer, m: MappingArrays, arch: SpikeXArch, d: MemoDensity, f: dict, dense: dict,
                    out: MemoDensity | None) -> dict[Action, np.ndarray]:
    """`spikex.glb_word_excess` per mapping: the wasted words of a transfer are computed
    once per distinct (SP-MBs, bits, activity; weights: GLB time block and span)."""
    n = len(m)
    span = np.broadcast_to(steps_per_fill(layer, m, "GLB", "Wt"), (n,))
    excess: dict[Action, np.ndarray] = {}
    for actions, transfers, sp_mbs, bits, activity in glb_transfers(layer, m, arch, d, f, dense, out):
        sp_mbs, bits = np.broadcast_to(sp_mbs, (n,)), np.broadcast_to(bits, (n,)).astype(np.float64)
        whole = np.all([bits % arch.bits_per_action[comp] == 0 for comp, _ in actions], axis=0)
        if activity is None:
            first, where = unique_rows(sp_mbs, bits, m.tb_glb, span)
            per_row = [None if whole[i] else weight_fetch_shares(layer, arch, d, int(m.tb_glb[i]), int(span[i]))
                       for i in first]
        else:
            p, p_any = (np.broadcast_to(np.asarray(a, dtype=np.float64), (n,)) for a in activity)
            first, where = unique_rows(sp_mbs, bits, p, p_any)
            per_row = [((float(p[i]), float(p_any[i])),) for i in first]
        for comp, action in actions:
            wasted = np.array([0.0 if whole[i] else
                               expected_partial_words(int(sp_mbs[i]), shares, float(bits[i]), arch.bits_per_action[comp])
                               for i, shares in zip(first, per_row)])
            excess[(comp, action)] = excess.get((comp, action), 0.0) + transfers * wasted[where]
    return excess


def unique_rows(*columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index of each distinct row's first occurrence, row -> distinct row) of equal-length columns."""
    code = np.zeros(len(columns[0]), dtype=np.int64)
    for c in columns:
        values, inverse = np.unique(c, return_inverse=True)
        code = code * len(values) + inverse.ravel()
    _, first, where = np.unique(code, return_index=True, return_inverse=True)
    return first, where.ravel()


@functools.lru_cache(maxsize=4096)
def block_pmf(sp_mbs: int, p: float) -> np.ndarray:
    """Active SP-MBs of a tile, as `spikex.partial_word_excess` takes them."""
    pmf = binomial_pmf(sp_mbs, p)
    pmf.flags.writeable = False
    return pmf


def issued_cycles(layer: Layer, d: MemoDensity, tws: np.ndarray, cols: np.ndarray, feed: np.ndarray,
                  temporal: np.ndarray) -> np.ndarray:
    """`issued_step_cycles` per mapping, once per distinct (TWS, columns, feed, mode)."""
    n = len(feed)
    tws, cols = np.broadcast_to(tws, (n,)), np.broadcast_to(cols, (n,))
    temporal = np.broadcast_to(temporal, (n,))
    first, where = unique_rows(tws, cols, feed, temporal)
    pmfs: dict[tuple[int, bool], tuple] = {}
    field_pmfs: dict[int, tuple] = {}
    field_lines = layer.C * layer.R * layer.S * layer.valid_tap_fraction
    values = np.empty(len(first))
    for i, (steps, columns, rate, temp) in enumerate(zip(tws[first].tolist(), cols[first].tolist(),
                                                         feed[first].tolist(), temporal[first].tolist())):
        if (steps, temp) not in pmfs:
            pmfs[steps, temp] = tuple(np.round(d.window_count_pmf(steps, not temp), 9))
        if steps not in field_pmfs:
            field_pmfs[steps] = tuple(np.round(d.active_lines_pmf(field_lines, steps), 9))
        values[i] = issued_step_cycles(pmfs[steps, temp], columns, rate, coactive=field_pmfs[steps] if temp else None,
                                       line_units=temporal_line_units(d, columns, steps, layer) if temp else None,
                                       **spatial_row(layer, "temporal" if temp else "spatial", columns, steps, d))
    save_line_tables()
    return values[where]


def layer_cycles(layer: Layer, m: MappingArrays, arch: SpikeXArch, d: MemoDensity, counts: dict, f: dict,
                 block_driven: dict) -> np.ndarray:
    """`spikex.layer_cycles` per mapping (cycles only)."""
    n = len(m)
    steps = layer.T * layer.M * layer.P * layer.Q * layer.C * layer.R * layer.S / (m.rows * m.cols * m.tws)
    skips_steps = arch.extras.skipping.zero_spikes and arch.extras.skipping.zero_windows
    if skips_steps:
        issued = steps * f["row_weight"]
        l1_reads = np.broadcast_to(counts.get(("L1", "read"), 0.0), (n,))
        feed = np.divide(l1_reads, issued, out=np.zeros(n), where=issued != 0)
        per_step = issued_cycles(layer, d, m.tws, m.cols, feed, m.mode == "temporal") * f["row_weight"]
    else:
        per_step = m.tws.astype(np.float64)
    compute = steps * per_step
    out_tiles = layer.T / m.tb * layer.M / m.rows * layer.P * layer.Q / m.q_cols
    windows = out_tiles * chain_windows(m)
    temporal = m.mode == "temporal"
    rf = f["rf_active"] if temporal else 1 - (1 - f["rf_active"]) ** m.cols
    per_window = m.tws * rf + (1 - rf)
    membrane = out_tiles * per_window
    chain = windows + out_tiles * m.cols * (per_window - 1) if temporal else np.zeros(n)
    fill = m.rows + m.cols - 1
    array = np.where(temporal, compute + chain, compute + membrane) + fill
    loads = port_loads(counts, arch)
    group = tag_group(layer, arch, layer.C)
    fill_latency = l1_tile_count(layer, m) * d.p_channels_nonempty(np.maximum(m.c_l1, group), m.tb)
    levels = {"dram": "DRAM", "glb_port": "GLB", "l1_port": "L1"}
    varying = {name: loads[name] * block_driven.get(level, 0.0) / np.maximum(level_actions(counts, level), 1e-300)
               for name, level in levels.items()}
    sp_mbs = np.round(layer.C / group * layer.T / m.tb)
    loads["array"], varying["array"] = array, compute + np.where(temporal, chain - windows, membrane - out_tiles)
    exposed = exposed_transfers(layer, m, arch, f)
    glb = arch.port_cycles("GLB", np.maximum(counts.get(("GLB", "read"), 0.0) - exposed["glb_reads"], 0.0),
                      np.maximum(counts.get(("GLB", "write"), 0.0) - exposed["glb_writes"], 0.0))
    overlapped = {**loads, "glb_port": glb + fill_latency, "dram": np.maximum(loads["dram"] - exposed["dram"], 0.0)}
    p = np.broadcast_to(np.asarray(f["sin_l1"], dtype=np.float64), (n,))
    spread = tile_spread(layer, arch, d, m, p, feed) if skips_steps else None
    overlap_tiles(layer, m, loads, overlapped, varying, compute, spread, fill_latency, p, sp_mbs,
                  f["row_weight"], exposed["before"])
    return expected_slowest(overlapped, varying, sp_mbs, p, n) + exposed["after"]


def expected_slowest(loads: dict, varying: dict, sp_mbs: np.ndarray, p: np.ndarray, n: int) -> np.ndarray:
    """`spikex.expected_slowest` per mapping: the binomial average is taken over the
    mappings that share one (SP-MBs, activity) at once."""
    names = list(loads)
    load = np.stack([np.broadcast_to(loads[k], (n,)) for k in names], axis=1)
    vary = np.stack([np.broadcast_to(varying[k], (n,)) for k in names], axis=1)
    result = load.max(axis=1)
    spread = (1e-9 < p) & (p < 1) & ~(sp_mbs * p * (1 - p) > 400)
    if not spread.any():
        return result
    rows = np.flatnonzero(spread)
    first, where = unique_rows(sp_mbs[rows], p[rows])
    for i, (blocks, prob) in enumerate(zip(sp_mbs[rows][first].tolist(), p[rows][first].tolist())):
        blocks = int(blocks)
        sd = math.sqrt(blocks * prob * (1 - prob))
        k = np.arange(max(0, math.floor(blocks * prob - 8 * sd)), min(blocks, math.ceil(blocks * prob + 8 * sd)) + 1)
        pmf = np.exp(binomial_log_pmf(k, blocks, prob))
        scale = k / (np.sum(pmf * k) / np.sum(pmf))   # mean 1 over the cut support: each load's mean is kept
        sel = rows[where == i]
        slowest = np.max(load[sel, :, None] + vary[sel, :, None] * (scale - 1), axis=1)
        # E[max] >= max E (Jensen); the +-8 sd cut of a skewed binomial could dip below it.
        result[sel] = np.maximum(np.sum(pmf * slowest, axis=1) / np.sum(pmf), result[sel])
    return result
