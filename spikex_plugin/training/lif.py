"""A compiled multi-step LIF neuron for CPU training over long time series.

The same neuron as SpikingJelly's `neuron.LIFNode(tau, v_threshold, v_reset=0,
decay_input=True, detach_reset=True, surrogate_function=surrogate.ATan(alpha))`: charge
h[t] = v[t-1] + (x[t] - v[t-1]) / tau, spike s[t] = (h[t] >= v_threshold), hard reset
v[t] = h[t] (1 - s[t]); backward through the ATan surrogate. SpikingJelly's CPU path runs
eight tensor operations per time step, which at T = 300 costs far more than the
convolutions (measured: 75 % of a dvsg-medium training step); this runs the whole series
per neuron in one numba loop. tests/test_training.py checks it against SpikingJelly's
spikes and gradients. The membrane state carries across calls (chunks) without gradient.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from numba import njit, prange

BLOCK = 4096   # neurons per parallel task: its membrane and carry rows stay in L1/L2


@njit(cache=True, parallel=True)
def _lif_forward(x, v, tau, threshold, keep_charge):
    T, n = x.shape
    spikes = np.empty((T, n), dtype=np.float32)
    charged = np.empty((T if keep_charge else 0, n), dtype=np.float32)
    for b in prange((n + BLOCK - 1) // BLOCK):   # neuron blocks in parallel; time runs inside
        lo, hi = b * BLOCK, min(n, (b + 1) * BLOCK)
        for t in range(T):
            for i in range(lo, hi):               # branch-free so the loop vectorises
                h = v[i] + (x[t, i] - v[i]) / tau
                s = np.float32(h >= threshold)
                if keep_charge:
                    charged[t, i] = h
                spikes[t, i] = s
                v[i] = h * (np.float32(1.0) - s)
    return spikes, charged


@njit(cache=True, parallel=True)
def _lif_backward(grad_spikes, charged, tau, threshold, alpha):
    T, n = charged.shape
    grad_x = np.empty((T, n), dtype=np.float32)
    carry = np.zeros(n, dtype=np.float32)
    k = 0.5 * math.pi * alpha     # float64 arithmetic below, as the serial kernel this replaced
    for b in prange((n + BLOCK - 1) // BLOCK):
        lo, hi = b * BLOCK, min(n, (b + 1) * BLOCK)
        for t in range(T - 1, -1, -1):
            for i in range(lo, hi):
                u = charged[t, i] - threshold
                surrogate = 0.5 * alpha / (1.0 + (k * u) * (k * u))
                keep = 1.0 - (u >= 0)                      # detached hard reset: dv/dh = 1 - s
                gh = grad_spikes[t, i] * surrogate + carry[i] * keep
                grad_x[t, i] = gh / tau
                carry[i] = gh - gh / tau
    return grad_x


class _LIFFunction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: torch.Tensor, v: np.ndarray, tau: float, threshold: float, alpha: float, keep: bool):
        spikes, charged = _lif_forward(x.detach().cpu().numpy(), v, np.float32(tau), np.float32(threshold), keep)
        ctx.save_for_backward(torch.from_numpy(charged))
        ctx.params, ctx.device = (tau, threshold, alpha), x.device
        return torch.from_numpy(spikes).to(x.device)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (charged,) = ctx.saved_tensors
        tau, threshold, alpha = ctx.params
        g = _lif_backward(grad.detach().float().cpu().contiguous().numpy(), charged.numpy(), np.float32(tau),
                          np.float32(threshold), np.float32(alpha))
        return torch.from_numpy(g).to(ctx.device), None, None, None, None, None


class FastLIF(torch.nn.Module):
    """Multi-step LIF ([T, N, ...] -> spikes of the same shape); `reset()` zeroes the
    membrane (SpikingJelly's `functional.reset_net` calls it), `detach()` is a no-op
    (the state never carries gradient)."""

    step_mode = "m"

    def __init__(self, tau: float = 2.0, v_threshold: float = 0.5, alpha: float = 2.0):
        super().__init__()
        if not tau > 1:
            raise ValueError("tau must be > 1")
        self.tau, self.v_threshold, self.alpha = float(tau), float(v_threshold), float(alpha)
        self.v: np.ndarray | None = None

    def reset(self) -> None:
        self.v = None

    def detach(self) -> None:
        pass

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        T, shape = x_seq.shape[0], x_seq.shape[1:]
        x = x_seq.float().reshape(T, -1).contiguous()
        if self.v is None or self.v.size != x.shape[1]:
            self.v = np.zeros(x.shape[1], dtype=np.float32)
        keep = torch.is_grad_enabled() and x.requires_grad    # evaluation needs no charge record
        return _LIFFunction.apply(x, self.v, self.tau, self.v_threshold, self.alpha, keep).reshape(T, *shape)
