"""Trace-driven simulation of one SpikeX layer: the loop nest walked tile by tile.

Tags come from the trace bits: a time window's tag is set iff its input line spiked in it;
an SP-MB (one input channel, or `fc_tag_group` FC lines, over one time block) is set iff
any of its lines spiked in that block. With the arch's skipping switches on:
- an L1 or GLB tile moves only its active SP-MBs' spike bits and the weight kernels of
  their channels (`zero_blocks`, `weight_tailoring`); every transfer moves whole words;
- a weight step runs only if some column's window fired (`zero_windows`); the feeder then
  reads the rows' weights and the step's spike bits from L1 and each PE whose window fired
  loads the weight and accumulates once per spike (`zero_spikes`);
- a neuron runs `tws` membrane steps per window whose receptive field fired, else one
  (decay only); partial sums across channel chunks stay in the PE's Vmem.
Counts are exact for the trace; cycles come from `engine.run_tiles`.
"""

from __future__ import annotations


import numpy as np

from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.sim.engine import OVERFLOW, feeder_reads, run_tiles
from spikex_plugin.sim.lif import LIFParams, layer_currents, lif_spikes
from spikex_plugin.sim.nest import SimNest, nest_from_mapping
from spikex_plugin.sim.result import SimResult, priced
from spikex_plugin.workload.network import Layer


def padded_input(layer: Layer, trace: np.ndarray) -> np.ndarray:
    """One inference's spikes [T, *layer.input_shape] as [T, C, H, W] with zero padding
    (FC: [T, C, 1, 1])."""
    trace = np.asarray(trace)
    expected = (layer.T, *layer.input_shape)
    if trace.shape != expected:
        raise ValueError(f"trace shape {trace.shape} does not match layer {layer.name} input {expected}")
    x = trace.astype(bool).reshape(layer.T, layer.C, *(trace.shape[2:] or (1, 1)))
    pad = layer.padding
    return np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))


