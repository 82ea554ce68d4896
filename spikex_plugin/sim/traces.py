"""Spike-trace families for checking the analytic model on inputs it does not assume.

Every generator returns a boolean trace [T, samples, *shape] (shape = (C, H, W) or (C,))
whose mean firing rate is close to `rate` (exact in expectation unless the intensity
saturates at 1). The analytic density model treats lines as independent and identical;
these families break that on purpose:

- `bernoulli`: independent lines, independent steps (the one family the model assumes);
- `moving_objects`: discs drifting across a DVS-like sensor, pixels fire near them;
- `local_blobs`: Gaussian blobs of activity that switch on and off at random places;
- `channel_skewed`: a few channels carry most spikes, per-neuron rates heavy-tailed;
- `bursty`: population bursts, many lines fire together in short synchronous episodes;
- `markov_lines`: independent lines, each a two-state chain (lag-1 correlation 0.8), the
  bursty family the density model's Markov fit does assume (kept as a control).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

RATE_MIN, RATE_MAX = 1e-4, 0.5


def _spikes_from_intensity(intensity: np.ndarray, rate: float, rng: np.random.Generator) -> np.ndarray:
    """Bernoulli draws with P = intensity scaled so the mean is `rate` (saturation at 1
    redistributed by a few fixed-point passes; where the active region is too small for
    the rate, a uniform background, as a DVS sensor's noise, carries the rest)."""
    lam = np.asarray(intensity, dtype=np.float64)
    covered = (lam > 0).mean()
    if covered < 2 * rate:
        lam = lam + lam.max() * 0.02 * rate / max(covered, 1e-12)
    total = lam.mean()
    if total <= 0:
        lam = np.ones_like(lam)
        total = 1.0
    scale = rate / total
    for _ in range(60):
        p = np.minimum(lam * scale, 1.0)
        mean = p.mean()
        if mean <= 0 or abs(mean - rate) <= 1e-3 * rate:
            break
        scale *= rate / mean
    return rng.random(lam.shape) < np.minimum(lam * scale, 1.0)


def _sensor_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    """(C, H, W) view of a layer input; an FC input of C lines is a 1 x C strip per channel 1."""
    return (shape[0], shape[1], shape[2]) if len(shape) == 3 else (1, 1, shape[0])


def bernoulli(shape: tuple[int, ...], T: int, rate: float, samples: int = 1, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.random((T, samples, *shape)) < rate


def moving_objects(shape: tuple[int, ...], T: int, rate: float, samples: int = 1, seed: int = 0,
                   objects: int = 3) -> np.ndarray:
    """Discs moving at constant velocity (wrapping at the borders); pixels inside a disc fire,
    every channel sees the same scene with its own gain (like DVS polarities)."""
    rng = np.random.default_rng(seed)
    C, H, W = _sensor_shape(shape)
    yy, xx = np.mgrid[0:H, 0:W]
    radius = max(1.0, 0.15 * max(H, W))
    lam = np.zeros((T, samples, C, H, W))
    for s in range(samples):
        pos = rng.random((objects, 2)) * (H, W)
        vel = rng.normal(0, 0.6, (objects, 2))
        gain = rng.random(C) + 0.2
        for t in range(T):
            centre = (pos + vel * t) % (H, W)
            dy = np.abs(yy[None] - centre[:, 0, None, None])
            dx = np.abs(xx[None] - centre[:, 1, None, None])
            dy, dx = np.minimum(dy, H - dy), np.minimum(dx, W - dx)
            inside = (dy ** 2 + dx ** 2 <= radius ** 2).any(axis=0)
            lam[t, s] = gain[:, None, None] * inside[None]
    return _spikes_from_intensity(lam.reshape(T, samples, *shape), rate, rng)


def local_blobs(shape: tuple[int, ...], T: int, rate: float, samples: int = 1, seed: int = 0,
                blobs: int = 4, lifetime: int = 5) -> np.ndarray:
    """Gaussian spots of activity, each alive for about `lifetime` steps at a random place and
    channel subset, then reborn elsewhere."""
    rng = np.random.default_rng(seed)
    C, H, W = _sensor_shape(shape)
    yy, xx = np.mgrid[0:H, 0:W]
    sigma = max(0.7, 0.08 * max(H, W))
    lam = np.zeros((T, samples, C, H, W))
    for s in range(samples):
        for _ in range(blobs):
            t = int(rng.integers(-lifetime, T))
            while t < T:
                span = max(1, int(rng.geometric(1 / lifetime)))
                cy, cx = rng.random() * H, rng.random() * W
                spot = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * sigma ** 2))
                chans = rng.random(C) < 0.5
                lo, hi = max(t, 0), min(t + span, T)
                lam[lo:hi, s, chans] += spot
                t += span + int(rng.geometric(1 / lifetime))
    return _spikes_from_intensity(lam.reshape(T, samples, *shape), rate, rng)


