"""Offline spike data sets, deterministic by seed (no downloads).

- digits: scikit-learn's bundled 8x8 digits (1,797 images), rate coded (Bernoulli with
  p = intensity per step) or latency coded (one spike per pixel, brighter = earlier), as
  [T, N, 1, 8, 8].
- events: a synthetic DVS-like task: bars sweeping in one of 4 directions (the class) over
  a 2-polarity sensor (ON where a pixel brightens, OFF where it darkens) with random
  position, width, speed and contrast sign, plus uniform noise events: [T, N, 2, H, W].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from spikex_plugin.errors import SpikeXInputError

TASKS = ("digits", "events")
DIRECTIONS = ("right", "left", "down", "up")


@dataclass
class SpikeDataset:
    """Time-major spikes x [T, N, C, H, W] (float32 0/1) and labels y [N]."""

    x: torch.Tensor
    y: torch.Tensor

    @property
    def T(self) -> int:
        return self.x.shape[0]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x.shape[2:])

    def __len__(self) -> int:
        return self.x.shape[1]

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0):
        """Yield (x [T, B, ...], y [B]) batches; shuffled deterministically by seed."""
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed)) if shuffle \
            else torch.arange(len(self))
        for i in range(0, len(self), batch_size):
            idx = order[i:i + batch_size]
            yield self.x[:, idx], self.y[idx]


def digits(T: int = 16, coding: Literal["rate", "latency"] = "rate", split: str = "train",
           test_fraction: float = 0.25, seed: int = 0) -> SpikeDataset:
    """Spike-coded scikit-learn digits; the train/test split is fixed by `seed` (stratified)."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if coding not in ("rate", "latency"):
        raise SpikeXInputError("--coding", "coding", f"'{coding}' is not 'rate' or 'latency'")
    images, labels = load_digits(return_X_y=True)
    intensity = (images / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    tr, te = train_test_split(np.arange(len(labels)), test_size=test_fraction, random_state=seed,
                              stratify=labels)
    idx = _split_index(split, tr, te)
    p = intensity[idx]
    rng = np.random.default_rng([seed, 0 if split == "train" else 1])
    if coding == "rate":
        x = rng.random((T, *p.shape), dtype=np.float32) < p
    else:
        fire_at = np.rint((1.0 - p) * (T - 1)).astype(int)
        x = (np.arange(T).reshape(T, 1, 1, 1, 1) == fire_at) & (p > 0)
    return SpikeDataset(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels[idx]).long())


def moving_bars(n: int = 800, T: int = 20, size: int = 16, noise: float = 0.01, split: str = "train",
                seed: int = 0) -> SpikeDataset:
    """Synthetic event streams: a bar of width 2..4 moves at 0.5..1.5 px/step in one of 4
    directions (label = direction); each pixel emits an ON event when its intensity rises
    and OFF when it falls; `noise` is the probability of a spurious event per pixel, step
    and polarity. Train and test draw from disjoint seeds."""
    if noise < 0 or noise > 1:
        raise SpikeXInputError("--noise", "noise", f"{noise} is not a probability")
    rng = np.random.default_rng([seed, 0 if split == "train" else 1, 7])
    labels = rng.integers(0, len(DIRECTIONS), n)
    width = rng.integers(2, 5, n)
    speed = rng.uniform(0.5, 1.5, n)
    start = rng.uniform(-4, size / 2, n)
    bright = rng.random(n) < 0.5  # bright bar on dark, or dark on bright: swaps polarities
    pos = np.arange(size, dtype=np.float32)
    t = np.arange(T + 1, dtype=np.float32)
    centre = start[None, :] + speed[None, :] * t[:, None]             # [T+1, n]
    inside = np.abs(pos[None, None, :] - centre[:, :, None]) < width[None, :, None] / 2
    inside = np.where(bright[None, :, None], inside, ~inside)          # [T+1, n, size]
    reverse = (labels == 1) | (labels == 3)
    inside[:, reverse] = inside[:, reverse, ::-1]
    frames = np.broadcast_to(inside[:, :, None, :], (T + 1, n, size, size)).copy()
    vertical = labels >= 2                                              # down/up: bar is horizontal
    frames[:, vertical] = frames[:, vertical].transpose(0, 1, 3, 2)
    on = frames[1:] & ~frames[:-1]
    off = ~frames[1:] & frames[:-1]
    x = np.stack([on, off], axis=2)                                     # [T, n, 2, H, W]
    x |= rng.random(x.shape, dtype=np.float32) < noise
    return SpikeDataset(torch.from_numpy(x.astype(np.float32)), torch.from_numpy(labels).long())


def load_task(task: str, split: str, T: int | None = None, seed: int = 0, **kw) -> SpikeDataset:
    """Data set by task name ('digits' or 'events')."""
    if task == "digits":
        return digits(T or 16, split=split, seed=seed, **kw)
    if task == "events":
        return moving_bars(T=T or 20, split=split, seed=seed, **kw)
    raise SpikeXInputError("--task", "task", f"'{task}' is not one of {', '.join(TASKS)}")


def _split_index(split: str, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    if split == "train":
        return train
    if split == "test":
        return test
    raise SpikeXInputError("--split", "split", f"'{split}' is not 'train' or 'test'")