def window_taps(layer: Layer, x: np.ndarray, tws: int) -> np.ndarray:
    """Spike count of every (window, c, p, q, r, s): what the PE holding output (p, q) sees
    on tap (c, r, s) in that window. [K, C, P, Q, R, S] uint8."""
    T, C, H, W = x.shape
    per_window = x.reshape(T // tws, tws, C, H, W).sum(axis=1, dtype=np.uint8)
    views = np.lib.stride_tricks.sliding_window_view(per_window, (layer.R, layer.S), axis=(2, 3))
    st = layer.stride
    return np.ascontiguousarray(views[:, :, :layer.P * st:st, :layer.Q * st:st])


def sp_mb_tags(layer: Layer, x: np.ndarray, block: int, group: int) -> np.ndarray:
    """[T/block, C] bool: the tag of the SP-MB holding channel (FC: line) c in each block."""
    per_line = x.reshape(layer.T // block, block, layer.C, -1).any(axis=(1, 3))
    groups = -(-layer.C // group)
    padded = np.zeros((per_line.shape[0], groups * group), dtype=bool)
    padded[:, :layer.C] = per_line
    per_group = padded.reshape(per_line.shape[0], groups, group).any(axis=2)
    return np.repeat(per_group, group, axis=1)[:, :layer.C]


def words(bits: np.ndarray | float, width: float) -> np.ndarray:
    """Accesses of a port `width` bits wide to move `bits` in one transfer."""
    return np.ceil(np.asarray(bits, dtype=np.float64) / width).astype(np.int64)


def tiled_counts(layer: Layer, nest: SimNest, taps: np.ndarray) -> np.ndarray:
    """Window taps [K, C, P, Q, R, S] as [spike tile, weight step, column]; spike tiles in
    (time block, p, output-column block, channel chunk) order, steps in (c, r, s) order."""
    K, C, P, Q, R, S = taps.shape
    cols, c_l1 = nest.cols, nest.c_l1
    if nest.dispatch == "temporal":   # column j: window j of the block
        tiled = taps.reshape(K // cols, cols, C // c_l1, c_l1, P, Q, R, S).transpose(0, 4, 5, 2, 3, 6, 7, 1)
    else:                             # column j: output column j of the block
        tiled = taps.reshape(K, C // c_l1, c_l1, P, Q // cols, cols, R, S).transpose(0, 3, 4, 1, 2, 6, 7, 5)
    return tiled.reshape(-1, c_l1 * R * S, cols)


def receptive_fields_fired(nest: SimNest, taps: np.ndarray) -> np.ndarray:
    """[output tile, column] bool: whether the neuron's receptive field fired in its window."""
    K, C, P, Q = taps.shape[:4]
    rf = taps.reshape(K, C, P, Q, -1).any(axis=(1, 4))               # [K, P, Q]
    if nest.dispatch == "temporal":
        rf = rf.reshape(K // nest.cols, nest.cols, P, Q).transpose(0, 2, 3, 1)
    return rf.reshape(-1, nest.cols)


def membrane_steps(nest: SimNest, taps: np.ndarray, skip_silent: bool) -> np.ndarray:
    """[output tile, column]: tws steps per window whose receptive field fired, else one
    decay step (every step when silent windows are not skipped)."""
    fired = receptive_fields_fired(nest, taps)
    return np.where(fired | (not skip_silent), nest.tws, 1).astype(np.int64)


class SpikeXTiles:
    """Per-spike-tile work and traffic masks; a spike tile is (time block, output row,
    output-column block, channel chunk) and is visited once per filter tile."""

    def __init__(self, layer: Layer, nest: SimNest, arch: SpikeXArch, x: np.ndarray):
        sk = arch.extras.skipping
        taps = window_taps(layer, x, nest.tws)                      # [K, C, P, Q, R, S]
        self.n_c1, self.nq = layer.C // nest.c_l1, layer.Q // nest.q_cols
        counts = tiled_counts(layer, nest, taps)                    # spikes per (tile, step, column)
        group = min(arch.extras.fc_tag_group, layer.C) if layer.type == "fc" else 1
        act = sp_mb_tags(layer, x, nest.tb, group)                 # [T/tb, C]
        act_glb = sp_mb_tags(layer, x, nest.tb_glb, group)          # [T/tb_glb, C]
        # channels (FC: lines) whose spike bits / weight kernels a tile moves, per block
        self.moved = {"sin_l1": act if sk.zero_blocks else np.ones_like(act),
                      "wt_l1": act if sk.weight_tailoring else np.ones_like(act),
                      "sin_glb": act_glb if sk.zero_blocks else np.ones_like(act_glb),
                      "wt_glb": act_glb if sk.weight_tailoring else np.ones_like(act_glb)}
        # a step's channel is in L1 (its SP-MB moved), broadcast to (b, p, qb, c1, c, r, s)
        in_l1 = act if (sk.zero_blocks or sk.weight_tailoring) else np.ones_like(act)
        present = np.broadcast_to(in_l1.reshape(act.shape[0], 1, 1, self.n_c1, nest.c_l1, 1, 1),
                                  (act.shape[0], layer.P, self.nq, self.n_c1, nest.c_l1, layer.R, layer.S)
                                  ).reshape(counts.shape[:2])
        fired = counts > 0
        loaded = (fired if sk.zero_windows else np.ones_like(fired)) & present[..., None]
        self.issued = present & (fired.any(axis=2) if sk.zero_windows else True)
        self.loaded = loaded & self.issued[..., None]
        self.accumulations = np.where(self.loaded, counts if sk.zero_spikes else nest.tws, 0)
        self.work = self.accumulations.astype(np.int16)
        self.feed = self._feeder(layer, nest, arch, act)
        self.tag_checks = float(present.sum()) * nest.cols * layer.M
        self.tag_updates_per_tile = -(-nest.c_l1 // group)
        self.mem = membrane_steps(nest, taps, sk.zero_windows)
        # temporal: a neuron's windows chain across the columns; spatial: columns independent
        self.chain_start = np.arange(nest.cols) == 0 if nest.dispatch == "temporal" else np.ones(nest.cols, bool)

    def _feeder(self, layer: Layer, nest: SimNest, arch: SpikeXArch, act: np.ndarray) -> np.ndarray:
        """L1 reads of each issued step. L1 holds the tile's present channels packed in
        channel order: weights as [c][r][s][row], spikes as [c][r][w][t]; a step reads its
        rows' weights and its columns' spike bits (temporal: the line's tb bits; spatial:
        the cols lines (stride apart) of its window)."""
        sk = arch.extras.skipping
        R, S, P, c_l1, width = layer.R, layer.S, layer.P, nest.c_l1, arch.bits_per_action["L1"]
        w_l1 = (nest.q_cols - 1) * layer.stride + S
        chunked = act.reshape(act.shape[0], self.n_c1, c_l1)
        every = np.broadcast_to(np.arange(c_l1), chunked.shape)
        rank_w = np.cumsum(chunked, axis=2) - 1 if sk.weight_tailoring else every
        rank_s = np.cumsum(chunked, axis=2) - 1 if sk.zero_blocks else every
        r, s = np.meshgrid(np.arange(R), np.arange(S), indexing="ij")

        def per_step(rank: np.ndarray, offset_of) -> np.ndarray:   # [nb, n_c1, c_l1, R, S] -> [tiles, steps]
            bits = offset_of(rank[..., None, None])
            return np.broadcast_to(bits[:, None, None], (bits.shape[0], P, self.nq, *bits.shape[1:])).reshape(
                -1, c_l1 * R * S)

        row_bits = nest.rows * arch.weight_bits
        w_first = per_step(rank_w, lambda k: ((k * R + r) * S + s) * row_bits)
        line_bits = nest.tb if nest.dispatch == "temporal" else ((nest.cols - 1) * layer.stride + 1) * nest.tws
        s_first = per_step(rank_s, lambda k: ((k * R + r) * w_l1 + s) * nest.tb)
        return feeder_reads(self.issued, w_first // width, (w_first + row_bits - 1) // width,
                            s_first // width, (s_first + line_bits - 1) // width)


def simulate_layer(layer: Layer, mapping: SpikeXMapping, arch: SpikeXArch, trace: np.ndarray,
                   weights: np.ndarray | None = None, lif: LIFParams = LIFParams()) -> SimResult:
    """Simulate one inference of a conv/FC layer on SpikeX under a mapping. `trace` is
    [T, *layer.input_shape] bool; with `weights` [M, C, R, S] (FC: [M, C]) the result also
    holds the layer's output spikes."""
    return simulate_nest(layer, nest_from_mapping(layer, mapping), arch, trace, weights, lif)


def simulate_nest(layer: Layer, nest: SimNest, arch: SpikeXArch, trace: np.ndarray,
                  weights: np.ndarray | None = None, lif: LIFParams = LIFParams()) -> SimResult:
    if not layer.has_weights:
        raise ValueError(f"layer {layer.name}: the simulator runs conv and FC layers")
    nest.validate(layer)
    x = padded_input(layer, trace)
    return walk(layer, nest, arch, x, SpikeXTiles(layer, nest, arch, x), weights, lif)


def walk(layer: Layer, nest: SimNest, arch: SpikeXArch, x: np.ndarray, tiles, weights: np.ndarray | None,
         lif: LIFParams) -> SimResult:
    """Walk the nest over prepared per-tile work (`SpikeXTiles` or `ptb.PTBTiles`): traffic,
    counts, cycles and, with weights, the layer's output spikes."""
    spikes = None
    if weights is not None:
        w = np.asarray(weights, dtype=np.float64).reshape(layer.M, layer.C, layer.R, layer.S)
        spikes = lif_spikes(layer_currents(layer.type, x, w, layer.stride), lif)
    order = nest_order(layer, nest, tiles)
    traffic = tile_traffic(layer, nest, arch, tiles, order, output_tags(layer, nest, arch, x, spikes))
    actions = count_actions(layer, nest, arch, tiles, order, traffic)
    cycles, parts = run_cycles(layer, nest, arch, tiles, order, traffic)
    return priced(actions, cycles, arch, parts, spikes)


def output_tags(layer: Layer, nest: SimNest, arch: SpikeXArch, x: np.ndarray,
                spikes: np.ndarray | None) -> np.ndarray:
    """[T/tb_glb, M] bool: the tag of the output SP-MB (output channel, FC: group of
    `fc_tag_group` outputs, over a GLB time block) that output m belongs to; with output tags
    (zero_blocks) only active SP-MBs leave the array. From the output spikes when known;
    else any input spike in the block (an LIF neuron without input in a block decays and
    cannot fire in it), an upper bound."""
    n_blocks = layer.T // nest.tb_glb
    if not arch.extras.skipping.zero_blocks:
        return np.ones((n_blocks, layer.M), dtype=bool)
    if spikes is None:
        fired = x.reshape(n_blocks, -1).any(axis=1)
        return np.repeat(fired[:, None], layer.M, axis=1)
    per_out = spikes.reshape(n_blocks, nest.tb_glb, layer.M, -1).any(axis=(1, 3))
    if layer.type != "fc":
        return per_out
    group = min(arch.extras.fc_tag_group, layer.M)
    padded = np.zeros((n_blocks, -(-layer.M // group) * group), dtype=bool)
    padded[:, :layer.M] = per_out
    return np.repeat(padded.reshape(n_blocks, -1, group).any(axis=2), group, axis=1)[:, :layer.M]


def nest_order(layer: Layer, nest: SimNest, tiles) -> dict[str, np.ndarray]:
    """Every L1 tile in loop order (DRAM loops in `dram_order` | m1, p1, q1, t1, c1): its
    spike tile, output tile, GLB tile and DRAM indices, and whether it is the last channel
    chunk / continues a window chain."""
    nt1 = nest.tb_glb // nest.tb
    dram = {"t": layer.T // nest.tb_glb, "m": layer.M // nest.m_glb, "p": layer.P // nest.p_glb}
    outer = tuple(nest.dram_order)
    shape = (*(dram[r] for r in outer), nest.m_glb // nest.rows, nest.p_glb, tiles.nq, nt1, tiles.n_c1)
    idx = [a.ravel() for a in np.indices(shape)]
    ix = dict(zip(outer, idx[:3]))
    t0, m0, p0 = ix["t"], ix["m"], ix["p"]
    m1, p1, q1, t1, c1 = idx[3:]
    b = t0 * nt1 + t1
    p = p0 * nest.p_glb + p1
    out = (b * layer.P + p) * tiles.nq + q1
    return {"spk": out * tiles.n_c1 + c1, "out": out, "b": b, "c1": c1, "t0": t0, "m0": m0, "p0": p0,
            "m": m0 * nest.m_glb + m1 * nest.rows,
            "last_c": c1 == tiles.n_c1 - 1, "chain": (t1 > 0) & (nest.dispatch == "temporal"),
            "glb": (idx[0] * shape[1] + idx[1]) * shape[2] + idx[2]}


def glb_loads(order: dict, needed: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per GLB tile: its (t0, p0, m0) and the channels whose weights it must fetch. The GLB
    keeps the spike tile while (t0, p0) stays and the weights while m0 stays; `needed`
    [t0, C] are the channels whose kernels a time block needs (kernels already resident
    for the same m0 are not fetched again)."""
    n_glb = order["glb"].max() + 1
    first = np.unique(order["glb"], return_index=True)[1]
    t0, p0, m0 = order["t0"][first], order["p0"][first], order["m0"][first]
    spikes_new = np.ones(n_glb, dtype=bool)
    spikes_new[1:] = (t0[1:] != t0[:-1]) | (p0[1:] != p0[:-1])
    fetch = np.zeros((n_glb, needed.shape[1]), dtype=bool)
    resident = np.zeros(needed.shape[1], dtype=bool)
    for g in range(n_glb):
        if g == 0 or m0[g] != m0[g - 1]:
            resident[:] = False
        fetch[g] = needed[t0[g]] & ~resident
        resident |= needed[t0[g]]
    return t0, spikes_new, fetch


def tile_traffic(layer: Layer, nest: SimNest, arch: SpikeXArch, tiles, order: dict,
                 out_tags: np.ndarray) -> dict[str, np.ndarray]:
    """Words each transfer moves: per L1 tile (GLB -> L1 fill, outputs to GLB) and per GLB
    tile (DRAM -> GLB fill of what the GLB does not keep, outputs back to DRAM)."""
    bpa = arch.bits_per_action
    wbits = arch.weight_bits
    w_l1 = (nest.q_cols - 1) * layer.stride + layer.S
    sin_l1, wt_l1 = tiles.moved["sin_l1"], tiles.moved["wt_l1"]
    per_c1 = lambda a: a.reshape(a.shape[0], tiles.n_c1, nest.c_l1).sum(axis=2)  # noqa: E731
    sin_bits = per_c1(sin_l1)[order["b"], order["c1"]] * nest.tb * layer.R * w_l1
    wt_bits = per_c1(wt_l1)[order["b"], order["c1"]] * nest.rows * layer.R * layer.S * wbits
    filters = order["m"][:, None] + np.arange(nest.rows)
    active_rows = out_tags[order["t0"][:, None], filters].sum(axis=1)
    out_bits = np.where(order["last_c"], active_rows * nest.cols * nest.tws, 0)
    h_glb = (nest.p_glb - 1) * layer.stride + layer.R
    g_t0, spikes_new, fetch = glb_loads(order, tiles.moved["wt_glb"])
    sin_glb_bits = tiles.moved["sin_glb"].sum(axis=1)[g_t0] * nest.tb_glb * h_glb * layer.W * spikes_new
    wt_glb_bits = fetch.sum(axis=1) * nest.m_glb * layer.R * layer.S * wbits
    wb_bits = np.bincount(order["glb"], out_bits, minlength=len(g_t0))
    return transfer_words(bpa, sin_bits, wt_bits, out_bits, sin_glb_bits, wt_glb_bits, wb_bits)


def transfer_actions(traffic: dict) -> dict[tuple[str, str], float]:
    """DRAM, GLB and L1-fill actions of the per-tile transfer words (`transfer_words`)."""
    return {("DRAM", "read"): float(traffic["dram_rd"].sum()),
            ("DRAM", "write"): float(traffic["wb_dram"].sum()),
            ("GLB", "write"): float(traffic["glb_wr"].sum() + traffic["out_words"].sum()),
            ("GLB", "read"): float(traffic["glb_rd"].sum() + traffic["wb_glb"].sum()),
            ("L1", "write"): float(traffic["l1_wr"].sum())}


def transfer_words(bpa: dict, l1_spike_bits, l1_weight_bits, out_bits, glb_spike_bits, glb_weight_bits,
                   writeback_bits) -> dict[str, np.ndarray]:
    """Per-tile words each transfer moves: every transfer is a whole number of port words."""
    return {"l1_wr": words(l1_spike_bits, bpa["L1"]) + words(l1_weight_bits, bpa["L1"]),
            "glb_rd": words(l1_spike_bits, bpa["GLB"]) + words(l1_weight_bits, bpa["GLB"]),
            "out_words": words(out_bits, bpa["GLB"]),
            "dram_rd": words(glb_spike_bits, bpa["DRAM"]) + words(glb_weight_bits, bpa["DRAM"]),
            "glb_wr": words(glb_spike_bits, bpa["GLB"]) + words(glb_weight_bits, bpa["GLB"]),
            "wb_glb": words(writeback_bits, bpa["GLB"]), "wb_dram": words(writeback_bits, bpa["DRAM"])}


def count_actions(layer: Layer, nest: SimNest, arch: SpikeXArch, tiles, order: dict,
             traffic: dict) -> dict[tuple[str, str], float]:
    m_tiles = layer.M // nest.rows
    vmemcount_actions = arch.vmem_bits / arch.bits_per_action["Vmem"]
    accum = float(tiles.accumulations.sum()) * layer.M
    membrane = float(tiles.mem.sum()) * layer.M
    return {
        **transfer_actions(traffic),
        ("L1", "read"): float(tiles.feed.sum()) * m_tiles,
        ("WReg", "write"): float(tiles.loaded.sum()) * layer.M,
        ("WReg", "read"): accum,
        ("Accumulator", "compute"): accum,
        ("Vmem", "read"): (accum + membrane) * vmemcount_actions,
        ("Vmem", "write"): (accum + membrane) * vmemcount_actions,
        ("Comparator", "compare"): membrane,
        ("PEController", "dispatch"): float(layer.M * layer.P * layer.Q * (layer.T // nest.tws)),
        ("TagLogic", "check"): tiles.tag_checks,
        ("TagLogic", "update"): float(len(order["spk"]) * tiles.tag_updates_per_tile),
    }


def port_counts(arch: SpikeXArch, level: str) -> np.ndarray:
    """[read, write, shared read/write] ports of an SRAM level, from the spec."""
    spec = arch.extras.ports.get(level)
    return np.array([spec.read, spec.write, spec.read_write] if spec else [1, 1, 0], dtype=np.int64)


def dram_cycles_per_word(arch: SpikeXArch) -> float:
    """Clock cycles one DRAM word takes at the spec's bandwidth."""
    return arch.bits_per_action["DRAM"] / 8 / arch.extras.dram_bytes_per_s * arch.clock_hz


def cycle_horizon(units, work_index: np.ndarray, mem_index: np.ndarray, traffic: dict, dram_cycles: float,
                  rows: int) -> int:
    """Cycles that bound a run with nothing overlapped (sizes the port calendars): every unit's
    slowest column, feed and membrane steps, every transfer word, and per-unit fill/drain."""
    cols = units.work.shape[2]
    per_unit = (units.work.max(axis=2) + units.feed + cols) * units.issued
    return int(per_unit.sum(axis=1)[work_index].sum() + units.mem.sum(axis=1)[mem_index].sum()
               + sum(int(v.sum()) for v in traffic.values()) * (1 + dram_cycles)
               + len(work_index) * (rows + cols + 2) + 64)


def run_cycles(layer: Layer, nest: SimNest, arch: SpikeXArch, tiles, order: dict,
               traffic: dict) -> tuple[float, dict[str, float]]:
    dram_cycles = dram_cycles_per_word(arch)
    horizon = cycle_horizon(tiles, order["spk"], order["out"], traffic, dram_cycles, nest.rows)
    while True:
        cycles, acc, mem, wait = run_tiles(
            order["spk"], order["out"], order["last_c"], order["chain"], order["glb"], traffic["l1_wr"],
            traffic["glb_rd"], traffic["out_words"], tiles.work, tiles.issued, tiles.feed, tiles.mem,
            traffic["dram_rd"], traffic["glb_wr"], traffic["wb_glb"], traffic["wb_dram"], dram_cycles,
            nest.rows, tiles.chain_start, port_counts(arch, "GLB"), port_counts(arch, "L1"), horizon)
        if cycles != OVERFLOW:
            return cycles, {"accumulate": acc, "membrane": mem, "fill_wait": wait}
        horizon *= 2
