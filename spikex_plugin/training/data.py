"""Offline spike data sets, deterministic by seed (no downloads).

- digits: scikit-learn's bundled 8x8 digits (1,797 images), rate coded (Bernoulli with
  p = intensity per step) or latency coded (one spike per pixel, brighter = earlier), as
  [T, N, 1, 8, 8].
- events: a synthetic DVS-like task: bars sweeping in one of 4 directions (the class) over
  a 2-polarity sensor (ON where a pixel brightens, OFF where it darkens) with random
  position, width, speed and contrast sign, plus uniform noise events: [T, N, 2, H, W].
- nmnist: N-MNIST-like: the digits upsampled to 28x28 in a 34x34 field, seen by the
  emulated event camera (sensor/dvs.py) moving through N-MNIST's three saccades, T = 30.
- dvsgesture: DVS-Gesture-like: a rendered person doing one of 11 gestures
  (sensor/scenes.py), emulated at the DVS128's 128x128 and downsampled to `size`, T = 300.
Emulated tasks are stored bit-packed and unpacked per batch (T = 300 is large).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.sensor.dvs import DVSParams, bin_events, downsample_events, emulate
from spikex_plugin.sensor.scenes import GESTURES, gesture_video, saccade_video

TASKS = ("digits", "events", "nmnist", "dvsgesture")
# Event-camera settings of the emulated tasks: v2e's pixel defaults, with background
# activity raised to a visible level (our choice; docs/event-camera.md).
TASK_SENSOR = DVSParams(leak_rate_hz=0.05, shot_noise_rate_hz=0.1)
NMNIST_CLIP_S = 0.3        # N-MNIST: three 100 ms saccades
GESTURE_CLIP_S = 1.5       # 300 bins of 5 ms
SUBSTEPS = 2               # rendered frames per time bin (motion below ~1 px per frame)
DIRECTIONS = ("right", "left", "down", "up")


@dataclass
class SpikeDataset:
    """Time-major spikes x [T, N, C, H, W] (0/1) and labels y [N]. With `width` set, x is
    bit-packed along its last axis (`np.packbits`) and `batches` unpacks it."""

    x: torch.Tensor
    y: torch.Tensor
    width: int | None = None

    @property
    def T(self) -> int:
        return self.x.shape[0]

    @property
    def input_shape(self) -> tuple[int, int, int]:
        shape = tuple(self.x.shape[2:])
        return shape if self.width is None else (*shape[:-1], self.width)

    def __len__(self) -> int:
        return self.x.shape[1]

    def batches(self, batch_size: int, shuffle: bool = False, seed: int = 0):
        """Yield (x [T, B, ...], y [B]) batches; shuffled deterministically by seed."""
        order = torch.randperm(len(self), generator=torch.Generator().manual_seed(seed)) if shuffle \
            else torch.arange(len(self))
        for i in range(0, len(self), batch_size):
            idx = order[i:i + batch_size]
            x = self.x[:, idx]
            if self.width is not None:
                x = torch.from_numpy(np.unpackbits(x.numpy(), axis=-1, count=self.width))
            yield x.float(), self.y[idx]


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


def packed_dataset(x: np.ndarray, labels: np.ndarray) -> SpikeDataset:
    """SpikeDataset of bool spikes [T, N, C, H, W], bit-packed along W."""
    return SpikeDataset(torch.from_numpy(np.packbits(x, axis=-1)), torch.from_numpy(labels).long(), x.shape[-1])


def nmnist_like(split: str = "train", T: int = 30, n: int | None = None, test_fraction: float = 0.25,
                seed: int = 0, sensor: DVSParams = TASK_SENSOR) -> SpikeDataset:
    """N-MNIST-like events [T, N, 2, 34, 34]: scikit-learn's digits (8x8) upsampled to 28x28
    (bilinear), placed in a 34x34 field and moved through the three saccades (300 ms); the
    first `n` of the split (stratified as `digits`). Each sample's sensor noise is seeded."""
    from scipy.ndimage import zoom
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    images, labels = load_digits(return_X_y=True)
    tr, te = train_test_split(np.arange(len(labels)), test_size=test_fraction, random_state=seed, stratify=labels)
    idx = _split_index(split, tr, te)[:n]
    frames, dt = SUBSTEPS * T + 1, NMNIST_CLIP_S / (SUBSTEPS * T)
    x = np.empty((T, len(idx), 2, 34, 34), dtype=bool)
    for j, i in enumerate(idx):
        digit = np.clip(zoom(images[i].reshape(8, 8) / 16.0, 3.5, order=1), 0, 1)
        video = saccade_video(digit, 34, frames)
        x[:, j] = bin_events(emulate(video, dt, sensor, seed=[seed, int(i)]), T)
    return packed_dataset(x, labels[idx])


def dvs_gesture_like(split: str = "train", T: int = 300, n: int = 110, size: int = 64, seed: int = 0,
                     sensor: DVSParams = TASK_SENSOR) -> SpikeDataset:
    """DVS-Gesture-like events [T, n, 2, size, size]: n performances (classes in turn, see
    sensor.scenes.GESTURES) over 1.5 s, emulated at 128x128 and downsampled to `size` (a
    coarse pixel fires when any of its fine pixels does). Train and test use disjoint seeds."""
    if 128 % size:
        raise SpikeXInputError("--size", "size", f"{size} does not divide the 128x128 sensor")
    split_id = {"train": 0, "test": 1}.get(split)
    if split_id is None:
        raise SpikeXInputError("--split", "split", f"'{split}' is not 'train' or 'test'")
    labels = np.arange(n) % len(GESTURES)
    frames, dt = SUBSTEPS * T + 1, GESTURE_CLIP_S / (SUBSTEPS * T)
    x = np.empty((T, n, 2, size, size), dtype=bool)
    for i in range(n):
        sample_seed = [seed, split_id, i]
        video = gesture_video(int(labels[i]), 128, frames, dt, seed=np.random.SeedSequence(sample_seed).generate_state(1)[0])
        x[:, i] = downsample_events(bin_events(emulate(video, dt, sensor, seed=sample_seed), T), 128 // size)
    return packed_dataset(x, labels)


def load_task(task: str, split: str, T: int | None = None, seed: int = 0, **kw) -> SpikeDataset:
    """Data set by task name (see TASKS)."""
    if task == "digits":
        return digits(T or 16, split=split, seed=seed, **kw)
    if task == "events":
        return moving_bars(T=T or 20, split=split, seed=seed, **kw)
    if task == "nmnist":
        return nmnist_like(split, T or 30, seed=seed, **kw)
    if task == "dvsgesture":
        return dvs_gesture_like(split, T or 300, seed=seed, **kw)
    raise SpikeXInputError("--task", "task", f"'{task}' is not one of {', '.join(TASKS)}")


def _split_index(split: str, train: np.ndarray, test: np.ndarray) -> np.ndarray:
    if split == "train":
        return train
    if split == "test":
        return test
    raise SpikeXInputError("--split", "split", f"'{split}' is not 'train' or 'test'")
