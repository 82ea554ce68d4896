"""Trace-driven reference for the SpikeX dispatch (kept with the tests, independent of the
analytic model's probabilities): walks an actual spike tensor through the mapping's loop nest
and counts every weight load, accumulation, tag, block transfer and membrane step.

Semantics (the same the analytic model approximates):
- windows are aligned: window k of size tws covers steps [k*tws, (k+1)*tws);
- a PE (row = filter, column = window or output column) loads the weight of tap (c, r, s)
  iff its input line holds a spike in its window, then accumulates once per spike; a weight
  step of the array lasts as long as its busiest column (0 if no column has a spike);
- a row's weight leaves L1 iff some column needs it; a window's spike bits leave L1 iff it
  holds a spike (one tag bit per window of an active block is read instead);
- spike tiles and weight kernels move between buffers only for active SP-MBs (input channel,
  or `fc_tag_group` FC lines, x the tile's time block);
- each neuron runs tws membrane steps per window whose receptive field had a spike, else 1;
  columns of one row run their windows as a chain (temporal mode) or in parallel (spatial).
"""

from __future__ import annotations


import numpy as np

from spikex_plugin.cost_model.dense import dense_actions
from spikex_plugin.cost_model.spikex import LayerCost, bound_of, fill_drain_cycles, l1_tile_count, priced, widths_of
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.workload.network import Layer


def _padded(layer: Layer, trace: np.ndarray) -> np.ndarray:
    """[T, C, H, W] with zero padding (FC: [T, C, 1, 1])."""
    t = trace.reshape(layer.T, layer.C, *(trace.shape[2:] or (1, 1))) if layer.type == "fc" else trace
    pad = layer.padding
    return np.pad(t, ((0, 0), (0, 0), (pad, pad), (pad, pad))).astype(np.int64)


