"""The SpikeX sparse cost model: dense counts of a mapping, thinned where SpikeX skips work.

Skipping (see ../../shared/spikex-paper.md and docs in README):
- zero spikes: accumulations, weight-register reads and Vmem read-modify-writes happen per
  input spike only;
- zero time windows: a PE loads a weight for an (input line, window) pair only if the
  window holds a spike; a row's weight and the words holding the step's spike bits leave
  L1 only if some column needs them;
- zero time blocks / weight tailoring: spike tiles move between buffers per active SP-MB
  (channel x time block) and weight kernels of inactive SP-MBs are not fetched;
- the membrane update runs TWS steps per window whose receptive field fired, one decay
  step otherwise.
With every skip disabled, or density 1, the counts equal `dense.dense_actions` with its
`innermost_reuse` rule (partial sums stay in Vmem; the GLB keeps a tile across the innermost
DRAM loops that do not index it), plus the partial words of the whole-word transfers (each
L1 fill, each GLB tile's DRAM fills and write-back, each output tile into the GLB).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field

import numpy as np

from spikex_plugin.cost_model.column_line import LineUnits, issued_step_cycles
from spikex_plugin.cost_model.dense import LevelWidths, dense_actions, steps_per_fill
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.sparsity.binomial import binomial_log_pmf, binomial_pmf, log_factorial
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.workload.network import Layer


@dataclass
class LayerCost:
    name: str
    mapping: SpikeXMapping | None
    actions: dict[tuple[str, str], float]          # (component, action) -> count
    energy_j: float
    cycles: float
    clock_hz: float
    breakdown_j: dict[str, float] = field(default_factory=dict)
    cycle_parts: dict[str, float] = field(default_factory=dict)
    bound: str = ""   # the resource that sets the cycles: array, dram, glb_port or l1_port

    @property
    def latency_s(self) -> float:
        return self.cycles / self.clock_hz

    @property
    def edp_js(self) -> float:
        return self.energy_j * self.latency_s


def widths_of(arch: SpikeXArch) -> LevelWidths:
    return LevelWidths(arch.bits_per_action, arch.weight_bits, arch.vmem_bits)


def expected_max(pmf: np.ndarray, n: int) -> float:
    """E[max of n iid draws] of a count distribution, with empty draws counting 0."""
    cdf = np.cumsum(pmf)
    return float(np.sum(1 - np.clip(cdf[:-1], 0, 1) ** n))


def step_active(layer: Layer, m: SpikeXMapping, d: DensityModel) -> float | np.ndarray:
    """P(some column of a row needs the current weight): in temporal mode the columns are the
    consecutive windows of one line (its time-block occupancy, which keeps burstiness), a
    padding tap never; in spatial mode they are `cols` neighbouring pixels of one channel
    and row in one window (recorded row co-activity when the statistics have it), the real
    ones of them (`real_pixel_shares`). Mapping fields may be arrays."""
    if m.mode == "temporal":
        return d.p_nonempty(1, m.tb) * layer.valid_tap_fraction
    cols = np.asarray(m.cols)
    if not cols.ndim:
        return row_active(layer, int(cols), m.tws, d)
    active = np.zeros(np.broadcast(cols, np.asarray(m.tws)).shape)
    for c in np.unique(cols).tolist():
        active = np.where(cols == c, row_active(layer, c, m.tws, d), active)
    return active


def row_active(layer: Layer, cols: int, tws: int | np.ndarray, d: DensityModel) -> float | np.ndarray:
    """P(a spatial step of `cols` columns is issued): some of its real pixels fire. A step
    whose row is padding reads no real pixel, one at the frame's edge fewer than `cols`
    (the tap share `valid_tap_fraction` counted 4 % too few issued steps of a 3x3 conv with
    a 16-wide frame: a padding tap silences one column, not the step)."""
    return sum(share * d.p_row_nonempty(n, tws) for n, share in real_pixel_shares(layer, cols))


@functools.lru_cache(maxsize=256)
def real_pixel_shares(layer: Layer, cols: int) -> tuple[tuple[int, float], ...]:
    """((n, share of spatial steps whose `cols` pixels hold n real ones), n >= 1): a step
    is an output row p, a block of `cols` output columns and a tap (r, s); column j reads
    input (p stride + r, (q0 + j) stride + s), padding outside [padding, extent - padding)."""
    def real(o: int, k: int, extent: int) -> bool:
        return layer.padding <= o * layer.stride + k < extent - layer.padding

    rows = np.mean([real(p, r, layer.H) for p in range(layer.P) for r in range(layer.R)])
    counts = [sum(real(q0 + j, s, layer.W) for j in range(cols))
              for q0 in range(0, layer.Q, cols) for s in range(layer.S)]
    n, times = np.unique(counts, return_counts=True)
    return tuple((int(k), float(rows * t / len(counts))) for k, t in zip(n, times) if k > 0)


def sparse_factors(layer: Layer, m: SpikeXMapping, arch: SpikeXArch, d: DensityModel,
                   out: DensityModel | None = None) -> dict[str, float]:
    """Fraction of each dense action class that SpikeX still performs."""
    sk = arch.extras.skipping
    valid = layer.valid_tap_fraction  # taps that land on padding never see a spike
    rate = d.rate * valid if sk.zero_spikes else 1.0
    window = d.p_nonempty(1, m.tws) * valid if sk.zero_windows else 1.0
    row_weight = step_active(layer, m, d) if sk.zero_windows else 1.0
    # SP-MB granularity: one input channel (conv) or `fc_tag_group` lines (FC).
    group = tag_group(layer, arch, layer.C)
    # A weight tile fetched once serves every time step it stays for (the GLB keeps it across
    # the DRAM time loops the loop order lets it): a kernel is fetched if its SP-MB fired
    # anywhere in that span. The first GLB tile needs only those of its own time block.
    def tailored(steps):
        return d.p_channels_nonempty(group, steps) if sk.weight_tailoring else 1.0

    l1_block = tailored(steps_per_fill(layer, m, "L1", "Wt"))
    glb_block = tailored(steps_per_fill(layer, m, "GLB", "Wt"))
    glb_first_block = tailored(m.tb_glb)
    sin_l1 = d.p_channels_nonempty(group, m.tb) if sk.zero_blocks else 1.0
    sin_glb = d.p_channels_nonempty(group, m.tb_glb) if sk.zero_blocks else 1.0
    # Output SP-MBs (output channel, FC: tag group of outputs) leave per active block: from
    # the output's own statistics when given, else the input's occupancy stands in.
    out_group = tag_group(layer, arch, layer.M)
    sout_glb = sin_glb if out is None else out.p_channels_nonempty(out_group, m.tb_glb) if sk.zero_blocks else 1.0
    fan_in = layer.C * layer.R * layer.S * valid
    rf_active = d.p_field_nonempty(fan_in, m.tws) if sk.zero_windows else 1.0
    return {"rate": rate, "window": window, "row_weight": row_weight, "l1_block": l1_block,
            "glb_block": glb_block, "glb_first_block": glb_first_block, "sin_l1": sin_l1, "sin_glb": sin_glb,
            "sout_glb": sout_glb, "rf_active": rf_active,
            "prev_issued": previous_step_issued(m, d, row_weight) if sk.zero_windows else 1.0}


def previous_step_issued(m: SpikeXMapping, d: DensityModel, row_weight):
    """P(the step before an issued step was issued too). Temporal: other lines, taken as
    independent (the step's own probability). Spatial: the next tap of the same row shares
    all but one of its `cols` pixels, each active with probability p: 1 - p(1-p)^cols /
    P(issued)."""
    if m.mode == "temporal":
        return row_weight
    p = d.p_nonempty(1, m.tws)
    issued = 1 - (1 - p) ** m.cols
    return np.where(issued > 0, 1 - p * (1 - p) ** m.cols / np.maximum(issued, 1e-300), 0.0)


_DENSE_SCALE = {  # (component, tensor, action) -> factor name
    ("Accumulator", "None", "compute"): "rate",
    ("WReg", "Wt", "read"): "rate",
    ("WReg", "Wt", "write"): "window",
    ("L1", "Wt", "read"): "row_weight",
    ("L1", "Wt", "write"): "l1_block",
    ("GLB", "Wt", "read"): "l1_block",
    ("GLB", "Wt", "write"): "glb_block",
    ("DRAM", "Wt", "read"): "glb_block",
    # The feeder reads the words holding an issued step's spike bits: a port word carries
    # many windows, so a silent window inside it is read too.
    ("L1", "Sin", "read"): "row_weight",
    ("L1", "Sin", "write"): "sin_l1",
    ("GLB", "Sin", "read"): "sin_l1",
    ("GLB", "Sin", "write"): "sin_glb",
    ("DRAM", "Sin", "read"): "sin_glb",
    # Output spikes leave the array per active block (tag-gated), like input blocks.
    ("GLB", "Sout", "write"): "sout_glb",
    ("GLB", "Sout", "read"): "sout_glb",
    ("DRAM", "Sout", "write"): "sout_glb",
}
# Counts that move with an inference's active SP-MBs: the block-gated transfers, and the
# feeder's L1 reads (a step is issued only in an active SP-MB). With only the transfers, the
# L1 port's fixed share (reads / all actions) grew as writes fell, so fewer spikes could
# cost more cycles.
_BLOCK_FACTORS = ("l1_block", "glb_block", "sin_l1", "sin_glb", "sout_glb", "row_weight")


def evaluate_layer(layer: Layer, m: SpikeXMapping, arch: SpikeXArch, d: DensityModel,
                   out: DensityModel | None = None) -> LayerCost:
    """Energy, cycles and per-action counts of one weighted layer under one mapping; `out`,
    the statistics of the layer's output spikes (the next layer's input), sets how many
    output blocks leave the array (default: the input's occupancy stands in)."""
    widths = widths_of(arch)
    dense = dense_actions(layer, m, widths, innermost_reuse=True)
    f = sparse_factors(layer, m, arch, d, out)
    excess = partial_word_excess(layer, m, arch, f)
    for action, extra in glb_word_excess(layer, m, arch, d, f, dense, out).items():
        excess[action] = excess.get(action, 0.0) + extra
    actions, block_driven = sparse_action_counts(layer, m, arch, f, dense, excess)
    cycles, parts = layer_cycles(layer, m, arch, d, actions, f, block_driven)
    return priced(layer.name, m, arch, actions, cycles, parts, bound_of(parts))


def tag_group(layer: Layer, arch: SpikeXArch, lines: int) -> int:
    """Lines per SP-MB: one input channel (conv) or `fc_tag_group` of the FC layer's `lines`."""
    return 1 if layer.type != "fc" else min(arch.extras.fc_tag_group, lines)


def sparse_action_counts(layer: Layer, m, arch: SpikeXArch, f: dict, dense: dict,
                         excess: dict) -> tuple[dict[tuple[str, str], float], dict[str, float]]:
    """(counts by action, per component the counts that move with active SP-MBs): the dense
    counts thinned by the skipping factors `f`, the whole-word `excess` of the transfers, and
    SpikeX's own actions. Mapping fields may be scalars or arrays (the vectorised mapspace)."""
    widths = widths_of(arch)
    computes = float(layer.dense_synops)
    actions: dict = {}
    block_driven: dict = {}

    def add(comp: str, action: str, count) -> None:
        actions[(comp, action)] = actions.get((comp, action), 0.0) + count

    for (comp, tensor, action), count in dense.items():
        factor = _DENSE_SCALE.get((comp, tensor, action), "")
        if (comp, tensor) == ("Vmem", "Sout"):  # operand read-modify-writes thin with the spikes
            count = count - computes + computes * f["rate"]
        else:
            count = count * f.get(factor, 1.0)
        if factor in _BLOCK_FACTORS:
            block_driven[comp] = block_driven.get(comp, 0.0) + count
        add(comp, action, count)
    # The feeder reads whole words of L1's packed layout per issued step, keeping the last
    # word of each region (AccelForge counts bits / width).
    steps = layer.T * layer.M * layer.P * layer.Q * layer.C * layer.R * layer.S / (m.rows * m.cols * m.tws)
    dense_words = (dense.get(("L1", "Sin", "read"), 0.0) + dense.get(("L1", "Wt", "read"), 0.0)) / steps
    feeder_excess = steps * f["row_weight"] * (feeder_words(layer, m, arch, f["prev_issued"]) - dense_words)
    add("L1", "read", feeder_excess)
    block_driven["L1"] = block_driven.get("L1", 0.0) + feeder_excess
    # Each L1 tile's fill is its own transfer of whole words (AccelForge counts bits / width).
    for (comp, action), extra in excess.items():
        add(comp, action, extra)
        block_driven[comp] = block_driven.get(comp, 0.0) + extra
    # SpikeX-only actions (no AccelForge counterpart).
    neurons_windows = layer.output_neurons * np.ceil(layer.T / m.tws)
    updates = neurons_windows * (m.tws * f["rf_active"] + (1 - f["rf_active"]))
    add("Comparator", "compare", updates)
    add("Vmem", "read", updates * arch.vmem_bits / widths.bits_per_action["Vmem"])
    add("Vmem", "write", updates * arch.vmem_bits / widths.bits_per_action["Vmem"])
    add("PEController", "dispatch", neurons_windows)
    # Window tags are checked only for weight steps of SP-MBs that reached L1.
    add("TagLogic", "check", dense[("WReg", "Wt", "write")] * np.minimum(f["l1_block"], f["sin_l1"]))
    group = tag_group(layer, arch, layer.C)
    add("TagLogic", "update", l1_tile_count(layer, m) * np.ceil(m.c_l1 / group))  # one tag per SP-MB per L1 tile
    return actions, block_driven


def feeder_words(layer: Layer, m, arch: SpikeXArch, prev_issued):
    """L1 words the feeder reads per issued step (`feeder_words_per_step`), for a mapping or
    arrays of mappings (`m` fields and `prev_issued` broadcast together)."""
    fields = np.broadcast_arrays(*(np.asarray(v) for v in (m.tws, m.rows, m.cols, m.c_l1, prev_issued)))
    keys = np.stack([v.astype(np.float64).ravel() for v in fields], axis=1)
    distinct, where = np.unique(keys, axis=0, return_inverse=True)
    values = np.array([feeder_words_per_step(layer, m.mode, int(t), int(r), int(c), int(k), round(float(q), 6),
                                             arch.bits_per_action["L1"], arch.weight_bits)
                       for t, r, c, k, q in distinct.tolist()])[where.ravel()]
    return values if fields[0].ndim else float(values[0])


@functools.lru_cache(maxsize=4096)
def feeder_words_per_step(layer: Layer, mode: str, tws: int, rows: int, cols: int, c_l1: int, prev_issued: float,
                          width: int, weight_bits: int) -> float:
    """Mean L1 words per issued step of one L1 tile. L1 packs the tile's channels in order,
    weights as [c][r][s][row] and spikes as [c][r][pixel][time block]; a step (c, r, s) reads
    the words holding its rows' weights and its columns' spike bits (temporal: one pixel's
    block of cols * tws bits; spatial: cols pixels, stride apart, of tws bits each). The
    feeder keeps the last word it read of each region, so a step whose first word is that
    word reads one word less; the last issued step is j steps back with probability
    q (1 - q)^(j - 1), q = `prev_issued`, and nothing is held at a tile's first step."""
    stride, R, S = layer.stride, layer.R, layer.S
    temporal = mode == "temporal"
    tb = cols * tws if temporal else tws
    w_l1 = S if temporal else (cols - 1) * stride + S
    k, r, s = (a.ravel() for a in np.meshgrid(np.arange(c_l1), np.arange(R), np.arange(S), indexing="ij"))
    row_bits = rows * weight_bits
    line_bits = tb if temporal else ((cols - 1) * stride + 1) * tws
    reads = 0.0
    for first_bit, bits in ((((k * R + r) * S + s) * row_bits, row_bits), (((k * R + r) * w_l1 + s) * tb, line_bits)):
        first, last = first_bit // width, (first_bit + bits - 1) // width
        reads += float(np.sum(last - first + 1))
        for j in range(1, first.size):
            if np.all(last[:-j] < first[j:]):
                break   # the layout only moves forward: no earlier word is held either
            reads -= prev_issued * (1 - prev_issued) ** (j - 1) * float(np.sum(last[:-j] == first[j:]))
    return reads / first.size


def partial_word_excess(layer: Layer, m: SpikeXMapping, arch: SpikeXArch, f: dict) -> dict[tuple[str, str], float]:
    """Accesses that whole-word transfers add to the fractional count of the GLB -> L1 fills:
    an L1 tile moves the spike bits and the weight kernels of its k active SP-MBs, each a
    transfer of ceil(bits / width) words. k is binomial over the tile's SP-MBs (an FC SP-MB
    is `fc_tag_group` lines; a tile with fewer lines moves all of them or none)."""
    group = tag_group(layer, arch, layer.C)
    sp_mbs, lines_per = (m.c_l1 // group, group) if m.c_l1 >= group else (1, m.c_l1)
    w_l1 = (m.q_cols - 1) * layer.stride + layer.S
    units = {"sin_l1": m.tb * layer.R * w_l1 * lines_per,
             "l1_block": m.rows * layer.R * layer.S * arch.weight_bits * lines_per}
    tiles = l1_tile_count(layer, m)
    excess: dict[tuple[str, str], float] = {}
    for factor, bits in units.items():
        k = np.arange(sp_mbs + 1)
        pmf = binomial_pmf(sp_mbs, f[factor])
        for comp, action in (("L1", "write"), ("GLB", "read")):
            width = arch.bits_per_action[comp]
            extra = float(np.sum(pmf * (np.ceil(k * bits / width) - k * bits / width))) * tiles
            excess[(comp, action)] = excess.get((comp, action), 0.0) + extra
    return excess


def glb_word_excess(layer: Layer, m: SpikeXMapping, arch: SpikeXArch, d: DensityModel, f: dict, dense: dict,
                    out: DensityModel | None = None) -> dict[tuple[str, str], float]:
    """Accesses that whole-word transfers add to the fractional counts at the GLB: per GLB
    tile each tensor moves in one transfer of ceil(bits / width) words to or from DRAM, and
    an output L1 tile's spikes in one into the GLB. A spike fill moves the tile's active
    input SP-MBs and a write-back or output tile its active output SP-MBs; a weight tile
    stays for `steps_per_fill` steps and is fetched lazily, one transfer per GLB time block
    of that span (`weight_fetch_shares`). How many SP-MBs a transfer moves: `active_sp_mbs_pmf`."""
    excess: dict[tuple[str, str], float] = {}
    for actions, transfers, sp_mbs, bits, activity in glb_transfers(layer, m, arch, d, f, dense, out):
        if all(bits % arch.bits_per_action[comp] == 0 for comp, _ in actions):
            continue   # whole words whatever moves
        if activity is None:
            activity = weight_fetch_shares(layer, arch, d, m.tb_glb, steps_per_fill(layer, m, "GLB", "Wt"))
        else:
            activity = ((float(activity[0]), float(activity[1])),)
        for comp, action in actions:
            extra = transfers * expected_partial_words(int(sp_mbs), activity, float(bits), arch.bits_per_action[comp])
            excess[(comp, action)] = excess.get((comp, action), 0.0) + extra
    return excess


def glb_transfers(layer: Layer, m, arch: SpikeXArch, d: DensityModel, f: dict, dense: dict,
                  out: DensityModel | None) -> list[tuple]:
    """Per tensor its transfers through the GLB: ((source, destination) actions, transfers,
    SP-MBs a transfer may move, bits per SP-MB, (P(one is active), P(some is active))).
    Spike fills and output write-backs: one per GLB tile that moves them (the dense count
    over the tile's words). Weights: one stay per fill, its activity left to
    `weight_fetch_shares` (None). Output spikes into the GLB: one per output L1 tile.
    Mapping fields may be arrays."""
    sk, dram = arch.extras.skipping, arch.bits_per_action["DRAM"]
    group, out_group = tag_group(layer, arch, layer.C), tag_group(layer, arch, layer.M)
    sp_in = math.ceil(layer.C / group)
    sp_out = np.maximum(m.m_glb // out_group, 1)
    spike_bits = m.tb_glb * layer.C / sp_in * ((m.p_glb - 1) * layer.stride + layer.R) * layer.W
    weight_bits = m.m_glb * layer.C / sp_in * layer.R * layer.S * arch.weight_bits
    out_bits = m.m_glb / sp_out * m.p_glb * layer.Q * m.tb_glb
    # Some SP-MB of the tile is active: the recorded occupancy of all of them together keeps
    # how they fire together (channels of one blob). Without output statistics the input's
    # occupancy stands in for one output SP-MB (`sout_glb`), the others taken as independent.
    spikes_any = d.p_channels_nonempty(layer.C, m.tb_glb) if sk.zero_blocks else 1.0
    outputs_any = (1 - (1 - f["sout_glb"]) ** sp_out if out is None or not sk.zero_blocks
                   else out.p_channels_nonempty(np.maximum(m.m_glb, out_group), m.tb_glb))
    # An output L1 tile's finished spikes enter the GLB in one transfer too.
    sp_rows = np.maximum(m.rows // out_group, 1)
    rows_any = (1 - (1 - f["sout_glb"]) ** sp_rows if out is None or not sk.zero_blocks
                else out.p_channels_nonempty(np.maximum(m.rows, out_group), m.tb_glb))
    out_tiles = layer.T / m.tb * layer.M / m.rows * layer.P * layer.Q / m.q_cols
    return [((("DRAM", "read"), ("GLB", "write")), dense[("DRAM", "Sin", "read")] * dram / (spike_bits * sp_in),
             sp_in, spike_bits, (f["sin_glb"], spikes_any)),
            ((("DRAM", "read"), ("GLB", "write")), dense[("DRAM", "Wt", "read")] * dram / (weight_bits * sp_in),
             sp_in, weight_bits, None),
            ((("GLB", "read"), ("DRAM", "write")), dense[("DRAM", "Sout", "write")] * dram / (out_bits * sp_out),
             sp_out, out_bits, (f["sout_glb"], outputs_any)),
            ((("GLB", "write"),), out_tiles, sp_rows, m.rows / sp_rows * m.cols * m.tws, (f["sout_glb"], rows_any))]


def weight_fetch_shares(layer: Layer, arch: SpikeXArch, d: DensityModel, tb_glb: int,
                        span: int) -> tuple[tuple[float, float], ...]:
    """Per transfer j of a weight tile's stay of `span` steps, (P(an SP-MB's kernels come
    with it), P(some do)): an SP-MB's kernels come when it first fires in the j-th GLB time
    block of the span (the GLB keeps what it fetched). Without weight tailoring every
    kernel comes with the first."""
    if not arch.extras.skipping.weight_tailoring:
        return ((1.0, 1.0),)
    steps = [j * tb_glb for j in range(1, span // tb_glb + 1)]
    first = [np.maximum(np.diff([0.0] + [d.p_channels_nonempty(channels, t) for t in steps]), 0.0).tolist()
             for channels in (tag_group(layer, arch, layer.C), layer.C)]
    return tuple(zip(*first))


@functools.lru_cache(maxsize=4096)
def expected_partial_words(sp_mbs: int, activity: tuple[tuple[float, float], ...], bits: float,
                           width: float) -> float:
    """Mean words that transfers of whole words waste in their last word, summed over the
    transfers: transfer j moves k units of `bits` (k as `active_sp_mbs_pmf` with activity[j])
    in ceil(k bits / width) words."""
    if bits % width == 0:
        return 0.0
    k = np.arange(1, sp_mbs + 1)
    waste = np.ceil(k * bits / width) - k * bits / width
    p, p_any = np.array(activity, dtype=np.float64).reshape(-1, 2).T
    return float(np.sum(active_sp_mbs_pmf(sp_mbs, p, p_any) @ waste))


def active_sp_mbs_pmf(n: int, p: np.ndarray, p_any: np.ndarray) -> np.ndarray:
    """P(k of a tile's n SP-MBs are active), k = 1..n ([len(p), n]): each is active with
    probability p, some with p_any (which keeps how they fire together): a zero-truncated
    Binomial(n, q) with the mean n p / p_any, weighted p_any. For independent SP-MBs
    (p_any = 1 - (1 - p)^n) that is Binomial(n, p)."""
    p_any = np.clip(p_any, p, np.minimum(n * p, 1.0))   # P(one) <= P(some) <= n P(one)
    means, grid = truncated_binomial_means(n)
    q = np.interp(n * p / np.maximum(p_any, 1e-300), means, grid)[:, None]
    log_choose, k = binomial_log_choose(n), np.arange(1, n + 1)
    log_pmf = log_choose + k * np.log(q) + (n - k) * np.log1p(-q) - np.log(-np.expm1(n * np.log1p(-q)))
    return p_any[:, None] * np.exp(log_pmf)


@functools.lru_cache(maxsize=256)
def truncated_binomial_means(n: int) -> tuple[np.ndarray, np.ndarray]:
    """(mean, q) of the zero-truncated Binomial(n, q) on a fine log grid of q (the mean
    rises with q from 1 to n), to find q from a mean by interpolation."""
    q = np.minimum(np.logspace(-16, 0, 4097), 1 - 1e-15)
    return n * q / -np.expm1(n * np.log1p(-q)), q


@functools.lru_cache(maxsize=256)
def binomial_log_choose(n: int) -> np.ndarray:
    """log C(n, k) for k = 1..n."""
    k = np.arange(1, n + 1)
    return log_factorial(n) - log_factorial(k) - log_factorial(n - k)


def bound_of(parts: dict[str, float]) -> str:
    """The resource with the largest mean load (the others overlap with it)."""
    return max(("array", "dram", "glb_port", "l1_port"), key=lambda k: parts.get(k, 0.0))


def priced(name: str, m, arch: SpikeXArch, actions: dict, cycles: float, parts: dict, bound: str) -> LayerCost:
    """A LayerCost: energy of the actions at the spec's prices plus leakage over the latency."""
    breakdown = arch.energy_breakdown(actions, cycles)
    return LayerCost(name, m, actions, sum(breakdown.values()), cycles, arch.clock_hz, breakdown, parts, bound)


def temporal_line_units(d: DensityModel, cols: int, tws: int, layer: Layer) -> LineUnits | None:
    """How busy one line is over a temporal step's `cols` windows, where recorded
    (`line_window_count_pmf`): in how many of the step's 32 units (single steps for
    steps of 32 steps or fewer) it is active, and the mean spikes of an active unit; how
    much a unit's activity shared by the layer's receptive field varies
    (`shared_window_cv`) and carries over to the next unit (the recorded tiles' next-window
    correlation); how alike neighbouring lines are (`neighbour_correlation`); the share of lines
    whose spikes form one run (`clumped_share` at the window); and, for units of several
    steps, the lines' spikes in 32-step blocks (how their rates differ)."""
    block = cols * tws
    unit = max(1, block // 32)
    pmf = d.line_window_count_pmf(block // unit, unit) if block % unit == 0 and block >= 2 else None
    if pmf is None:
        return None
    occupancy = d.p_nonempty(1, unit)
    spikes = unit * d.rate / occupancy if occupancy > 0 else 1.0
    field = layer.C * layer.R * layer.S * layer.valid_tap_fraction
    correlation = min(max(d.tile_correlations(layer.C, unit)[1], 0.0), 1.0)
    widest = d.line_window_count_pmf(32, 1) if unit > 1 else None
    return LineUnits(tuple(np.round(pmf, 9)), round(max(spikes, 1.0), 6),
                     round(shared_window_cv(d, field, layer.C, unit), 6), round(correlation, 6), round(float(d.rate), 9),
                     round(neighbour_correlation(d, layer, unit, tws), 6), round(d.clumped_share(tws), 6),
                     tuple(np.round(widest, 9)) if widest is not None else None)


def neighbour_correlation(d: DensityModel, layer: Layer, unit: int, tws: int) -> float:
    """How alike consecutive lines of a temporal step run are: the correlation of two
    neighbouring lines' active indicators in a unit (`pair_correlation`), or, for an FC
    layer whose recorded next line's spike counts in a window of `tws` steps are more alike
    (`pixel_count_correlations`), that: near saturation every line is active in a unit and
    only the counts tell a blob's lines from the rest (local blobs at rate 0.5: consecutive
    lines' counts correlate 0.65 at TWS 8 while their unit indicators do 0.16)."""
    indicators = pair_correlation(d, unit)
    if layer.type != "fc":
        return indicators
    return max(indicators, min(d.pixel_count_correlations(tws)[1], 1.0))


def pair_correlation(d: DensityModel, tws: int) -> float:
    """Correlation of two neighbouring lines' (pixels of a row: `p_row_nonempty`) active
    indicators in a window of `tws` steps, at least 0."""
    p = d.p_nonempty(1, tws)
    if not 0 < p < 1:
        return 0.0
    return min(max((p - (d.p_row_nonempty(2, tws) - p) - p * p) / (p * (1 - p)), 0.0), 1.0)


def shared_window_cv(d: DensityModel, lines: float, channels: int, tws: int) -> float:
    """Coefficient of variation of the activity a field's `lines` share in a window of `tws`
    steps (a power of two): the variance of the field's active lines in one step beyond
    that of independent lines (binomial), over the squared mean, carried to windows of 2w
    steps as two of w correlated as the recorded consecutive windows of `channels`
    channels: Var(2w) = 2 Var(w) (1 + rho_w); the mean of tws steps takes Var / tws^2."""
    pmf = d.active_lines_pmf(lines, 1)
    n = pmf.size - 1
    k = np.arange(n + 1)
    mean = float(pmf @ k)
    if n == 0 or mean <= 0:
        return 0.0
    shared = max(float(pmf @ k ** 2) - mean ** 2 - mean * (1 - mean / n), 0.0) / mean ** 2
    w = 1
    while w < tws:
        shared *= (1 + min(max(d.tile_correlations(channels, w)[1], 0.0), 1.0)) / 2
        w *= 2
    return math.sqrt(shared)


def layer_cycles(layer: Layer, m: SpikeXMapping, arch: SpikeXArch, d: DensityModel,
                 actions: dict, f: dict, block_driven: dict[str, float]) -> tuple[float, dict[str, float]]:
    """Cycles: array work (issued weight steps through the column line, each column's membrane
    steps, the temporal window chain; fill/drain once), overlapped (double buffering) with
    each buffer's port and the DRAM bandwidth, the slowest of these per inference averaged
    over how many SP-MBs an inference wakes, all after the transfers before the first tile
    (which the array's decay steps of silent tiles overlap: `overlap_tiles`); plus the
    transfers after the last tile."""
    steps = layer.T * layer.M * layer.P * layer.Q * layer.C * layer.R * layer.S / (m.rows * m.cols * m.tws)
    skips_steps = arch.extras.skipping.zero_spikes and arch.extras.skipping.zero_windows
    if skips_steps:
        # Cycles per issued step of the column line, scaled to the measured probability that
        # the step is issued.
        issued = steps * f["row_weight"]
        feed = actions.get(("L1", "read"), 0.0) / issued if issued else 0.0   # L1 words per issued step
        # Temporal mode: a tile's steps are the lines of one receptive field over the same
        # windows, so co-active lines load the same columns together. Spatial mode: a row's
        # pixels slide one column per kernel tap (`sliding_row_work`).
        coactive = (tuple(np.round(d.active_lines_pmf(layer.C * layer.R * layer.S * layer.valid_tap_fraction, m.tws), 9))
                    if m.mode == "temporal" else None)
        # A spatial step's columns read different lines; a temporal step's, one line's windows.
        window_pmf = tuple(np.round(d.window_count_pmf(m.tws, m.mode != "temporal"), 9))
        line_units = temporal_line_units(d, m.cols, m.tws, layer) if m.mode == "temporal" else None
        per_step = issued_step_cycles(window_pmf, m.cols, float(feed), coactive=coactive, line_units=line_units,
                                      **spatial_row(layer, m.mode, m.cols, m.tws, d)) * f["row_weight"]
    else:
        per_step = float(m.tws)
    compute = steps * per_step
    # Membrane: tws steps per window with input, one decay step otherwise. Per output tile a
    # column walks its own window(s) after its accumulation; in temporal mode the windows of
    # a neuron also chain from column to column (and from one time block to the next), so a
    # tile takes `chain_windows` windows' decay steps. A PE takes the next tile's weight
    # only once its membrane is done, and with one weight register per PE the next tile's
    # weights cannot pass the last column before its chain ends: the chain adds to the
    # tile's accumulation (temporal), as each column's own window does (spatial).
    out_tiles = layer.T / m.tb * layer.M / m.rows * layer.P * layer.Q / m.q_cols
    windows = out_tiles * chain_windows(m)  # per row, in sequence
    rf = f["rf_active"] if m.mode == "temporal" else 1 - (1 - f["rf_active"]) ** m.cols
    per_window = m.tws * rf + (1 - rf)
    membrane = out_tiles * per_window
    # A window with input holds its column tws - 1 steps longer, and the columns after it
    # (and the next tiles' columns behind them) wait: every window's extra steps add up.
    chain = windows + out_tiles * m.cols * (per_window - 1) if m.mode == "temporal" else 0.0
    fill = m.rows + m.cols - 1
    array = (compute + chain if m.mode == "temporal" else compute + membrane) + fill
    loads = port_loads(actions, arch)
    # A fill streams GLB words into L1 one cycle behind: one cycle of latency per L1 tile
    # that moves anything (the next fill waits for its half of the double buffer).
    group = tag_group(layer, arch, layer.C)
    fill_latency = l1_tile_count(layer, m) * d.p_channels_nonempty(max(m.c_l1, group), m.tb)
    levels = {"dram": "DRAM", "glb_port": "GLB", "l1_port": "L1"}
    # The block-driven share of each level's actions moves its port load in proportion.
    varying = {name: loads[name] * block_driven.get(level, 0.0) / max(level_actions(actions, level), 1e-300)
               for name, level in levels.items()}
    sp_mbs = round(layer.C / group * layer.T / m.tb)  # SP-MBs of one inference at L1
    # The array's spike-driven part (accumulations, membrane steps beyond one per window)
    # rises and falls with the same activity.
    loads["array"], varying["array"] = array, compute + (chain - windows if m.mode == "temporal" else membrane - out_tiles)
    # The exposed transfers run before or after everything else, overlapped by nothing but
    # the array's decay steps (`overlap_tiles`).
    exposed = exposed_transfers(layer, m, arch, f)
    overlapped = {**loads, "glb_port": overlapped_glb_port(actions, arch, exposed) + fill_latency,
                  "dram": max(loads["dram"] - exposed["dram"], 0.0)}
    # The feeder reads a tile's issued steps out of its L1 half; the next fill into the
    # other half overlaps that (membrane steps follow the feeder and overlap the fills, but an
    # output tile's membrane holds the next tile's feeder and so the fill after it:
    # `held_tile_work`).
    # The first active tile's fill and the last one's membrane overlap nothing: each adds
    # to the load the other one overlaps (`sequential_ends`), the fill less the decay steps
    # before it (the array's activity-free cycles but its pipeline fill, which ends the layer).
    spread = tile_spread(layer, arch, d, m, f["sin_l1"], feed) if skips_steps else None
    overlap_tiles(layer, m, loads, overlapped, varying, compute, spread, fill_latency, f["sin_l1"], sp_mbs,
                  f["row_weight"], exposed["before"])
    cycles = expected_slowest(overlapped, varying, sp_mbs, f["sin_l1"]) + exposed["after"]
    parts = {"accumulate": compute, "membrane": membrane, "fill_drain": fill, **loads, "exposed": exposed["cycles"],
             "fill_latency": fill_latency}
    return cycles, parts


def spatial_row(layer: Layer, mode: str, cols: int, tws: int, d: DensityModel) -> dict:
    """`issued_step_cycles`' row arguments: a spatial row of `cols` columns `stride` pixels
    apart passes the line over its S kernel taps, its pixels active together as recorded,
    and repeats the previous row's busy pixels as a pixel's count follows the one above it
    (the next kernel row) and in the previous channel (`pixel_count_correlations`);
    a temporal step has none."""
    if mode != "spatial":
        return {}
    pixels = (cols - 1) * layer.stride + layer.S
    # An FC step's next row is the next output rows' pass over other lines: nothing repeats.
    vertical, channel = d.pixel_count_correlations(tws) if layer.type != "fc" else (0.0, 0.0)
    # A tile's rows run over the R kernel rows of a channel, then the next channel's.
    correlation = float(np.clip(((layer.R - 1) * vertical + channel) / layer.R, 0.0, 1.0))
    return {"row": tuple(np.round(d.row_active_pixels_pmf(pixels, tws), 9)), "taps": layer.S, "stride": layer.stride,
            "row_correlation": round(correlation, 2)}


def chain_windows(m) -> float | np.ndarray:
    """Windows per temporal output tile whose one fixed membrane step (the decay every
    window takes) the chain adds to the array's time (mapping fields may be arrays): a
    tile that continues its neurons' chain (every L1 time block but the first of its GLB
    time block) waits for the previous tile's last column,
    `cols` windows; the first of a GLB time block (its neurons' previous windows ran in an
    earlier GLB tile) starts column by column as the previous tile's columns finish, a
    wavefront one window behind."""
    continuing = 1 - m.tb / m.tb_glb
    return m.cols * continuing + (1 - continuing)


def overlap_tiles(layer: Layer, m, loads: dict, overlapped: dict, varying: dict, compute, spread, fill_latency,
                  sin_l1, sp_mbs, issued, before) -> None:
    """Adds to `overlapped` and `varying` (in place) the L1 tiles' pipeline of fills against
    work (`pipelined_tiles`) and the ends of an inference's activity that stay in sequence
    (`sequential_ends`: the array's decay steps are its load less its varying part, its
    pipeline fill and the GLB port's fixed load); `issued`: the share of steps issued.
    `before`: the transfers before the first tile (the first GLB tile, its first L1 tile),
    which every port and the tiles wait for, and the array only as the first active tile's
    fill does (the decay steps of the silent ones before it run meanwhile; a silent
    inference's decay steps wait for nothing). Without `spread` (no recorded tile activity,
    or no step skipping) only the transfers `before`, which every load then waits for.
    Mapping fields and loads may be arrays."""
    if spread is None:
        start_after_first_load(overlapped, before, before)
        return
    tiles = l1_tile_count(layer, m)
    out_tiles = layer.T / m.tb * layer.M / m.rows * layer.P * layer.Q / m.q_cols
    overlapped["tiles"], varying["tiles"] = pipelined_tiles(
        tiles, overlapped["glb_port"], varying["glb_port"] / np.maximum(loads["glb_port"], 1e-300), compute, spread,
        held_tile_work(layer, m, tiles, out_tiles, compute, loads["array"] - compute - (m.rows + m.cols - 1), spread[3],
                       issued))
    decay = loads["array"] - varying["array"] - (m.rows + m.cols - 1) - (overlapped["glb_port"] - varying["glb_port"])
    last_membrane, first_fill = sequential_ends(layer, m, sin_l1, sp_mbs, varying["array"] - compute,
                                                varying["glb_port"] / np.maximum(fill_latency, 1.0), decay, before)
    overlapped["tiles"] = overlapped["tiles"] + last_membrane
    start_after_first_load(overlapped, before, first_fill)


def start_after_first_load(overlapped: dict, before, array_wait) -> None:
    """Adds (in place) the transfers `before` the first tile to every load but the array's,
    which waits `array_wait` for them (the decay steps of silent windows need no data)."""
    for name in overlapped:
        overlapped[name] = overlapped[name] + (array_wait if name == "array" else before)


def sequential_ends(layer: Layer, m, sin_l1: float | np.ndarray, sp_mbs: float | np.ndarray,
                    membrane_extra: float | np.ndarray, fill_per_tile: float | np.ndarray,
                    decay: float | np.ndarray, before: float | np.ndarray = 0.0) -> tuple:
    """(last membrane, first fill): cycles per inference that stay in sequence at the ends
    of its activity (mapping fields and arguments may be arrays). The active tiles' fills
    and membrane steps overlap one another (a tile's membrane steps run while the next
    active tile fills; that tile's weights wait for them), but the first active tile's fill
    (`fill_per_tile`) has no membrane before it and the last one's membrane (one window
    with input: tws - 1 extra steps, at most the layer's `membrane_extra`) no fill after
    it. Both times the probability that any of the inference's `sp_mbs` SP-MBs is active.
    The silent tiles before the first active one fill at once, while the array runs their
    decay steps (`decay`: the layer's decay steps less the GLB port's fixed load): the
    first fill F waits only for what exceeds the decay x D before it, D the share of one
    pass over the input (it repeats per output row block and pixel column) and x the first
    of the k active SP-MBs' places (each uniform over the pass, k their mean given any is
    active): E[max(0, F - x D)] = D (a - (1 - (1 - min(a, 1))^(k + 1)) / (k + 1)), a = F / D.
    F also holds the transfers `before` the first tile (their mean over inferences: an
    inference without spikes moves none, so one with some moves `before` / P(any active))."""
    any_active = -np.expm1(sp_mbs * np.log1p(-np.minimum(sin_l1, 1 - 1e-15)))
    active = np.maximum(sp_mbs * sin_l1 / np.maximum(any_active, 1e-300), 1.0)
    decay = np.maximum(decay, 1e-9) / (layer.M / m.rows * layer.P * layer.Q / m.q_cols)
    a = (fill_per_tile + before / np.maximum(any_active, 1e-300)) / decay
    exposed_fill = decay * (a + np.expm1((active + 1) * np.log1p(-np.minimum(a, 1 - 1e-15))) / (active + 1))
    return any_active * np.minimum(m.tws - 1.0, membrane_extra), any_active * exposed_fill


TILE_POINTS = 16   # equal-probability points of a tile's activity


def tile_spread(layer: Layer, arch: SpikeXArch, d: DensityModel, m, sin_l1, feed) -> tuple | None:
    """(fill scales [.., TILE_POINTS], work scales [.., TILE_POINTS], alike [..], active [..])
    of a mapping or of arrays of mappings (`m`'s fields, `sin_l1` and `feed` broadcast
    together): an L1 tile's GLB fill and array work relative to the mean tile's, TILE_POINTS
    equally likely values each, how alike consecutive tiles are (0 to 1) and the probability
    that a tile holds any spike (as recorded); None when the
    statistics do not record tile activity (`DensityModel.tile_activity`).
    - Fill: the tile's active SP-MBs; in an FC layer the groups of `fc_tag_group` lines
      holding its active lines (placed at random); in a conv layer channels over the whole
      frame (the chunk silent as recorded, its channels otherwise independent).
    - Work: its steps' cycles (`step_cycles`), given the share of its lines that is active.
    - Alike: the next tile is the next chunk of lines of the same block, and after the last
      chunk the next block of the GLB tile (else another position: taken as uncorrelated).
      A conv tile's fill follows the whole frame and its work the patch, which fire
      together (a silent frame silences every patch): the next fill is taken as alike to
      this work as the patch's next chunk or block is to it (taken as independent, local
      blobs at TWS 1 were 12 % slow: a busy fill drawn against an idle patch)."""
    fields = np.broadcast_arrays(*(np.asarray(v) for v in (m.c_l1, m.tb, m.tb_glb, m.cols, m.tws, sin_l1, feed)))
    c_l1, tb, tb_glb, cols, tws = (v.ravel().astype(np.int64) for v in fields[:5])
    sin_l1, feed = fields[5].ravel().astype(np.float64), np.round(fields[6].ravel().astype(np.float64), 2)
    fill, work, alike = np.empty((c_l1.size, TILE_POINTS)), np.empty((c_l1.size, TILE_POINTS)), np.zeros(c_l1.size)
    active = np.zeros(c_l1.size)
    group = tag_group(layer, arch, layer.C)
    for channels, steps in np.unique(np.stack([c_l1, tb], axis=1), axis=0).tolist():
        pmf = d.tile_activity(channels, steps)
        if pmf is None:
            return None
        tile = (c_l1 == channels) & (tb == steps)
        mass = quantile_slices(pmf)
        active[tile] = 1 - pmf[0] / pmf.sum()
        for columns, window in np.unique(np.stack([cols[tile], tws[tile]], axis=1), axis=0).tolist():
            sel = tile & (cols == columns) & (tws == window)
            issued, busiest = step_cycles(len(pmf) - 1, steps, window, columns)
            work[sel] = relative(np.maximum(feed[sel, None] * issued, busiest) @ mass.T)
        next_chunk, next_block = d.tile_correlations(channels, steps)
        chunks = layer.C // channels
        alike[tile] = np.clip(((chunks - 1) * next_chunk + np.where(tb_glb[tile] > steps, next_block, 0.0)) / chunks,
                              0.0, 1.0)
        if layer.type == "fc":
            fill[tile] = relative(mass @ groups_holding(channels, group))
            continue
        chunk_active = float(d.p_channels_nonempty(max(channels, group), steps))
        for p in np.unique(sin_l1[tile]).tolist():
            fill[tile & (sin_l1 == p)] = chunk_points(max(channels // group, 1), p, chunk_active)
    shape = fields[0].shape
    return (fill.reshape(*shape, TILE_POINTS), work.reshape(*shape, TILE_POINTS), alike.reshape(shape),
            active.reshape(shape))


@functools.lru_cache(maxsize=4096)
def step_cycles(lines: int, tb: int, tws: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """(P(a step is issued), its busiest window's spikes) in a tile where k of `lines` lines
    spike in its block of `tb` steps, k = 0..lines: each line at rate r = 1 - (1 - k /
    lines)^(1 / tb) (the lines otherwise independent); a step is issued when one of its
    `cols` windows of `tws` steps fired. With the feeder's words per issued step f, a
    step takes max(f issued, busiest) cycles (the column line lies between the mean and the
    busiest column; the busiest keeps the growth with activity)."""
    active = np.arange(lines + 1) / max(lines, 1)
    rate = -np.expm1(np.log1p(-np.minimum(active, 1 - 1e-12)) / tb)
    spikes = np.arange(tws + 1)
    pmf = np.array([math.comb(tws, k) for k in spikes]) * rate[:, None] ** spikes * (1 - rate[:, None]) ** (tws - spikes)
    below = np.clip(np.cumsum(pmf, axis=1)[:, :-1], 0.0, 1.0) ** cols   # P(busiest window holds <= j spikes)
    issued, busiest = 1 - below[:, 0], np.sum(1 - below, axis=1)
    issued.flags.writeable = busiest.flags.writeable = False
    return issued, busiest


@functools.lru_cache(maxsize=4096)
def groups_holding(lines: int, group: int) -> np.ndarray:
    """Expected groups of `group` lines (of `lines`) that hold some of k active lines placed
    at random, k = 0..lines."""
    k = np.arange(lines + 1)
    silent = np.prod([np.clip(lines - k - i, 0, None) / (lines - i) for i in range(min(group, lines))], axis=0)
    values = max(lines // group, 1) * (1 - silent)
    values.flags.writeable = False
    return values


@functools.lru_cache(maxsize=4096)
def chunk_points(n: int, p: float, chunk_active: float) -> np.ndarray:
    """Relative points of a tile's active SP-MBs out of n, each active with probability p:
    none with the chunk's recorded silence 1 - `chunk_active`, else as `active_sp_mbs_pmf`."""
    active = active_sp_mbs_pmf(n, np.array([p]), np.array([chunk_active]))[0]
    pmf = np.concatenate([[max(1 - active.sum(), 0.0)], active])
    points = relative(quantile_slices(pmf) @ np.arange(n + 1))
    points.flags.writeable = False
    return points


def quantile_slices(pmf: np.ndarray) -> np.ndarray:
    """[TILE_POINTS, k]: the mass of each count k in each of TILE_POINTS equally likely
    slices of its distribution, scaled to sum to 1 per slice (a slice's mean of v(k) is
    its row times v)."""
    cdf = np.cumsum(pmf) / np.sum(pmf)
    below = np.concatenate([[0.0], cdf[:-1]])
    edges = np.linspace(0.0, 1.0, TILE_POINTS + 1)
    return np.clip(np.minimum(cdf, edges[1:, None]) - np.maximum(below, edges[:-1, None]), 0.0, None) * TILE_POINTS


def relative(points: np.ndarray) -> np.ndarray:
    """Points (last axis) over their mean; all ones where the mean is 0."""
    mean = points.mean(axis=-1, keepdims=True)
    return np.where(mean > 0, points / np.where(mean > 0, mean, 1.0), 1.0)


def held_tile_work(layer: Layer, m, tiles, out_tiles, compute, membrane, active, issued) -> tuple:
    """(share of the L1 tiles, their work in all, its activity-driven share) for the tiles
    whose feeder waits for the previous output tile's membrane steps (`membrane`: the
    layer's chain or membrane steps in sequence): the first channel chunk of each output
    tile, when it issues any step (`active`: the probability a tile does; `issued`: the share
    of all steps issued). Its steps enter
    the array only as the columns finish their membrane, so the next fill (issued when this
    tile's feeder is done, double buffering) waits for them too; a silent tile's feeder
    waits for nothing. Temporal mode: the columns finish one after the other and up to
    cols - 1 of the tile's steps wait in their weight registers, their work done by the
    time the chain ends; spatial mode: every column runs its own membrane at once, nothing
    waits ahead. (Simulator timeline, channel-skewed rate 0.1, TWS 8, one channel per tile:
    the output tile's 62-cycle chain held the next fill, 192 cycles per output tile against
    the 160 of fills overlapping it.)"""
    issued_per_active_tile = issued * layer.T * layer.M * layer.P * layer.Q * layer.C * layer.R * layer.S / (
        m.rows * m.cols * m.tws * tiles * np.maximum(active, 1e-12))
    queued = np.where(np.asarray(m.mode) == "temporal",
                      np.minimum((m.cols - 1) / np.maximum(issued_per_active_tile, 1e-12), 1.0), 0.0)
    share = out_tiles / tiles
    work = compute * (1 - queued)
    waited = work + active * membrane * tiles / out_tiles
    # The queued steps' work overlaps the membrane steps, so the tile takes no less than its work.
    return share, np.maximum(waited, compute), np.where(waited > compute, work / np.maximum(waited, 1e-300), 1.0)


def pipelined_tiles(tiles, glb, glb_share, compute, spread: tuple, held: tuple) -> tuple:
    """(load, activity-driven part) of the L1 tiles' fills against the feeder: the
    `tile_pipeline` of the GLB port's `glb` cycles, `glb_share` of them activity-driven,
    against the feeder's `compute`; for the `held` share of tiles (`held_tile_work`)
    against their work with the membrane steps they wait for. Its fixed part is the fill's."""
    share, held_work, held_varying = held
    pipeline = ((1 - share) * tile_pipeline(tiles, glb, compute, glb_share, 1.0, *spread[:3])
                + share * tile_pipeline(tiles, glb, held_work, glb_share, held_varying, *spread[:3]))
    return pipeline, pipeline - glb * (1 - glb_share)


def tile_pipeline(tiles, fill, work, fill_varying, work_varying, fill_scales: np.ndarray,
                  work_scales: np.ndarray, alike):
    """Cycles of the double-buffered L1 tiles: the fill of tile k + 1 (GLB port) runs while
    the array works on tile k, so each step takes the longer of the two. Over `tiles` tiles
    with `fill` and `work` cycles in all, the activity-driven share of each (`*_varying`)
    scaled per tile by its scales (points on the last axis): the next tile's fill and this
    tile's work are drawn at the same quantile (busy after busy) with probability `alike`,
    else independently. Not less than either total (the mean of a max)."""
    per_fill = (np.asarray(fill) / tiles)[..., None] * (1 + np.asarray(fill_varying)[..., None] * (fill_scales - 1))
    per_work = (np.asarray(work) / tiles)[..., None] * (1 + np.asarray(work_varying)[..., None] * (work_scales - 1))
    independent = np.mean(np.maximum(per_fill[..., :, None], per_work[..., None, :]), axis=(-2, -1))
    paired = np.mean(np.maximum(per_fill, per_work), axis=-1)
    return tiles * (alike * paired + (1 - alike) * independent)


def overlapped_glb_port(actions: dict[tuple[str, str], float], arch: SpikeXArch, exposed: dict[str, float]) -> float:
    """GLB port cycles of the transfers that overlap the array (the exposed ones removed from
    reads and writes separately: they may use different ports)."""
    return arch.port_cycles("GLB", max(actions.get(("GLB", "read"), 0.0) - exposed["glb_reads"], 0.0),
                            max(actions.get(("GLB", "write"), 0.0) - exposed["glb_writes"], 0.0))


def exposed_transfers(layer: Layer, m: SpikeXMapping, arch: SpikeXArch, f: dict) -> dict[str, float]:
    """Transfers nothing can overlap: the first GLB tile's load from DRAM and its first L1
    tile (before any compute), and the last output tile's spikes into the GLB and the last
    GLB tile's outputs back to DRAM (after it).
    Returns their cycles (in all, "before" and "after" the overlapped part), their GLB reads
    and writes, and their DRAM cycles (scalars, or arrays over a mapspace)."""
    bpa, wbits = arch.bits_per_action, arch.weight_bits
    per_dram_action = bpa["DRAM"] / 8 / arch.extras.dram_bytes_per_s * arch.clock_hz
    h_glb = (m.p_glb - 1) * layer.stride + layer.R
    glb_in = (m.tb_glb * layer.C * h_glb * layer.W * f["sin_glb"]
              + m.m_glb * layer.C * layer.R * layer.S * wbits * f["glb_first_block"])
    w_l1 = (m.q_cols - 1) * layer.stride + layer.S
    l1_in = m.tb * m.c_l1 * layer.R * w_l1 * f["sin_l1"] + m.rows * m.c_l1 * layer.R * layer.S * wbits * f["l1_block"]
    out = m.m_glb * m.p_glb * layer.Q * m.tb_glb * f["sout_glb"]
    dram_time = per_dram_action / bpa["DRAM"]
    first = np.maximum(arch.port_cycles("GLB", 0.0, glb_in / bpa["GLB"]), glb_in * dram_time)
    l1_first = arch.port_cycles("GLB", l1_in / bpa["GLB"], 0.0)
    # The last output tile's spikes enter the GLB before the write-back can read them.
    last_tile_out = np.ceil(m.rows * m.cols * m.tws * f["sout_glb"] / bpa["GLB"])
    last = arch.port_cycles("GLB", 0.0, last_tile_out) + np.maximum(arch.port_cycles("GLB", out / bpa["GLB"], 0.0),
                                                                    out * dram_time)
    return {"cycles": first + l1_first + last, "before": first + l1_first, "after": last,
            "glb_reads": (l1_in + out) / bpa["GLB"], "glb_writes": glb_in / bpa["GLB"] + last_tile_out,
            "dram": (glb_in + out) * dram_time}


def level_actions(actions: dict, level: str) -> float:
    return sum(c for (comp, _), c in actions.items() if comp == level)


def port_loads(actions: dict[tuple[str, str], float], arch: SpikeXArch) -> dict[str, float]:
    """Cycles each memory needs for its actions (double-buffered tiles: these overlap with
    the array and each other): DRAM at its bandwidth, each SRAM through its ports."""
    per_dram_action = arch.bits_per_action["DRAM"] / 8 / arch.extras.dram_bytes_per_s * arch.clock_hz
    return {"dram": level_actions(actions, "DRAM") * per_dram_action,
            "glb_port": arch.port_cycles("GLB", actions.get(("GLB", "read"), 0.0), actions.get(("GLB", "write"), 0.0)),
            "l1_port": arch.port_cycles("L1", actions.get(("L1", "read"), 0.0), actions.get(("L1", "write"), 0.0))}


def expected_slowest(loads: dict[str, float], varying: dict[str, float], n: int, p: float) -> float:
    """E[max of the loads] over inferences (array and ports run overlapped; the slowest sets
    the time). The activity-driven part `varying` of each load scales with the number of
    active SP-MBs an inference has, taken as Binomial(n, p) (independent blocks). When
    activity is rare, single inferences can be port-bound even if the average one is not,
    so the max of the means would underestimate the mean."""
    mean_bound = max(loads.values())
    # No gap without variation; none worth computing when the activity's sd is under 5 % of
    # its mean, or when it is so rare that the varying parts (all ~ p) vanish.
    if not 1e-9 < p < 1 or n * p * (1 - p) > 400:
        return mean_bound
    sd = math.sqrt(n * p * (1 - p))
    k = np.arange(max(0, math.floor(n * p - 8 * sd)), min(n, math.ceil(n * p + 8 * sd)) + 1)
    pmf = np.exp(binomial_log_pmf(k, n, p))
    scale = k / (np.sum(pmf * k) / np.sum(pmf))   # mean 1 over the cut support: each load's mean is kept
    slowest = np.max([load + varying[name] * (scale - 1) for name, load in loads.items()], axis=0)
    # E[max] >= max E (Jensen); the +-8 sd cut of a skewed binomial could dip below it.
    return max(float(np.sum(pmf * slowest) / np.sum(pmf)), mean_bound)


def l1_tile_count(layer: Layer, m: SpikeXMapping) -> float:
    return layer.T / m.tb * layer.M / m.rows * layer.P * layer.Q / m.q_cols * layer.C / m.c_l1


def evaluate_pool(layer: Layer, arch: SpikeXArch, d: DensityModel) -> LayerCost:
    """Pooling on spikes is an OR over each window: read active spike blocks from the GLB,
    OR them in the tag logic, write the output bits back."""
    bpa = arch.bits_per_action["GLB"]
    in_bits = layer.T * layer.C * layer.H * layer.W * d.p_channels_nonempty(1, layer.T)
    out_bits = layer.T * layer.M * layer.P * layer.Q
    actions = {("GLB", "read"): in_bits / bpa, ("GLB", "write"): out_bits / bpa,
               ("TagLogic", "update"): float(out_bits)}
    parts = {"array": out_bits / (arch.rows * arch.cols), "glb_port": arch.port_cycles("GLB", in_bits / bpa, out_bits / bpa)}
    cycles = max(parts.values())
    return priced(layer.name, None, arch, actions, cycles, parts, bound_of(parts))
