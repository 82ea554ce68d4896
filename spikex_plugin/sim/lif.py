"""The layer's function: LIF neurons over the per-step synaptic currents, with SpikingJelly's
`LIFNode` semantics (charge with or without decayed input, fire at v >= threshold, hard reset
to `v_reset` or soft reset by subtraction when `v_reset` is None)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LIFParams:
    tau: float = 2.0
    v_threshold: float = 1.0
    v_reset: float | None = 0.0
    decay_input: bool = True


def lif_spikes(currents: np.ndarray, lif: LIFParams) -> np.ndarray:
    """Output spikes [T, ...] (bool) of LIF neurons driven by currents [T, ...], step by step."""
    v = np.full(currents.shape[1:], 0.0 if lif.v_reset is None else lif.v_reset)
    rest = 0.0 if lif.v_reset is None else lif.v_reset
    out = np.zeros(currents.shape, dtype=bool)
    for t, x in enumerate(currents):
        if lif.decay_input:
            v = v + (x - (v - rest)) / lif.tau
        else:
            v = v - (v - rest) / lif.tau + x
        spike = v >= lif.v_threshold
        out[t] = spike
        v = np.where(spike, lif.v_reset, v) if lif.v_reset is not None else v - spike * lif.v_threshold
    return out


def layer_currents(layer_type: str, padded: np.ndarray, weights: np.ndarray, stride: int) -> np.ndarray:
    """Synaptic current per step and output neuron, accumulated tap by tap from the spikes
    (what the PEs add up): padded spikes [T, C, H, W], weights [M, C, R, S] ->
    currents [T, M, P, Q] (FC: [T, M])."""
    M, C, R, S = weights.shape
    T, _, H, W = padded.shape
    P, Q = (H - R) // stride + 1, (W - S) // stride + 1
    x = padded.astype(weights.dtype)
    out = np.zeros((T, M, P, Q), dtype=np.result_type(weights.dtype, np.float64))
    for r in range(R):
        for s in range(S):
            taps = x[:, :, r:r + stride * (P - 1) + 1:stride, s:s + stride * (Q - 1) + 1:stride]  # [T, C, P, Q]
            out += np.einsum("tcpq,mc->tmpq", taps, weights[:, :, r, s])
    return out.reshape(T, M) if layer_type == "fc" else out
