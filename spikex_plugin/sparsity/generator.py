"""Structured synthetic firing for sensitivity studies: one named knob per kind of structure.

Each layer input is a trace [T, samples, *shape] whose lines fire with per-line rates

    rate_line = rate * channel_factor[c] * region_factor[h, w]      (clipped to 1)

- `channel_skew` (sigma of a log-normal, 0 = none): heavy-tailed per-channel rates (a few
  channels carry most spikes), normalised so the mean factor is 1;
- `active_fraction` (in (0, 1], 1 = none): spatial locality; per sample, one square region
  covering this fraction of the positions (random place) fires at rate / active_fraction,
  the rest is silent (FC inputs have no positions: the knob leaves them alone);
- `burstiness` (lag-1 correlation in [0, 1), 0 = Bernoulli): each line is a two-state
  Markov chain with that correlation (`stats.bursty_transitions`), so spikes come in runs.

With every knob at its neutral value this is `stats.sample_bursty_trace` at `rate`. The
statistics come from the trace through the ordinary builder (`layer_stats_from_spikes`),
so the density models read them as they read recorded ones; the file format is unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikex_plugin.sparsity.stats import FiringStats, LayerFiringStats, bursty_transitions, layer_stats_from_spikes


@dataclass(frozen=True)
class StructureKnobs:
    rate: float = 0.005
    channel_skew: float = 0.0
    active_fraction: float = 1.0
    burstiness: float = 0.0

    def __post_init__(self):
        if not 0 <= self.rate <= 1:
            raise ValueError(f"rate {self.rate} is not in [0, 1]")
        if not self.channel_skew >= 0:
            raise ValueError(f"channel_skew {self.channel_skew} must be >= 0")
        if not 0 < self.active_fraction <= 1:
            raise ValueError(f"active_fraction {self.active_fraction} is not in (0, 1]")
        if not 0 <= self.burstiness < 1:
            raise ValueError(f"burstiness {self.burstiness} is not in [0, 1)")


def line_rates(shape: tuple[int, ...], samples: int, knobs: StructureKnobs, rng: np.random.Generator) -> np.ndarray:
    """Per-line firing probabilities [samples, *shape] (see the module docstring)."""
    C = shape[0]
    channel = np.ones(C)
    if knobs.channel_skew > 0:
        channel = rng.lognormal(0.0, knobs.channel_skew, C)
        channel /= channel.mean()
    rates = np.broadcast_to(knobs.rate * channel.reshape(C, *([1] * (len(shape) - 1))), (samples, *shape)).copy()
    if len(shape) == 3 and knobs.active_fraction < 1:
        H, W = shape[1:]
        side_h = max(1, min(H, round(H * math.sqrt(knobs.active_fraction))))
        side_w = max(1, min(W, round(knobs.active_fraction * H * W / side_h)))
        inside = np.zeros((samples, H, W), dtype=bool)
        for s in range(samples):
            top, left = rng.integers(0, H - side_h + 1), rng.integers(0, W - side_w + 1)
            inside[s, top:top + side_h, left:left + side_w] = True
        rates *= np.where(inside, H * W / (side_h * side_w), 0.0)[:, None]
    return np.clip(rates, 0.0, 1.0)


def structured_trace(shape: tuple[int, ...], T: int, knobs: StructureKnobs, samples: int = 1,
                     seed: int = 0) -> np.ndarray:
    """Boolean trace [T, samples, *shape] with the knobs' structure."""
    rng = np.random.default_rng(seed)
    rate = line_rates(tuple(shape), samples, knobs, rng)
    a, b = bursty_transitions_per_line(rate, knobs.burstiness)
    out = np.empty((T, samples, *shape), dtype=bool)
    out[0] = rng.random(rate.shape) < rate
    for t in range(1, T):
        out[t] = rng.random(rate.shape) < np.where(out[t - 1], b, a)
    return out


def bursty_transitions_per_line(rate: np.ndarray, correlation: float) -> tuple[np.ndarray, np.ndarray]:
    """`stats.bursty_transitions` for an array of rates: P(spike | silent), P(spike | spike)."""
    bursty_transitions(float(rate.max(initial=0.0)), correlation)   # validates the ranges
    a = rate * (1 - correlation)
    return a, a + correlation


def structured_layer_stats(shape: tuple[int, ...], T: int, knobs: StructureKnobs, samples: int = 4,
                           seed: int = 0) -> LayerFiringStats:
    return layer_stats_from_spikes(structured_trace(shape, T, knobs, samples, seed))


def network_structured_stats(network, knobs: StructureKnobs, samples: int = 4, seed: int = 0) -> FiringStats:
    """Structured statistics for the input of every layer of a `Network` (one seed per layer)."""
    return FiringStats(network=network.name, layers={
        layer.name: structured_layer_stats(layer.input_shape, layer.T, knobs, samples, seed + i)
        for i, layer in enumerate(network.resolved)})
