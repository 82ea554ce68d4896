"""Compiled scans of spike traces (numba; AccelForge already depends on it).

A trace is time-major [T, lines] (bool, or float32 as torch hands it over: no converted
copy). The scan takes chunks of lines small enough to stay in cache. It first turns each
line's T steps into bits of 64-step words (a vectorised pass over the rows, which also
counts the spikes per step), then walks each line's set bits in time order: a zero run is
the distance between consecutive set bits. Work is one read of the trace plus a few
register operations per spike; chunks run in parallel. Channel blocks are ORs of the
lines' words, so SP-MB block statistics come from the same words.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_CHUNK = 4096  # about this many lines per chunk: their words stay in L1/L2
_DE_BRUIJN = np.uint64(0x03F79D71B4CB0A89)
# Index of the single set bit of x: _BIT_INDEX[(x * _DE_BRUIJN) >> 58].
_BIT_INDEX = np.zeros(64, np.int64)
_BIT_INDEX[[((1 << i) * 0x03F79D71B4CB0A89 % (1 << 64)) >> 58 for i in range(64)]] = np.arange(64)


def scan_trace(active: np.ndarray, lines_per_block: int = 1):
    """Scan a trace [T, width] (nonzero = spike) once; blocks are runs of `lines_per_block`
    lines, which must divide the width.

    Returns spikes per step [T], the zero-run-length histogram [T + 1] (runs between spike
    sentinels at t = -1 and t = T), the histogram of spikes per line [T + 1], and each
    block's steps as bits [width // lines_per_block, ceil(T / 64)] (bit t % 64 of word t // 64).
    """
    if active.ndim != 2 or active.shape[1] % lines_per_block:
        raise ValueError(f"trace {active.shape}: need [T, width] with width a multiple of {lines_per_block}")
    if active.dtype == np.bool_:
        active = active.view(np.uint8)
    elif active.dtype != np.float32:  # compiled for bytes and float32 only
        active = (active != 0).view(np.uint8)
    chunk = max(_CHUNK // lines_per_block, 1) * lines_per_block  # whole blocks: no shared writes
    return _scan(np.ascontiguousarray(active), lines_per_block, chunk)


@njit(cache=True, nogil=True)
def _scan(active, lines_per_block, chunk):
    T, width = active.shape
    n_words = (T + 63) // 64
    n_chunks = (width + chunk - 1) // chunk
    steps = np.zeros((n_chunks, T), np.int64)
    runs = np.zeros((n_chunks, T + 1), np.int64)
    counts = np.zeros((n_chunks, T + 1), np.int64)
    block_bits = np.zeros((width // lines_per_block, n_words), np.uint64)
    for c in range(n_chunks):
        lo = c * chunk
        n = min(width - lo, chunk)
        bits = np.zeros((n_words, n), np.uint64)
        for t in range(T):
            row = active[t, lo:lo + n]
            word = bits[t // 64]
            bit = np.uint64(1) << np.uint64(t % 64)
            spikes = 0
            for i in range(n):  # vectorised: no branch
                spike = row[i] != 0
                word[i] |= bit * np.uint64(spike)
                spikes += spike
            steps[c, t] = spikes
        hist = np.zeros(T + 1, np.int64)
        count = np.zeros(T + 1, np.int64)
        for i in range(n):
            prev, spikes = -1, 0
            for k in range(n_words):
                w = bits[k, i]
                while w != 0:
                    lowest = w & (~w + np.uint64(1))
                    t = 64 * k + _BIT_INDEX[(lowest * _DE_BRUIJN) >> np.uint64(58)]
                    hist[t - prev - 1] += 1
                    prev = t
                    spikes += 1
                    w ^= lowest
            hist[T - 1 - prev] += 1
            count[spikes] += 1
        runs[c] = hist
        counts[c] = count
        for i in range(n):
            block = block_bits[(lo + i) // lines_per_block]
            for k in range(n_words):
                block[k] |= bits[k, i]
    return steps.sum(axis=0), runs.sum(axis=0), counts.sum(axis=0), block_bits


def zero_runs(active: np.ndarray) -> np.ndarray:
    """Zero-run-length histogram [T + 1] of a trace [T, lines]."""
    return scan_trace(active)[1]


@njit(cache=True, nogil=True)
def channel_block_runs(block_bits: np.ndarray, T: int, levels: int) -> np.ndarray:
    """Zero-run-length histograms [levels, T + 1] of channel blocks: level l ORs groups of
    2^l channels (C // 2^l groups, the last channels left over), from each channel's step
    bits [samples, C, words] (`scan_trace`'s blocks). Each level ORs pairs of the one below."""
    samples, C, n_words = block_bits.shape
    out = np.zeros((levels, T + 1), np.int64)
    level = np.empty((C, n_words), np.uint64)
    for s in range(samples):
        level[:, :] = block_bits[s]
        for lv in range(levels):
            groups = C >> lv
            for b in range(groups):
                if lv:  # in place: group b only reads 2b and 2b + 1 >= b
                    for k in range(n_words):
                        level[b, k] = level[2 * b, k] | level[2 * b + 1, k]
                prev = -1
                for k in range(n_words):
                    w = level[b, k]
                    while w != 0:
                        lowest = w & (~w + np.uint64(1))
                        t = 64 * k + _BIT_INDEX[(lowest * _DE_BRUIJN) >> np.uint64(58)]
                        out[lv, t - prev - 1] += 1
                        prev = t
                        w ^= lowest
                out[lv, T - 1 - prev] += 1
    return out