def _window_counts(layer: Layer, x: np.ndarray, tws: int) -> np.ndarray:
    """Spikes per (window, c, p, q, r, s): each output position's taps, per aligned window."""
    w = x.reshape(layer.T // tws, tws, *x.shape[1:]).sum(axis=1)  # [K, C, H, W]
    st = layer.stride
    p = np.arange(layer.P)[:, None] * st + np.arange(layer.R)[None, :]   # [P, R]
    q = np.arange(layer.Q)[:, None] * st + np.arange(layer.S)[None, :]   # [Q, S]
    g = w[:, :, p[:, None, :, None], q[None, :, None, :]]               # [K, C, P, Q, R, S]
    return g


def _block_active(layer: Layer, trace: np.ndarray, block: int, group: int) -> np.ndarray:
    """[blocks, tag groups]: any spike of the group's lines within the time block."""
    per_channel = trace.reshape(layer.T, layer.C, -1).any(axis=-1)
    per_group = per_channel.reshape(layer.T, layer.C // group, group).any(axis=-1)
    return per_group.reshape(layer.T // block, block, -1).any(axis=1)


def simulate(layer: Layer, m: SpikeXMapping, arch: SpikeXArch, trace: np.ndarray) -> LayerCost:
    """Exact SpikeX counts, energy and cycles of one layer on one spike trace [T, *input_shape]."""
    widths = widths_of(arch)
    bpa = widths.bits_per_action
    dense = dense_actions(layer, m, widths, innermost_reuse=True)
    x = _padded(layer, trace)
    X = _window_counts(layer, x, m.tws)                       # [K, C, P, Q, R, S]
    K = X.shape[0]
    m_tiles = layer.M // m.rows
    if m.mode == "temporal":   # columns: consecutive windows of one L1 time block
        cols = X.reshape(K // m.cols, m.cols, *X.shape[1:])
        col_axis = 1
    else:                      # columns: consecutive output columns q
        C, P, Q, R, S = X.shape[1:]
        cols = X.reshape(K, C, P, Q // m.cols, m.cols, R, S)
        col_axis = 4
    busy = cols.max(axis=col_axis)                            # per weight step: slowest column
    active_cols = (cols > 0).sum(axis=col_axis)
    accum = float(X.sum()) * layer.M
    weight_loads = float(active_cols.sum()) * layer.M         # rows x active columns, all m tiles
    row_reads = float((busy > 0).sum()) * layer.M             # one L1 read per row whose weight is needed
    compute_cycles = float(busy.sum()) * m_tiles

    group = 1 if layer.type != "fc" else min(arch.extras.fc_tag_group, layer.C)
    l1_act = _block_active(layer, trace, m.tb, group)          # [T/tb, C/group]
    glb_act = _block_active(layer, trace, m.tb_glb, group)
    l1_frac = float(np.repeat(l1_act, group, axis=1).mean())  # active (channel, block) fraction
    glb_frac = float(np.repeat(glb_act, group, axis=1).mean())

    acts: dict[tuple[str, str], float] = {}

    def add(comp: str, action: str, n: float) -> None:
        acts[(comp, action)] = acts.get((comp, action), 0.0) + n

    computes = float(layer.dense_synops)
    # Each L1/GLB tile carries every channel for every block equally often, so the moved
    # share of a tensor's dense traffic is the active (channel, block) fraction.
    share = {("L1", "Wt", "write"): l1_frac, ("GLB", "Wt", "read"): l1_frac,
             ("L1", "Sin", "write"): l1_frac, ("GLB", "Sin", "read"): l1_frac,
             # spike bits of windows with a spike, plus one tag bit per window of active blocks
             ("L1", "Sin", "read"): min(float((X > 0).mean()) + l1_frac / m.tws, 1.0),
             ("GLB", "Wt", "write"): glb_frac, ("DRAM", "Wt", "read"): glb_frac,
             ("GLB", "Sin", "write"): glb_frac, ("DRAM", "Sin", "read"): glb_frac,
             ("GLB", "Sout", "write"): glb_frac, ("GLB", "Sout", "read"): glb_frac, ("DRAM", "Sout", "write"): glb_frac}
    for (comp, tensor, action), n in dense.items():
        if (comp, tensor, action) == ("Accumulator", "None", "compute"):
            n = accum
        elif (comp, tensor) == ("WReg", "Wt"):
            n = accum if action == "read" else weight_loads
        elif (comp, tensor, action) == ("L1", "Wt", "read"):
            n = row_reads * arch.weight_bits / bpa["L1"]
        elif (comp, tensor) == ("Vmem", "Sout"):
            n = n - computes + accum
        else:
            n *= share.get((comp, tensor, action), 1.0)
        add(comp, action, n)

    # Membrane: receptive field (all taps of one output position) active per window.
    rf = X.reshape(K, X.shape[1], layer.P, layer.Q, -1).sum(axis=(1, 4)) > 0   # [K, P, Q]
    steps = np.where(rf, m.tws, 1)
    updates = float(steps.sum()) * layer.M
    add("Comparator", "compare", updates)
    add("Vmem", "read", updates * arch.vmem_bits / bpa["Vmem"])
    add("Vmem", "write", updates * arch.vmem_bits / bpa["Vmem"])
    add("PEController", "dispatch", float(layer.output_neurons * K))
    add("TagLogic", "check", dense[("WReg", "Wt", "write")])
    add("TagLogic", "update", l1_tile_count(layer, m) * m.c_l1)
    if m.mode == "temporal":
        membrane = float(steps.sum()) * m_tiles
    else:
        membrane = float(steps.reshape(K, layer.P, layer.Q // m.cols, m.cols).max(axis=-1).sum()) * m_tiles
    fill = fill_drain_cycles(layer, m)
    array = compute_cycles + membrane + fill
    dram = sum(n for (c, _), n in acts.items() if c == "DRAM") * bpa["DRAM"] / 8 / arch.extras.dram_bytes_per_s * arch.clock_hz
    glb = arch.port_cycles("GLB", acts.get(("GLB", "read"), 0.0), acts.get(("GLB", "write"), 0.0))
    l1 = arch.port_cycles("L1", acts.get(("L1", "read"), 0.0), acts.get(("L1", "write"), 0.0))
    cycles = max(array, dram, glb, l1)
    parts = {"array": array, "dram": dram, "glb_port": glb, "l1_port": l1, "accumulate": compute_cycles,
             "membrane": membrane, "fill_drain": fill}
    return priced(layer.name, m, arch, acts, cycles, parts, bound_of(parts))
