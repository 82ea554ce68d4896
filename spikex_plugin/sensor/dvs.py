"""Event-camera (DVS) emulator: intensity video -> ON/OFF events, deterministic by seed.

The pixel model follows v2e (Hu, Liu, Delbruck, CVPR Workshops 2021) and ESIM (Rebecq,
Gehrig, Scaramuzza, CoRL 2018); docs/event-camera.md gives each parameter and its source.
Per pixel and frame interval:

1. photoreceptor: lin-log intensity (linear below `lin_log_dn`, log above), then a
   first-order low-pass whose cutoff scales with intensity (dim pixels are slow);
2. change detector: the memorised log intensity `base` is compared with the filtered one;
   each full ON (OFF) threshold crossed gives one ON (OFF) event and moves `base` by one
   threshold. Thresholds differ pixel to pixel (Gaussian mismatch, fixed per pixel);
3. refractory period: an event less than `refractory_s` after the pixel's previous one is
   dropped (events inside an interval are spread evenly over it, as v2e timestamps them);
4. leak: `base` drifts down by `leak_rate_hz` thresholds per second (per-pixel jitter),
   which fires ON events in a static scene;
5. shot noise: random ON and OFF events at `shot_noise_rate_hz` per pixel (ON + OFF), highest
   in the darkest pixels, scaled linearly down to `shot_noise_bright_factor` at full white.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit


@dataclass(frozen=True)
class DVSParams:
    """Sensor parameters; defaults are v2e's command-line defaults (docs/event-camera.md)."""

    pos_threshold: float = 0.2            # ON threshold, log_e intensity
    neg_threshold: float = 0.2            # OFF threshold
    threshold_sigma: float = 0.03         # pixel-to-pixel threshold mismatch (1 std)
    min_threshold: float = 0.01           # mismatch never gives a threshold below this
    cutoff_hz: float = 300.0              # photoreceptor 3 dB cutoff at full white (0: none)
    leak_rate_hz: float = 0.01            # leak ON events per pixel per second
    leak_jitter: float = 0.1              # relative pixel-to-pixel spread of the leak rate
    shot_noise_rate_hz: float = 0.001     # ON + OFF noise events per pixel per second (darkest)
    shot_noise_bright_factor: float = 0.25  # shot-noise rate at full white / at black
    refractory_s: float = 0.0005          # dead time after each event
    lin_log_dn: float = 20.0              # lin-log knee, in 8-bit digital numbers

    def __post_init__(self):
        for name in ("pos_threshold", "neg_threshold", "min_threshold"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0")
        for name in ("threshold_sigma", "cutoff_hz", "leak_rate_hz", "leak_jitter", "shot_noise_rate_hz",
                     "shot_noise_bright_factor", "refractory_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0")
        if not self.lin_log_dn > 0:
            raise ValueError("lin_log_dn must be > 0")


@njit(cache=True, inline="always")
def _lin_log(intensity, knee, slope):
    """v2e's photoreceptor mapping of 8-bit intensity (dn = 255 * intensity, clipped):
    linear below `knee`, ln above, continuous at the knee."""
    dn = min(max(intensity, 0.0), 1.0) * 255.0
    return dn * slope if dn <= knee else np.log(dn)


def emulate(frames: np.ndarray, frame_interval_s: float, params: DVSParams = DVSParams(),
            seed: int = 0) -> np.ndarray:
    """Events of a video `frames` [F, H, W] (intensity in [0, 1], 1 = full white) sampled
    every `frame_interval_s` seconds: counts [F - 1, 2, H, W] (uint8; channel 0 ON, 1 OFF)
    of the events between frame k and k + 1. The first frame initialises the pixels."""
    frames = np.asarray(frames, dtype=np.float32)
    if frames.ndim != 3 or frames.shape[0] < 2:
        raise ValueError(f"frames must be [F >= 2, H, W], got {frames.shape}")
    if not frame_interval_s > 0:
        raise ValueError("frame_interval_s must be > 0")
    F, H, W = frames.shape
    n = H * W
    rng = np.random.default_rng(seed)
    p = params
    pos = np.maximum(rng.normal(p.pos_threshold, p.threshold_sigma, n), p.min_threshold).astype(np.float32)
    neg = np.maximum(rng.normal(p.neg_threshold, p.threshold_sigma, n), p.min_threshold).astype(np.float32)
    leak = (p.leak_rate_hz * np.maximum(1 + p.leak_jitter * rng.standard_normal(n), 0)).astype(np.float32)
    phase = rng.random(n, dtype=np.float32)   # the sensor ran before the clip: leak phases differ
    noise_u = rng.random((F - 1, n), dtype=np.float32)
    counts = np.zeros((F - 1, 2, n), dtype=np.uint8)
    _emulate_kernel(frames.reshape(F, n), np.float32(p.lin_log_dn), np.float32(frame_interval_s), pos, neg,
                    leak, phase, noise_u, np.float32(p.cutoff_hz), np.float32(p.shot_noise_rate_hz),
                    np.float32(p.shot_noise_bright_factor), np.float32(p.refractory_s), counts)
    return counts.reshape(F - 1, 2, H, W)


@njit(cache=True, nogil=True)
def _emulate_kernel(frames, knee, dt, pos, neg, leak, phase, noise_u, cutoff_hz, shot_hz,
                    bright_factor, refractory, counts):
    F, n = frames.shape
    tau = 1.0 / (2.0 * np.pi * cutoff_hz) if cutoff_hz > 0 else 0.0
    slope = np.log(knee) / knee
    filtered = np.empty(n, dtype=np.float32)
    for i in range(n):
        filtered[i] = _lin_log(frames[0, i], knee, slope)
    base = filtered - phase * pos
    last = np.full(n, -1e9, dtype=np.float32)
    for k in range(1, F):          # time outer, pixels inner: every array is read in memory order
        t0 = (k - 1) * dt
        for i in range(n):
            dn = min(max(frames[k, i], 0.0), 1.0) * 255.0
            brightness = (dn + 20.0) / 275.0     # v2e's photoreceptor speed factor, never 0
            target = _lin_log(frames[k, i], knee, slope)
            if tau > 0:
                eps = min(brightness * dt / tau, 1.0)
                filtered[i] += eps * (target - filtered[i])
            else:
                filtered[i] = target
            base[i] -= leak[i] * pos[i] * dt
            diff = filtered[i] - base[i]
            m, polarity = 0, 0
            if diff >= pos[i]:
                m = int(diff / pos[i])
                base[i] += m * pos[i]
            elif -diff >= neg[i]:
                m = int(-diff / neg[i])
                base[i] -= m * neg[i]
                polarity = 1
            for j in range(m):   # m events spread evenly over the interval
                t = t0 + dt * (j + 1) / m
                if t - last[i] >= refractory:
                    last[i] = t
                    if counts[k - 1, polarity, i] < 255:
                        counts[k - 1, polarity, i] += 1
            p_half = 0.5 * shot_hz * dt * ((bright_factor - 1.0) * brightness + 1.0)
            u = noise_u[k - 1, i]
            noise_pol = 0 if u < p_half else (1 if u > 1.0 - p_half else -1)
            if noise_pol >= 0:
                t = t0 + dt * (u if noise_pol == 0 else 1.0 - u) / p_half   # uniform in the interval
                if t - last[i] >= refractory:
                    last[i] = t
                    if counts[k - 1, noise_pol, i] < 255:
                        counts[k - 1, noise_pol, i] += 1


def bin_events(counts: np.ndarray, T: int) -> np.ndarray:
    """Spike frames [T, 2, H, W] (bool: any event) from event counts [F, 2, H, W], F a
    multiple of T: bin t gathers intervals t*F/T .. (t+1)*F/T - 1."""
    F = counts.shape[0]
    if F % T:
        raise ValueError(f"{F} frame intervals do not split into T={T} equal bins")
    return counts.reshape(T, F // T, *counts.shape[1:]).any(axis=1)


def downsample_events(spikes: np.ndarray, factor: int) -> np.ndarray:
    """Spike frames [..., H, W] -> [..., H/f, W/f]: a pixel of the coarse sensor fires when any
    of its f x f fine pixels does (the usual spatial downsampling of DVS data)."""
    *lead, H, W = spikes.shape
    if H % factor or W % factor:
        raise ValueError(f"{H}x{W} is not divisible by {factor}")
    return spikes.reshape(*lead, H // factor, factor, W // factor, factor).any(axis=(-3, -1))
