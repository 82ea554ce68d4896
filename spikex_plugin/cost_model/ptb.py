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

import functools
import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from spikex_plugin.cost_model.spikex import (LayerCost, overlapped_glb_port, port_loads, priced,
                                              start_after_first_load)
from spikex_plugin.cost_model.stsap import binomial_tap_columns, independent_first_fit, inverse_cdf, recorded_tap_columns
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
    stages, group_slots = [], []
    for width in shape.group_windows:
        # A tap takes a slot (is live) when its line is active at any of the `fold` positions
        # side by side.
        silent = d.p_line_silent(width * m.tws)
        union = (1 - silent ** shape.fold) / (1 - silent) if silent < 1 else 1.0
        live_pmf = scaled_counts(d.active_lines_pmf(lines, width * m.tws), union)
        columns = width * shape.fold
        windows_per_live = columns * d.p_nonempty(1, m.tws) / (1 - silent ** shape.fold) if silent < 1 else 0.0
        # stSAP needs at least the busiest column's lines (co-active lines kept), and at
        # least what first-fit needs when live taps' windows are independent (each tap in
        # as many windows as the statistics' lines, else alike taps).
        line_counts = d.line_window_count_pmf(width, m.tws)
        tap_columns = (binomial_tap_columns(columns, round(windows_per_live, 6)) if line_counts is None
                       else recorded_tap_columns(line_counts, shape.fold))
        group = max(d.expected_packed_rows(lines, width, m.tws, 1 + (shape.fold - 1) * min(layer.stride / layer.S, 1)),
                    independent_first_fit(tuple(np.round(live_pmf, 9)), columns, tap_columns))
        group_slots.append(group)
        slots += shape.positions * group
        by_live = pass_words_by_live(layer, m, arch, live_pmf.size - 1, width * shape.fold)
        for key, count in by_live.items():
            words[key] += shape.positions * float(np.sum(live_pmf * count))
        stages.append(PassStages.of(live_pmf, by_live, group, math.ceil(layer.C * layer.R * layer.S / bpa["L1"]),
                                    width * m.tws))
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
    # Passes stream back to back: the rows' skew drains once (the pipeline walks the columns).
    fill = m.rows - 1
    tile_groups = max(1, m.t_glb // (max(shape.group_windows) * m.tws))
    # With one position group the passes are the window groups in time order, so a pass
    # follows the one before as a window group follows the one before (FC). Conv passes walk
    # a position's window groups and then repeat that time pattern at the next position,
    # which the busiest of two consecutive window groups does not describe.
    persistence = round(d.pass_persistence(lines, max(shape.group_windows) * m.tws), 6) if shape.positions == 1 else 0.0
    exposed = ptb_exposed_transfers(layer, m, arch, d, words["fill_GLB"] * bpa["GLB"] / shape.passes, out_bits)
    # The first GLB tile's load holds the first fill, so the passes' pipeline starts after it
    # (a silent pass's membrane walk does not wait for it); every port waits for it.
    array = pass_pipeline_cycles(tuple(stages), shape.passes, m.tws, tile_groups, persistence,
                                 fills_from=exposed["before"]) + fill
    loads = {"array": array, **port_loads(actions, arch)}
    bound = max(loads, key=loads.get)
    # A pass's fill streams GLB words into L1 one cycle behind: one cycle of latency per pass.
    overlapped = {**loads, "glb_port": overlapped_glb_port(actions, arch, exposed) + shape.passes,
                  "dram": max(loads["dram"] - exposed["dram"], 0.0)}
    start_after_first_load(overlapped, exposed["before"], 0.0)   # the array's waits are in its recurrence
    cycles = max(overlapped.values()) + exposed["after"]
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


def pass_words_by_live(layer: Layer, m: PTBMapping, arch: SpikeXArch, taps_live: int,
                       columns: int) -> dict[str, np.ndarray]:
    """Words of one pass for each number of live taps 0..`taps_live` (a tap is live if any
    folded position needs it), each transfer a whole number of port words: its L1 fill (a
    live map of one bit per tap, the live taps' spike bits over the pass's columns, their
    weights), as L1 writes and GLB reads, and the array's L1 reads (each live tap's weights;
    the map and the spike bits only when some tap is live)."""
    bpa = arch.bits_per_action
    live = np.arange(taps_live + 1)
    taps = layer.C * layer.R * layer.S
    spike_bits, weight_bits = taps + live * columns * m.tws, live * m.rows * arch.weight_bits
    out = {f"fill_{c}": np.ceil(spike_bits / bpa[c]) + np.ceil(weight_bits / bpa[c]) for c in ("L1", "GLB")}
    out["read_L1"] = (live * math.ceil(m.rows * arch.weight_bits / bpa["L1"])
                      + (live > 0) * (np.ceil(live * columns * m.tws / bpa["L1"]) + math.ceil(taps / bpa["L1"])))
    return out


@dataclass(frozen=True)
class PassStages:
    """One window group's passes, per number of live taps L = 0..n: the probability of L,
    the GLB-port cycles of its L1 fill (words streamed into L1 one cycle behind), its L1 reads
    (all of them, and those before the first slot's weight can leave: the live map and the
    first slot's share) and its slots; `chain`: the group's membrane steps (each column walks
    its window after the column before it)."""
    pmf: tuple
    fill: tuple
    reads: tuple
    first_reads: tuple
    slots: tuple
    chain: int

    @staticmethod
    def of(live_pmf: np.ndarray, by_live: dict[str, np.ndarray], mean_slots: float, map_words: int,
           chain: int) -> "PassStages":
        """Slots given L: 1 + r (L - 1) for L >= 1 (none without live taps), r set so that the
        mean is the model's expected slots (stSAP packs more taps per slot as L grows)."""
        live = np.arange(live_pmf.size)
        busy = float(live_pmf[1:].sum())
        extra = float(np.sum(live_pmf * np.maximum(live - 1, 0)))
        r = min(max((mean_slots - busy) / extra, 0.0), 1.0) if extra > 0 else 0.0
        slots = np.where(live > 0, 1 + r * np.maximum(live - 1, 0), 0.0)
        reads = by_live["read_L1"]
        first = np.where(live > 0, map_words + (reads - map_words) / np.maximum(slots, 1), 0.0)
        fill = np.maximum(by_live["fill_L1"], by_live["fill_GLB"])
        return PassStages(*(tuple(np.round(x, 9)) for x in (live_pmf, fill, reads, first, slots)), chain)


@functools.lru_cache(maxsize=1024)
def pass_pipeline_cycles(groups: tuple[PassStages, ...], passes: int, tws: int, tile_groups: int,
                         persistence: float = 0.0, sequence: int = 64, replicas: int = 64, fills_from: float = 0.0) -> float:
    """Expected array cycles of `passes` passes (window groups in turn; the windows of a GLB
    time tile, `tile_groups` window groups, chain their membrane) through three stages that
    hand off as PTB's buffers do:
    - fill: a pass's L1 fill starts when the L1 half it overwrites has been read out (the pass
      two back) and the GLB port has finished the previous fill;
    - feed and column line: the feeder reads the pass's words once they are in L1 and the
      previous pass's are read; the first slot's weight enters column 0 when column 0 has
      walked its window of the previous pass; each later slot follows its reads, at least TW
      cycles after the one before;
    - chain: column 0 walks its window TW cycles after its last weight (and after the previous
      window group's chain ends, when chained), then the chain runs through the columns.
    The stages' times are per pass and random (L live taps drawn from each group's pmf), and a
    long pass holds up the others through the two buffers, so the period is not the slowest
    stage's mean: the recurrence is run on `replicas` seeded draws of `sequence` passes; the
    mean is taken over the whole run when `passes` is short, else as the steady-state period
    (second half of the run) times `passes`. With `persistence` r a pass repeats the
    previous pass's draw (its quantile of L) with probability r, else draws afresh: passes
    of one busy or quiet stretch of input come together, and the pipeline waits less for
    long passes among short ones than when every pass is drawn afresh. The first fill starts
    at cycle `fills_from` (after the first GLB tile's load); a run longer than `sequence`
    passes adds it to its steady-state time."""
    rng = np.random.default_rng(0)
    k_run = min(passes, sequence)
    group_of = np.arange(k_run) % len(groups)
    uniforms = [rng.random(replicas) for _ in range(k_run)]   # as `Generator.choice` draws them
    if persistence > 0:
        repeat = np.random.default_rng(1).random((k_run, replicas)) < persistence
        for k in range(1, k_run):
            uniforms[k] = np.where(repeat[k], uniforms[k - 1], uniforms[k])
    live = [inverse_cdf(np.asarray(groups[i].pmf) / sum(groups[i].pmf), u) for i, u in zip(group_of, uniforms)]
    zero = np.zeros(replicas)
    fill_end, feeder, last_take, mem_start, chain_end = zero + fills_from, zero, zero, zero - tws, zero
    feed_end = [zero, zero]   # the two passes before
    ends = []
    for k in range(k_run):
        g, n = groups[group_of[k]], live[k]
        fill, reads, first, slots = (np.asarray(x)[n] for x in (g.fill, g.reads, g.first_reads, g.slots))
        fill_end = np.maximum(feed_end[0], fill_end) + fill
        ready = fill_end + 1
        start = np.maximum(np.maximum(feeder, last_take), ready)
        first_take = np.maximum(start + first, mem_start + tws)
        per_slot = np.divide(reads - first, slots - 1, out=np.zeros(replicas), where=slots > 1)
        step = np.maximum(per_slot, tws)
        took = first_take + np.maximum(slots - 1, 0) * step
        has = slots > 0
        last_read = np.where(slots > 1, took - step + per_slot, start + first)
        feeder = np.where(has, last_read, np.maximum(feeder, ready))
        last_take = np.where(has, took, last_take)
        column0 = np.where(has, took + tws, mem_start + tws)
        mem_start = np.maximum(column0, chain_end) if group_of[k] % tile_groups else column0
        chain_end = mem_start + g.chain
        feed_end = [feed_end[1], np.maximum(feeder, ready)]
        ends.append(chain_end.mean())
    if passes <= sequence:
        return float(ends[-1])
    half = k_run // 2
    return float((ends[-1] - ends[half - 1]) / (k_run - half) * passes + fills_from)


def ptb_exposed_transfers(layer: Layer, m: PTBMapping, arch: SpikeXArch, d: DensityModel,
                          pass_bits: float, out_bits: float) -> dict[str, float]:
    """Transfers nothing can overlap: the first GLB tile's load from DRAM, the last pass's
    outputs into the GLB and the last GLB tile's outputs back to DRAM (the first pass's L1
    fill is the start of `pass_pipeline_cycles`). Returns their cycles (in all, "before" and
    "after" the passes), their GLB reads and writes, and their DRAM cycles."""
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
    last = arch.port_cycles("GLB", 0.0, last_pass_out) + max(arch.port_cycles("GLB", last_out / bpa["GLB"], 0.0),
                                                             last_out * dram_time)
    return {"cycles": first + last, "before": first, "after": last, "glb_reads": last_out / bpa["GLB"],
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
