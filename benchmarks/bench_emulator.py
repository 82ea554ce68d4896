"""Event-camera emulation speed: one DVS-Gesture-like sample at T = 300 (render 601 frames of
128x128, emulate, bin, downsample to 64x64). Issue target: < 1 s per sample.

    python benchmarks/bench_emulator.py [--reps 7]

Baseline in the same run: the cheapest event model there is, a numpy frame difference of
log intensity against one fixed threshold (no per-pixel state, mismatch, refractory period
or noise) over the same rendered video; the ratio shows what the full pixel model costs.
Rounds run both in a shuffled order; the best round and the median ratio are reported.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

import numpy as np

from spikex_plugin.sensor.dvs import bin_events, downsample_events, emulate
from spikex_plugin.sensor.scenes import gesture_video
from spikex_plugin.training.data import GESTURE_CLIP_S, SUBSTEPS, TASK_SENSOR

T = 300
FRAMES, DT = SUBSTEPS * T + 1, GESTURE_CLIP_S / (SUBSTEPS * T)


def full_sample(seed: int) -> np.ndarray:
    video = gesture_video(seed % 11, 128, FRAMES, DT, seed)
    return downsample_events(bin_events(emulate(video, DT, TASK_SENSOR, seed), T), 2)


def frame_difference(seed: int) -> np.ndarray:
    video = gesture_video(seed % 11, 128, FRAMES, DT, seed)
    d = np.diff(np.log(np.maximum(video, 20 / 255)), axis=0)
    counts = np.stack([d >= 0.2, d <= -0.2], axis=1)
    return downsample_events(bin_events(counts, T), 2)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=7)
    args = ap.parse_args()
    full_sample(0), frame_difference(0)   # compile numba kernels
    times = {"full": [], "baseline": []}
    rng = random.Random(0)
    for r in range(args.reps):
        order = list(times)
        rng.shuffle(order)
        for name in order:
            fn = full_sample if name == "full" else frame_difference
            t = time.perf_counter()
            fn(r + 1)
            times[name].append(time.perf_counter() - t)
    best = {k: min(v) for k, v in times.items()}
    ratio = statistics.median(f / b for f, b in zip(times["full"], times["baseline"]))
    print(f"DVS-Gesture-like sample, T={T}, 128x128 -> 64x64: best {best['full']:.3f} s "
          f"(median {statistics.median(times['full']):.3f} s; target < 1 s: {'met' if best['full'] < 1 else 'MISSED'})")
    print(f"frame-difference baseline: best {best['baseline']:.3f} s; full / baseline (median of rounds) {ratio:.2f}x")


if __name__ == "__main__":
    main()