def channel_skewed(shape: tuple[int, ...], T: int, rate: float, samples: int = 1, seed: int = 0,
                   zipf: float = 1.5, sigma: float = 1.5) -> np.ndarray:
    """Channel rates fall off as 1/rank^zipf (a few channels carry most spikes); within a
    channel, neuron rates are log-normal (heavy-tailed); fixed across samples and steps."""
    rng = np.random.default_rng(seed)
    channel = 1.0 / np.arange(1, shape[0] + 1) ** zipf
    channel = rng.permutation(channel)
    neuron = rng.lognormal(0.0, sigma, shape)
    per_neuron = neuron * channel.reshape((-1,) + (1,) * (len(shape) - 1))
    lam = np.broadcast_to(per_neuron, (T, samples, *shape))
    return _spikes_from_intensity(lam, rate, rng)


def bursty(shape: tuple[int, ...], T: int, rate: float, samples: int = 1, seed: int = 0,
           burst_fraction: float = 0.15, mean_burst: float = 3.0) -> np.ndarray:
    """Population bursts: a shared on/off chain in time (on about `burst_fraction` of the
    steps, runs of about `mean_burst`); lines fire 30x more often during a burst."""
    rng = np.random.default_rng(seed)
    leave = 1.0 / mean_burst
    enter = burst_fraction * leave / (1 - burst_fraction)
    on = np.zeros((T, samples), dtype=bool)
    on[0] = rng.random(samples) < burst_fraction
    for t in range(1, T):
        u = rng.random(samples)
        on[t] = np.where(on[t - 1], u >= leave, u < enter)
    level = np.where(on, 30.0, 1.0).reshape(T, samples, *(1,) * len(shape))
    return _spikes_from_intensity(np.broadcast_to(level, (T, samples, *shape)), rate, rng)


def markov_lines(shape: tuple[int, ...], T: int, rate: float, samples: int = 1, seed: int = 0,
                 correlation: float = 0.8) -> np.ndarray:
    """Each line a stationary two-state chain: P(spike | silent) = a, P(spike | spike) = a + correlation."""
    rng = np.random.default_rng(seed)
    a = rate * (1 - correlation)
    u = rng.random((T, samples, *shape))
    out = np.empty(u.shape, dtype=bool)
    out[0] = u[0] < rate
    for t in range(1, T):
        out[t] = u[t] < np.where(out[t - 1], a + correlation, a)
    return out


FAMILIES: dict[str, Callable[..., np.ndarray]] = {
    "bernoulli": bernoulli, "moving_objects": moving_objects, "local_blobs": local_blobs,
    "channel_skewed": channel_skewed, "bursty": bursty, "markov_lines": markov_lines,
}


def make_trace(family: str, shape: tuple[int, ...], T: int, rate: float, samples: int = 1,
               seed: int = 0) -> np.ndarray:
    """A boolean trace [T, samples, *shape] of the named family at mean rate `rate`."""
    if family not in FAMILIES:
        raise ValueError(f"unknown trace family {family!r}; known: {', '.join(FAMILIES)}")
    if not RATE_MIN <= rate <= RATE_MAX:
        raise ValueError(f"rate {rate} outside [{RATE_MIN}, {RATE_MAX}]")
    return FAMILIES[family](tuple(shape), T, rate, samples=samples, seed=seed)
