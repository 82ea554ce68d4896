"""Trace-driven simulation of one layer on PTB (Lee, Zhang, Li, HPCA 2022).

PTB's array: rows hold output channels, columns hold consecutive time windows of TW steps
(one TW for the network; the last window is padded with silent steps when TW does not
divide T). A pass is one group of output channels x one group of windows x `fold` output
positions side by side in the columns (when there are fewer windows than columns). In a
pass the input lines (taps) of the receptive field stream through the array, and every
line slot costs every PE TW cycles (it walks its window's steps serially).

stSAP, from the trace bits: a tap silent in all of the pass's windows takes no slot and its
weight is not sent; taps whose active windows never share a column are packed first-fit
into one slot (each PE column serves one tap's window per slot, with that tap's weight, so
packing is judged per window: merging at step level would need two weights in one PE).
A pass reads one live bit per tap, then the live taps' spike bits as its slots go
(the packer reads ahead in tap order). Input
lines silent over the whole inference are never fetched from DRAM, nor are their weights
(FC lines; a conv kernel when its input channel is silent all run). After the
accumulation each row walks every time step of its windows (membrane; windows chain
causally), and the outputs (1 bit per neuron-step) go to the GLB. PTB has no activity
tags. The GLB tile and DRAM loop order come from the `PTBMapping`; the GLB keeps a
tensor's tile while its indices do not change. The engine is SpikeX's (`engine.run_tiles`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import PTBMapping
from spikex_plugin.sim.engine import OVERFLOW, run_tiles
from spikex_plugin.sim.lif import LIFParams, layer_currents, lif_spikes
from spikex_plugin.sim.result import SimResult, priced
from spikex_plugin.sim.spikex import (cycle_horizon, dram_cycles_per_word, padded_input, port_counts,
                                      transfer_actions, transfer_words, words)
from spikex_plugin.workload.network import Layer


def stsap_slots(active: np.ndarray) -> np.ndarray:
    """First-fit packing of taps [n, columns] (tap active in the column's window): the slot
    of each tap (-1: silent in every column, no slot)."""
    slot_of = np.full(active.shape[0], -1, dtype=np.int64)
    masks = [int.from_bytes(np.packbits(row).tobytes(), "big") for row in active]
    occupied: list[int] = []
    for i, mask in enumerate(masks):
        if not mask:
            continue
        for s, occ in enumerate(occupied):
            if not occ & mask:
                occupied[s] = occ | mask
                slot_of[i] = s
                break
        else:
            slot_of[i] = len(occupied)
            occupied.append(mask)
    return slot_of


@dataclass(frozen=True)
class PTBNest:
    """PTB's passes, as the simulator walks them."""
    tws: int
    rows: int
    windows_per_group: int
    fold: int
    order: str        # weights-stationary | spikes-stationary | streaming
    m_glb: int
    p_glb: int
    t_glb: int


def ptb_nest(mapping: PTBMapping) -> PTBNest:
    """The mapping's passes as the simulator's nest (the only reader of PTBMapping here)."""
    return PTBNest(mapping.tws, mapping.rows, mapping.cols // mapping.fold, mapping.fold, mapping.order,
                   mapping.m_glb, mapping.p_glb, mapping.t_glb)


class PTBPasses:
    """Per spike pass (position group x window group): stSAP slots, work, reads and traffic."""

    def __init__(self, layer: Layer, nest: PTBNest, arch: SpikeXArch, x: np.ndarray):
        T, C, Hp, Wp = x.shape
        K = math.ceil(T / nest.tws)
        xp = np.zeros((K * nest.tws, C, Hp, Wp), dtype=bool)
        xp[:T] = x
        per_window = xp.reshape(K, nest.tws, C, Hp, Wp).sum(axis=1, dtype=np.uint8)
        views = np.lib.stride_tricks.sliding_window_view(per_window, (layer.R, layer.S), axis=(2, 3))
        st = layer.stride
        taps = views[:, :, :layer.P * st:st, :layer.Q * st:st]          # [K, C, P, Q, R, S]
        counts = taps.transpose(2, 3, 1, 4, 5, 0).reshape(layer.P * layer.Q, -1, K)   # [pos, tap, window]
        wpg, fold = nest.windows_per_group, nest.fold
        self.n_wg = math.ceil(K / wpg)
        self.n_pg = math.ceil(layer.P * layer.Q / fold)
        cols = wpg * fold
        n_taps = counts.shape[1]
        width = arch.bits_per_action["L1"]
        weight_words = math.ceil(nest.rows * arch.weight_bits / width)
        n = self.n_pg * self.n_wg
        slot_lists, self.cols_used, self.live, self.steps_in = [], np.zeros(n, int), np.zeros(n, int), np.zeros(n, int)
        self.pass_pos = np.zeros((n, fold), dtype=np.int64) - 1      # member positions (-1: none)
        for pg in range(self.n_pg):
            members = [pos for pos in range(pg * fold, (pg + 1) * fold) if pos < layer.P * layer.Q]
            for wg in range(self.n_wg):
                i = pg * self.n_wg + wg
                w0, w1 = wg * wpg, min(K, (wg + 1) * wpg)
                block = np.zeros((n_taps, cols), dtype=np.uint8)
                for f, pos in enumerate(members):
                    block[:, f * wpg:f * wpg + (w1 - w0)] = counts[pos, :, w0:w1]
                slot = stsap_slots(block > 0)
                slot_lists.append((slot, block))
                self.cols_used[i] = len(members) * (w1 - w0)
                self.live[i] = int((slot >= 0).sum())
                self.steps_in[i] = len(members) * max(0, min(T, w1 * nest.tws) - w0 * nest.tws)
                self.pass_pos[i, :len(members)] = members
        steps = max(1, max(int(s.max()) + 1 if (s >= 0).any() else 0 for s, _ in slot_lists))
        self.work = np.zeros((n, steps, cols), dtype=np.int16)
        self.accum = np.zeros((n, steps, cols), dtype=np.int64)     # spikes per (slot, column)
        self.loaded = np.zeros(n, dtype=np.int64)                    # (tap, active column) pairs
        self.feed = np.zeros((n, steps), dtype=np.int64)
        self.mem = np.zeros((n, cols), dtype=np.int64)
        self.issued = np.zeros((n, steps), dtype=bool)
        for i, (slot, block) in enumerate(slot_lists):
            n_slots = int(slot.max()) + 1 if (slot >= 0).any() else 0
            used = np.zeros(cols, dtype=bool)
            for f in range(fold):
                if self.pass_pos[i, f] >= 0:
                    w_used = self.cols_used[i] // max(1, (self.pass_pos[i] >= 0).sum())
                    used[f * wpg:f * wpg + w_used] = True
            self.issued[i, :n_slots] = True
            self.work[i, :n_slots] = np.where(used, nest.tws, 0)
            keep = slot >= 0
            np.add.at(self.accum[i], slot[keep], block[keep].astype(np.int64))
            self.loaded[i] = int((block > 0).sum())
            taps_per_slot = np.bincount(slot[keep], minlength=steps)[:steps]
            self.feed[i] = taps_per_slot * weight_words
            if n_slots:   # the live map first; the live taps' spike bits stream in tap order
                spike_words = int(words(self.live[i] * self.cols_used[i] * nest.tws, width))
                share = np.arange(n_slots + 1) * spike_words // n_slots
                self.feed[i, :n_slots] += np.diff(share)
                self.feed[i, 0] += int(words(n_taps, width))
            self.mem[i] = np.where(used, nest.tws, 0)
        self.chain_start = np.arange(cols) % wpg == 0
        self.n_taps = n_taps


def simulate_ptb_layer(layer: Layer, mapping: PTBMapping, arch: SpikeXArch, trace: np.ndarray,
                       weights: np.ndarray | None = None, lif: LIFParams = LIFParams()) -> SimResult:
    """Simulate one inference of a conv/FC layer on PTB; arguments as `spikex.simulate_layer`."""
    if not layer.has_weights:
        raise ValueError(f"layer {layer.name}: the simulator runs conv and FC layers")
    nest = ptb_nest(mapping)
    x = padded_input(layer, trace)
    passes = PTBPasses(layer, nest, arch, x)
    order = pass_order(layer, nest, passes)
    traffic = pass_traffic(layer, nest, arch, passes, order, np.asarray(trace).astype(bool))
    actions = ptb_actions(layer, nest, arch, passes, order, traffic)
    cycles, parts = ptb_cycles(nest, arch, passes, order, traffic)
    spikes = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).reshape(layer.M, layer.C, layer.R, layer.S)
        spikes = lif_spikes(layer_currents(layer.type, x, w, layer.stride), lif)
    return priced(actions, cycles, arch, parts, spikes)


