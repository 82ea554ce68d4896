"""Trace-driven simulation of one layer on PTB (Lee, Zhang, Li, HPCA 2022).

PTB's array: rows hold output neurons (filters), columns hold consecutive time windows of
TWS steps; a PE spends TWS cycles on every input line it processes (it walks the window's
steps, accumulating the line's weight where the line spiked). stSAP, fixed before the run
from the whole inference's activity: input lines silent over the whole inference are
dropped (an input channel, or an FC line, silent all run is neither moved nor its weights
fetched), and lines whose active time steps never overlap are packed into one slot (first
fit, in tap order) processed as one line. The buffers, ports and tile order are those of
the SpikeX nest (temporal dispatch), walked by the same engine; PTB has no activity tags.
"""

from __future__ import annotations

import math

import numpy as np

from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.sim.lif import LIFParams
from spikex_plugin.sim.nest import SimNest, nest_from_mapping
from spikex_plugin.sim.result import SimResult
from spikex_plugin.sim.spikex import membrane_steps, padded_input, tiled_counts, walk, window_taps
from spikex_plugin.workload.network import Layer


def stsap_slots(lines: np.ndarray) -> tuple[np.ndarray, int]:
    """First-fit packing of input lines [n, T] (bool activity over the whole inference):
    slot of each line (-1: silent, dropped) and the number of slots."""
    slot_of = np.full(lines.shape[0], -1, dtype=np.int64)
    occupied: list[int] = []                      # per slot: its active steps as a bit set
    masks = [int.from_bytes(np.packbits(row).tobytes(), "big") for row in lines]
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
    return slot_of, len(occupied)


class PTBTiles:
    """Per-spike-tile work for PTB: a step is a stSAP slot of the tile's taps."""

    def __init__(self, layer: Layer, nest: SimNest, arch: SpikeXArch, x: np.ndarray):
        if nest.dispatch != "temporal":
            raise ValueError("PTB dispatches time windows to columns (temporal mode only)")
        sk = arch.extras.skipping
        taps = window_taps(layer, x, nest.tws)                       # [K, C, P, Q, R, S]
        K, C, P, Q, R, S = taps.shape
        cols, c_l1 = nest.cols, nest.c_l1
        self.n_c1, self.nq, nb = C // c_l1, Q, K // cols
        steps = c_l1 * R * S
        counts = tiled_counts(layer, nest, taps).reshape(nb, P * Q * self.n_c1, steps, cols)
        slot_of = self._pack(layer, x, c_l1)                          # [P*Q*n_c1, steps]
        n_tiles = nb * P * Q * self.n_c1
        spk = np.arange(n_tiles).reshape(nb, -1, 1)
        flat = (spk * steps + slot_of[None]).reshape(-1)              # (tile, slot) of every tap
        keep = np.broadcast_to(slot_of[None] >= 0, (nb, *slot_of.shape)).reshape(-1)
        per_tap = counts.reshape(-1, cols)[keep]
        fired = per_tap > 0 if sk.zero_windows else np.ones_like(per_tap, dtype=bool)
        size = n_tiles * steps
        lines = np.bincount(flat[keep], minlength=size).reshape(n_tiles, steps)
        self.issued = lines > 0
        self.accumulations = np.stack([np.bincount(flat[keep], per_tap[:, j] if sk.zero_spikes
                                                   else fired[:, j] * nest.tws, minlength=size)
                                       for j in range(cols)], axis=1).reshape(n_tiles, steps, cols)
        self.loaded = np.stack([np.bincount(flat[keep], fired[:, j], minlength=size) for j in range(cols)],
                               axis=1).reshape(n_tiles, steps, cols)
        self.work = np.where(self.issued[..., None], nest.tws, 0).astype(np.int16)   # TWS cycles per slot
        width = arch.bits_per_action["L1"]
        self.feed = np.where(self.issued, lines * math.ceil(nest.rows * arch.weight_bits / width)
                             + math.ceil(nest.tb / width), 0).astype(np.int64)
        self.mem = membrane_steps(layer, nest, taps, skip_silent=False)   # every step updates
        self.tag_checks, self.tag_updates_per_tile = 0.0, 0
        # stSAP drops channels (FC: lines) silent over the whole run: their spike bits and
        # weights are never moved; everything else moves every time (no tags).
        alive = x.any(axis=(0, 2, 3))
        self.moved = {key: np.broadcast_to(alive, (layer.T // block, C))
                      for key, block in (("sin_l1", nest.tb), ("wt_l1", nest.tb),
                                         ("sin_glb", nest.tb_glb), ("wt_glb", nest.tb_glb))}

    @staticmethod
    def _pack(layer: Layer, x: np.ndarray, c_l1: int) -> np.ndarray:
        """stSAP slot of every tap of every (output position, channel chunk)."""
        T, C, H, W = x.shape
        st = layer.stride
        slots = np.empty((layer.P, layer.Q, C // c_l1, c_l1 * layer.R * layer.S), dtype=np.int64)
        for p in range(layer.P):
            for q in range(layer.Q):
                field = x[:, :, p * st:p * st + layer.R, q * st:q * st + layer.S]      # [T, C, R, S]
                per_tap = field.reshape(T, C // c_l1, -1)                          # chunk-major taps
                for c1 in range(C // c_l1):
                    slots[p, q, c1] = stsap_slots(per_tap[:, c1].T)[0]
        return slots.reshape(-1, slots.shape[-1])


def simulate_ptb_layer(layer: Layer, mapping: SpikeXMapping, arch: SpikeXArch, trace: np.ndarray,
                       weights: np.ndarray | None = None, lif: LIFParams = LIFParams()) -> SimResult:
    """Simulate one inference of a conv/FC layer on PTB; arguments as `spikex.simulate_layer`."""
    if not layer.has_weights:
        raise ValueError(f"layer {layer.name}: the simulator runs conv and FC layers")
    nest = nest_from_mapping(layer, mapping)
    x = padded_input(layer, trace)
    return walk(layer, nest, arch, x, PTBTiles(layer, nest, arch, x), weights, lif)
