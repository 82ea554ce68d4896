"""PTB (Lee, Zhang, Li, HPCA 2022) as its own cost model, not SpikeX with switches off.

The PTB array (docs/ptb.md lists every modelling choice and where it comes from):
- rows = output channels (`rows` of them per pass), columns = time windows of TW steps;
  one TW for the whole network; INT8 weights broadcast along a row.
- A pass covers one group of output channels, one output position and one group of
  windows (as many windows as columns; when a layer has fewer windows than columns,
  `fold` output positions sit side by side in the columns). In a pass the input lines of
  the receptive field stream through the array; every line slot costs TW cycles (the PE
  walks the TW steps of its window serially).
- stSAP: a line silent in the pass's windows takes no slot and no weight fetch; lines whose
  active windows do not overlap share one slot (first-fit packing: each PE column serves the
  one line active in its window).
- After the accumulation the membrane walks every time step of the pass serially in each
  row (the windows of a neuron chain causally), then the systolic pipeline drains.
- Memories: DRAM -> GLB -> L1 -> PE as in the SpikeX spec (the SpikeX paper's baseline shares
  SpikeX's memories); the DRAM-level loop order (weights or spikes stationary in the GLB)
  and the GLB tile are searched.

`trace_compute_cycles` counts the array cycles of one recorded trace exactly (tests check
it against the public re-implementation); `evaluate_ptb_layer` gives expected counts from
a density model (its stSAP terms come from `DensityModel.expected_packed_rows`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from spikex_plugin.cost_model.spikex import LayerCost, overlapped_glb_port, port_loads, priced
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import PTBMapping
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.workload.network import Layer

Packing = Literal["first_fit", "pairs", "none"]


@dataclass(frozen=True)
class PassShape:
    """How a layer's work splits into array passes for one TW and array size."""
    windows: int          # ceil(T / TW): the last window is padded
    group_windows: tuple  # windows in each window group (the last may be partial)
    fold: int
    positions: int        # position groups per window group: ceil(P*Q / fold)
    channel_groups: int   # ceil(M / rows)

    @property
    def passes(self) -> int:
        return self.channel_groups * self.positions * len(self.group_windows)