def pass_order(layer: Layer, nest: PTBNest, passes: PTBPasses) -> dict[str, np.ndarray]:
    """Every pass in loop order: GLB tiles (m tile, spike tile = output-row tile x time tile)
    in the DRAM order, inside each: channel group, position group, window group."""
    n_cg = math.ceil(layer.M / nest.rows)
    cg_per_m = max(1, nest.m_glb // nest.rows)
    wg_per_t = max(1, nest.t_glb // (nest.windows_per_group * nest.tws))
    pos_row = passes.pass_pos[::passes.n_wg, 0] // layer.Q           # output row of each position group
    p_tile_of_pg = pos_row // nest.p_glb
    n_m, n_p, n_t = math.ceil(n_cg / cg_per_m), int(p_tile_of_pg.max()) + 1, math.ceil(passes.n_wg / wg_per_t)
    tiles = [(mt, pt, tt) for mt in range(n_m) for pt in range(n_p) for tt in range(n_t)]
    if nest.order == "spikes-stationary":
        tiles = [(mt, pt, tt) for pt in range(n_p) for tt in range(n_t) for mt in range(n_m)]
    rows = {k: [] for k in ("spk", "cg", "glb", "m_tile", "s_tile", "chain")}
    g = 0
    for mt, pt, tt in tiles:
        for cg in range(mt * cg_per_m, min(n_cg, (mt + 1) * cg_per_m)):
            for pg in np.flatnonzero(p_tile_of_pg == pt):
                for wg in range(tt * wg_per_t, min(passes.n_wg, (tt + 1) * wg_per_t)):
                    rows["spk"].append(pg * passes.n_wg + wg)
                    rows["cg"].append(cg)
                    rows["glb"].append(g)
                    rows["m_tile"].append(mt)
                    rows["s_tile"].append(pt * n_t + tt)
                    rows["chain"].append(wg > tt * wg_per_t and nest.fold == 1)
                    if nest.order == "streaming":
                        g += 1
        if nest.order != "streaming":
            g += 1
    order = {k: np.asarray(v, dtype=np.int64) for k, v in rows.items()}
    order["chain"] = order["chain"].astype(bool)
    order["rows_used"] = np.minimum(nest.rows, layer.M - order["cg"] * nest.rows)
    return order


def pass_traffic(layer: Layer, nest: PTBNest, arch: SpikeXArch, passes: PTBPasses, order: dict,
                 trace: np.ndarray) -> dict[str, np.ndarray]:
    """Words moved per pass (GLB -> L1, outputs to the GLB) and per GLB tile (DRAM -> GLB
    for what the GLB does not keep, outputs back to DRAM)."""
    bpa, wbits = arch.bits_per_action, arch.weight_bits
    s = order["spk"]
    live, cols_used = passes.live[s], passes.cols_used[s]
    w_bits = live * order["rows_used"] * wbits
    s_bits = passes.n_taps + live * cols_used * nest.tws
    out_bits = order["rows_used"] * passes.steps_in[s]
    n_glb = int(order["glb"].max()) + 1
    first = np.unique(order["glb"], return_index=True)[1]
    x = trace.reshape(layer.T, layer.C, -1) if layer.type == "fc" else trace        # unpadded input
    alive_line = x.any(axis=0)                                                        # [C, (H, W)]
    alive_kernel = alive_line.reshape(layer.C, -1).any(axis=1)
    if nest.order == "streaming":   # the GLB holds one pass's data: DRAM moves what L1 gets
        dram_w, dram_s = w_bits[first], s_bits[first]
    else:
        dram_w = np.zeros(n_glb)
        dram_s = np.zeros(n_glb)
        m_tile, s_tile = order["m_tile"][first], order["s_tile"][first]
        for g in range(n_glb):
            if g == 0 or m_tile[g] != m_tile[g - 1]:
                groups = np.unique(order["cg"][order["glb"] == g])
                channels = np.minimum(nest.rows, layer.M - groups * nest.rows).sum()
                dram_w[g] = channels * alive_kernel.sum() * layer.R * layer.S * wbits
            if g == 0 or s_tile[g] != s_tile[g - 1]:
                dram_s[g] = spike_tile_bits(layer, nest, alive_line, order, g, passes)
    wb = np.bincount(order["glb"], out_bits, minlength=n_glb)
    return transfer_words(bpa, s_bits, w_bits, out_bits, dram_s, dram_w, wb)


def spike_tile_bits(layer: Layer, nest: PTBNest, alive_line: np.ndarray, order: dict, g: int,
                    passes: PTBPasses) -> float:
    """Bits of GLB tile g's spike tile: the real (unpadded) input lines its output rows read
    that are live over the inference, over the real time steps of its window groups."""
    in_g = order["glb"] == g
    spk = np.unique(order["spk"][in_g])
    span = nest.windows_per_group * nest.tws
    steps = sum(min(layer.T, (wg + 1) * span) - wg * span for wg in np.unique(spk % passes.n_wg))
    if layer.type == "fc":
        return float(alive_line.sum() * steps)
    pos = passes.pass_pos[spk // passes.n_wg * passes.n_wg]
    out_rows = np.unique(pos[pos >= 0] // layer.Q)
    lo = max(0, out_rows.min() * layer.stride - layer.padding)
    hi = min(alive_line.shape[1], out_rows.max() * layer.stride - layer.padding + layer.R)
    return float(alive_line[:, lo:hi].sum() * steps)


def ptb_actions(layer: Layer, nest: PTBNest, arch: SpikeXArch, passes: PTBPasses, order: dict,
                traffic: dict) -> dict[tuple[str, str], float]:
    s, rows = order["spk"], order["rows_used"]
    accum = float((passes.accum.sum(axis=(1, 2))[s] * rows).sum())
    membrane = float((passes.mem.sum(axis=1)[s] * rows).sum())
    vmem = arch.vmem_bits / arch.bits_per_action["Vmem"]
    return {
        **transfer_actions(traffic),
        ("L1", "read"): float(passes.feed.sum(axis=1)[s].sum()),
        ("WReg", "write"): float((passes.loaded[s] * rows).sum() * arch.weight_bits / arch.bits_per_action["WReg"]),
        ("WReg", "read"): accum,
        ("Accumulator", "compute"): accum,
        ("Vmem", "read"): (accum + membrane) * vmem,
        ("Vmem", "write"): (accum + membrane) * vmem,
        ("Comparator", "compare"): membrane,
        ("PEController", "dispatch"): float((rows * passes.cols_used[s]).sum()),
    }


def ptb_cycles(nest: PTBNest, arch: SpikeXArch, passes: PTBPasses, order: dict,
               traffic: dict) -> tuple[float, dict[str, float]]:
    dram_cycles = dram_cycles_per_word(arch)
    n = len(order["spk"])
    horizon = cycle_horizon(passes, order["spk"], order["spk"], traffic, dram_cycles, nest.rows)
    last = np.ones(n, dtype=bool)
    while True:
        cycles, acc, mem, wait = run_tiles(
            order["spk"], order["spk"], last, order["chain"], order["glb"], traffic["l1_wr"], traffic["glb_rd"],
            traffic["out_words"], passes.work, passes.issued, passes.feed, passes.mem, traffic["dram_rd"],
            traffic["glb_wr"], traffic["wb_glb"], traffic["wb_dram"], dram_cycles, nest.rows, passes.chain_start,
            port_counts(arch, "GLB"), port_counts(arch, "L1"), horizon)
        if cycles != OVERFLOW:
            return cycles, {"accumulate": acc, "membrane": mem, "fill_wait": wait}
        horizon *= 2