def pass_shape(layer: Layer, tws: int, rows: int, cols: int) -> PassShape:
    windows = math.ceil(layer.T / tws)
    positions = layer.P * layer.Q
    fold = max(1, min(cols // windows, positions)) if windows < cols else 1
    full, rest = divmod(windows, cols) if windows >= cols else (1, 0)
    groups = (min(windows, cols),) * full + ((rest,) if rest else ())
    return PassShape(windows, groups, fold, math.ceil(positions / fold), math.ceil(layer.M / rows))


# ---- exact counts on a recorded trace ------------------------------------------------------

def packed_slots(active: np.ndarray, packing: Packing = "first_fit") -> int:
    """Line slots one pass needs: `active` is [lines, columns] (line active in the column's
    window). Silent lines take no slot. first_fit: each line joins the first slot none of
    whose lines is active in its columns. pairs: at most two lines per slot (each line,
    in order, takes the first later free line it does not overlap). none: one line a slot."""
    lines = active[active.any(axis=1)]
    if packing == "none":
        return len(lines)
    if packing == "first_fit":
        slots: list[np.ndarray] = []
        for line in lines:
            for slot in slots:
                if not (slot & line).any():
                    slot |= line
                    break
            else:
                slots.append(line.copy())
        return len(slots)
    full = lines.all(axis=1)
    partial = lines[~full]
    taken = np.zeros(len(partial), dtype=bool)
    count = int(full.sum()) + len(partial)
    for i in range(len(partial)):
        if taken[i]:
            continue
        free = ~taken[i + 1:] & ~(partial[i + 1:] & partial[i]).any(axis=1)
        if free.any():
            taken[i + 1 + int(np.argmax(free))] = True
            count -= 1
    return count


def receptive_lines(layer: Layer, windows_active: np.ndarray) -> np.ndarray:
    """[positions, lines, windows]: for each output position, the activity of each input
    line of its receptive field (c, r, s order; padding taps are silent lines)."""
    if layer.type == "fc":
        return windows_active.reshape(1, layer.C, -1)
    a = windows_active  # [C, H_in, W_in, windows]
    pad = layer.padding
    a = np.pad(a, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    out = np.empty((layer.P * layer.Q, layer.C * layer.R * layer.S, a.shape[-1]), dtype=bool)
    for p in range(layer.P):
        for q in range(layer.Q):
            h, w = p * layer.stride, q * layer.stride
            out[p * layer.Q + q] = a[:, h:h + layer.R, w:w + layer.S].reshape(-1, a.shape[-1])
    return out


def trace_compute_cycles(layer: Layer, spikes: np.ndarray, tws: int, rows: int = 16, cols: int = 8,
                         packing: Packing = "first_fit", fill: Literal["per_pass", "per_position"] = "per_pass",
                         ) -> dict[str, int]:
    """Array cycles of one inference (`spikes`: bool [T, *layer.input_shape]): line slots x TW
    summed over passes ("accumulate") and pipeline fill/drain ("fill_drain": rows + cols - 1
    per pass, or the public re-implementation's 2 x rows per output position)."""
    shape = pass_shape(layer, tws, rows, cols)
    T = layer.T
    padded = np.zeros((shape.windows * tws, *spikes.shape[1:]), dtype=bool)
    padded[:T] = spikes
    per_window = padded.reshape(shape.windows, tws, -1).any(axis=1)           # [windows, lines]
    windows_active = np.moveaxis(per_window, 0, -1).reshape(*layer.input_shape, shape.windows)
    lines = receptive_lines(layer, windows_active)                             # [positions, lines, windows]
    positions = lines.shape[0]
    slots, start = 0, 0
    for width in shape.group_windows:
        group = lines[:, :, start:start + width]
        start += width
        for b in range(shape.positions):
            members = [b + j * shape.positions for j in range(shape.fold) if b + j * shape.positions < positions]
            active = np.concatenate([group[i] for i in members], axis=1)      # columns: fold x windows
            slots += packed_slots(active, packing)
    accumulate = slots * shape.channel_groups * tws
    fill_drain = shape.passes * (rows + cols - 1) if fill == "per_pass" else positions * 2 * rows
    return {"accumulate": accumulate, "fill_drain": fill_drain, "slots": slots}


# ---- expected counts from a density model ---------------------------------------------------

def valid_lines(layer: Layer) -> float:
    """Input lines per receptive field that are not padding."""
    return layer.C * layer.R * layer.S * layer.valid_tap_fraction


def spike_tile_bits(layer: Layer, p_glb: int, t_glb: int) -> float:
    """Bits of the input a GLB tile of `p_glb` output rows and `t_glb` steps holds (all
    channels; padding is not stored)."""
    if layer.type == "fc":
        return layer.C * t_glb
    rows_in = min((p_glb - 1) * layer.stride + layer.R, layer.H)
    unpadded = layer.input_lines / (layer.C * layer.H * layer.W)
    return layer.C * rows_in * layer.W * unpadded * t_glb


def dram_reads(layer: Layer, m: PTBMapping, arch: SpikeXArch, d: DensityModel | None = None) -> tuple[float, float]:
    """DRAM bits read for weights and input spikes under the mapping's loop order. stSAP:
    lines silent over the whole inference are not fetched, nor are their weights (FC; a conv
    kernel is skipped when its input channel is silent). Without `d`: every line live."""
    shape = pass_shape(layer, m.tws, m.rows, arch.cols)
    T_pad = shape.windows * m.tws
    line_live = 1 - d.p_line_silent(layer.T) if d else 1.0
    kernel_live = (line_live if layer.type == "fc" else d.p_channels_nonempty(1, layer.T)) if d else 1.0
    w_bits = layer.weights * arch.weight_bits * kernel_live
    if m.order == "streaming":  # nothing stays: every pass fetches its lines' weights and spikes
        spikes = layer.input_lines * T_pad * line_live * shape.channel_groups
        lines = valid_lines(layer) * (1 - d.p_line_silent(m.tws * max(shape.group_windows)) if d else 1.0)
        return shape.passes * lines * m.rows * arch.weight_bits, spikes
    p_tiles, t_tiles = layer.P // m.p_glb, math.ceil(T_pad / m.t_glb)
    s_bits = p_tiles * t_tiles * spike_tile_bits(layer, m.p_glb, m.t_glb) * line_live
    n_m, n_s = math.ceil(layer.M / m.m_glb), p_tiles * t_tiles
    if m.order == "weights-stationary":  # for m tile: for spike tile
        return w_bits, s_bits * (n_m if n_s > 1 else 1)
    return w_bits * (n_s if n_m > 1 else 1), s_bits  # for spike tile: for m tile


def evaluate_ptb_layer(layer: Layer, m: PTBMapping, arch: SpikeXArch, d: DensityModel) -> LayerCost:
    """Expected energy, cycles and action counts of one weighted layer on PTB."""
    shape = pass_shape(layer, m.tws, m.rows, arch.cols)
    lines = valid_lines(layer)
    bpa = arch.bits_per_action
    slots = 0.0  # per channel group, summed over passes
    words = {"fill_L1": 0.0, "fill_GLB": 0.0, "read_L1": 0.0}  # per channel group
    group_slots = [d.expected_packed_rows(lines, width * shape.fold, m.tws) for width in shape.group_windows]
    for width, group in zip(shape.group_windows, group_slots):
        slots += shape.positions * group
        # A tap takes a slot (is live) when its line is active at any of the `fold` positions
        # side by side.
        silent = d.p_line_silent(width * m.tws)
        union = (1 - silent ** shape.fold) / (1 - silent) if silent < 1 else 1.0
        live_pmf = scaled_counts(d.active_lines_pmf(lines, width * m.tws), union)
        for key, count in pass_words(layer, m, arch, live_pmf, width * shape.fold).items():
            words[key] += shape.positions * count
    T_pad = shape.windows * m.tws
    computes = layer.dense_synops * d.rate * layer.valid_tap_fraction
    active_line_windows = layer.M * layer.P * layer.Q * lines * shape.windows * d.p_nonempty(1, m.tws)
    neuron_steps = layer.output_neurons * T_pad
    out_bits = layer.output_neurons * layer.T
    words = {key: count * shape.channel_groups for key, count in words.items()}
    w_dram, s_dram = dram_reads(layer, m, arch, d)
    actions = {
        ("Accumulator", "compute"): computes,
        ("WReg", "read"): computes,
        ("WReg", "write"): active_line_windows * arch.weight_bits / bpa["WReg"],
        # one partial-sum read-modify-write per accumulation, one per membrane step
        ("Vmem", "read"): (computes + neuron_steps) * arch.vmem_bits / bpa["Vmem"],
        ("Vmem", "write"): (computes + neuron_steps) * arch.vmem_bits / bpa["Vmem"],
        ("Comparator", "compare"): float(neuron_steps),
        ("PEController", "dispatch"): float(shape.passes * m.rows * m.cols),
        ("L1", "read"): words["read_L1"],
        ("L1", "write"): words["fill_L1"],
        ("GLB", "read"): words["fill_GLB"] + out_bits / bpa["GLB"],
        ("GLB", "write"): (w_dram + s_dram + out_bits) / bpa["GLB"],
        ("DRAM", "read"): (w_dram + s_dram) / bpa["DRAM"],
        ("DRAM", "write"): out_bits / bpa["DRAM"],
    }
    accumulate = slots * shape.channel_groups * m.tws
    membrane = shape.passes * (sum(shape.group_windows) / len(shape.group_windows)) * m.tws
    fill = m.rows + m.cols - 1   # passes stream back to back: the pipeline fills and drains once
    per_neurons = neuron_group_cycles(shape.group_windows, [g * m.tws for g in group_slots], m.tws)
    # ... plus the last neuron group's membrane chain through its last window group
    array = shape.channel_groups * shape.positions * per_neurons + (shape.group_windows[-1] - 1) * m.tws + fill
    loads = {"array": array, **port_loads(actions, arch)}
    bound = max(loads, key=loads.get)
    exposed = ptb_exposed_transfers(layer, m, arch, d, words["fill_GLB"] * bpa["GLB"] / shape.passes, out_bits)
    # A pass's fill streams GLB words into L1 one cycle behind: one cycle of latency per pass.
    overlapped = {**loads, "glb_port": overlapped_glb_port(actions, arch, exposed) + shape.passes,
                  "dram": max(loads["dram"] - exposed["dram"], 0.0)}
    cycles = max(overlapped.values()) + exposed["cycles"]
    parts = {"accumulate": accumulate, "membrane": membrane, "fill_drain": fill, **loads, "exposed": exposed["cycles"]}
    return priced(layer.name, m, arch, actions, cycles, parts, bound)


def scaled_counts(pmf: np.ndarray, factor: float) -> np.ndarray:
    """The distribution of k * factor for k ~ `pmf` (k = 0..n), on 0..n: each mass split
    between the two nearest counts (so the mean scales by `factor` below the cap)."""
    n = pmf.size - 1
    position = np.minimum(np.arange(pmf.size) * factor, n)
    low = np.floor(position).astype(int)
    upper = np.minimum(low + 1, n)
    return (np.bincount(low, pmf * (1 - (position - low)), minlength=n + 1)
            + np.bincount(upper, pmf * (position - low), minlength=n + 1))


def pass_words(layer: Layer, m: PTBMapping, arch: SpikeXArch, live_pmf: np.ndarray, columns: int) -> dict[str, float]:
    """Expected words of one pass, each transfer a whole number of port words, over the
    distribution `live_pmf` of its live taps (a tap is live if any folded position needs
    it): its L1 fill (a live map of one bit per tap, the live taps' spike bits over the
    pass's columns, their weights), as L1 writes and GLB reads, and the array's L1 reads
    (each live tap's weights; the map and the spike bits only when some tap is live)."""
    bpa = arch.bits_per_action
    live = np.arange(live_pmf.size)
    taps = layer.C * layer.R * layer.S
    spike_bits, weight_bits = taps + live * columns * m.tws, live * m.rows * arch.weight_bits
    out = {f"fill_{c}": float(np.sum(live_pmf * (np.ceil(spike_bits / bpa[c]) + np.ceil(weight_bits / bpa[c]))))
           for c in ("L1", "GLB")}
    reads = (live * math.ceil(m.rows * arch.weight_bits / bpa["L1"])
             + (live > 0) * (np.ceil(live * columns * m.tws / bpa["L1"]) + math.ceil(taps / bpa["L1"])))
    out["read_L1"] = float(np.sum(live_pmf * reads))
    return out


def neuron_group_cycles(group_windows: tuple, group_accumulate: list[float], tws: int) -> float:
    """Array cycles of one group of output neurons (one channel group at one position group)
    over its window groups. Every column spends its window's accumulation (slots x TW) and
    TW membrane steps per pass; the membrane steps chain from window to window (a PE hands
    its potential to the next column), so the last window group cannot finish before the
    earlier groups' windows have all been walked. Passes of different neuron groups overlap
    (each PE holds one weight and its own potential), so the slower of the two sets the pace."""
    column_work = sum(a + tws for a in group_accumulate)
    chain = sum(w * tws for w in group_windows[:-1]) + group_accumulate[-1] + tws
    return max(column_work, chain)


def ptb_exposed_transfers(layer: Layer, m: PTBMapping, arch: SpikeXArch, d: DensityModel,
                          pass_bits: float, out_bits: float) -> dict[str, float]:
    """Transfers nothing can overlap: the first GLB tile's load from DRAM, the first pass's
    L1 fill, the last pass's outputs into the GLB and the last GLB tile's outputs back to
    DRAM. Returns their cycles, their GLB reads and writes, and their DRAM cycles."""
    bpa = arch.bits_per_action
    dram_time = bpa["DRAM"] / 8 / arch.extras.dram_bytes_per_s * arch.clock_hz / bpa["DRAM"]
    line_live = 1 - d.p_line_silent(layer.T)
    kernel_live = line_live if layer.type == "fc" else d.p_channels_nonempty(1, layer.T)
    if m.order == "streaming":
        first_in, tiles = pass_bits, pass_shape(layer, m.tws, m.rows, arch.cols).passes
    else:
        t_glb = min(m.t_glb, layer.T)
        first_in = (min(m.m_glb, layer.M) * layer.C * layer.R * layer.S * arch.weight_bits * kernel_live
                    + spike_tile_bits(layer, m.p_glb, t_glb) * line_live)
        tiles = math.ceil(layer.M / m.m_glb) * layer.P // m.p_glb * math.ceil(layer.T / t_glb)
    last_out = out_bits / tiles
    # The last pass's output spikes enter the GLB before the write-back can read them.
    last_pass_out = math.ceil(out_bits / pass_shape(layer, m.tws, m.rows, arch.cols).passes / bpa["GLB"])
    first = max(arch.port_cycles("GLB", 0.0, first_in / bpa["GLB"]), first_in * dram_time)
    l1_first = arch.port_cycles("GLB", pass_bits / bpa["GLB"], 0.0)
    last = arch.port_cycles("GLB", 0.0, last_pass_out) + max(arch.port_cycles("GLB", last_out / bpa["GLB"], 0.0),
                                                             last_out * dram_time)
    return {"cycles": first + l1_first + last, "glb_reads": (pass_bits + last_out) / bpa["GLB"],
            "glb_writes": first_in / bpa["GLB"] + last_pass_out, "dram": (first_in + last_out) * dram_time}


# ---- mapspace ---------------------------------------------------------------------------------

def glb_tiles(layer: Layer, arch: SpikeXArch, tws: int, rows: int) -> list[PTBMapping]:
    """Per DRAM loop order, the GLB tile (output channels x output rows x window groups) with
    the least DRAM traffic that fits double-buffered (ties: the larger tile); one
    `streaming` mapping when no tile fits."""
    shape = pass_shape(layer, tws, rows, arch.cols)
    T_pad = shape.windows * tws
    group_steps = max(shape.group_windows) * tws
    cols = max(shape.group_windows) * shape.fold
    w_per_channel = layer.C * layer.R * layer.S * arch.weight_bits
    m_opts = sorted({min(layer.M, k * rows) for k in range(1, math.ceil(layer.M / rows) + 1)})
    t_opts = sorted({min(T_pad, g * group_steps) for g in range(1, len(shape.group_windows) + 1)})
    p_opts = [p for p in range(1, layer.P + 1) if layer.P % p == 0]
    best: dict[str, tuple] = {}
    for m_glb in m_opts:
        for p_glb in p_opts:
            for t_glb in t_opts:
                bits = m_glb * w_per_channel + spike_tile_bits(layer, p_glb, t_glb)
                if 2 * bits > arch.sizes_bits["GLB"]:
                    continue
                for order in ("weights-stationary", "spikes-stationary"):
                    m = PTBMapping(tws, rows, cols, shape.fold, order, m_glb, p_glb, t_glb)
                    key = (sum(dram_reads(layer, m, arch)), -bits)
                    if order not in best or key < best[order][0]:
                        best[order] = (key, m)
    if not best:
        return [PTBMapping(tws, rows, cols, shape.fold, "streaming", rows, 1, group_steps)]
    return [v[1] for v in best.values()]


def candidate_ptb_mappings(layer: Layer, arch: SpikeXArch, tws_choices: list[int] | None = None) -> list[PTBMapping]:
    """Every allowed TW (need not divide T: the last window is padded) that fits the PE's
    partial-sum scratchpad, with the best GLB tile of each loop order."""
    vmem_values = arch.sizes_bits["Vmem"] / arch.vmem_bits
    rows = min(arch.rows, layer.M)
    return [m for tws in (tws_choices or arch.extras.tws_choices) if tws <= vmem_values
            for m in glb_tiles(layer, arch, tws, rows)]
