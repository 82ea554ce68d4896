"""Compiled scans of spike traces (numba; AccelForge already depends on it).

A trace is time-major [T, lines] (bool, read eight lines per 64-bit word so that a silent
stretch costs one test per word; or float32 as torch hands it over, with no converted copy).
The scan takes chunks of lines small enough to stay in cache. It turns each line's T steps
into bits of 64-step words, then walks each line's set bits in time order: a zero run is
the distance between consecutive set bits. Work is one read of the trace plus a few
register operations per spike. Channel blocks are ORs of their lines' words, so the SP-MB
statistics come from the same words. Large traces are split across threads by chunks.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

_CHUNK = 4096  # about this many lines per chunk: their words stay in L1/L2
_WORKERS = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 4)
_PARALLEL_MIN = 1 << 20  # trace elements below which one thread is quicker
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
    T, width = active.shape
    if active.dtype not in (np.bool_, np.float32):  # compiled for bytes and float32 only
        active = active != 0
    lanes = 8 // active.itemsize  # lines per 64-bit word
    if width % lanes:  # whole words per step: pad with silent lines, which the scan ignores
        padded = np.zeros((T, width + lanes - width % lanes), dtype=active.dtype)
        padded[:, :width] = active
        active = padded
    # Chunks of whole blocks and whole words: no two chunks write the same output.
    unit = math.lcm(lines_per_block, 8)
    chunk = max(_CHUNK // unit, 1) * unit
    active = np.ascontiguousarray(active)
    floats = active if lanes == 2 else np.empty((0, 0), np.float32)  # one compiled signature
    args = (active.view(np.uint64), floats, lanes, width, lines_per_block, chunk)
    # Threads (the kernel releases the GIL) each take a contiguous run of chunks; Python
    # threads rather than numba's pool, whose spinning workers fight torch's.
    chunks = -(-width // chunk)
    parts = min(_WORKERS, chunks) if T * width >= _PARALLEL_MIN else 1
    bounds = [chunks * i // parts * chunk for i in range(parts)] + [width]
    if parts == 1:
        return _scan(*args, 0, width)
    results = list(_pool().map(lambda i: _scan(*args, bounds[i], bounds[i + 1]), range(parts)))
    return (sum(r[0] for r in results), sum(r[1] for r in results), sum(r[2] for r in results),
            np.concatenate([r[3] for r in results]))


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(_WORKERS, thread_name_prefix="spikex-scan")


@njit(inline="always")
def _add_runs(words, T, hist):
    """Add the zero runs of one line, its T steps as bits `words`, to `hist`; return its
    spike count. Visits the set bits in time order (lowest first)."""
    prev, spikes = -1, 0
    for k in range(words.size):
        w = words[k]
        while w != 0:
            lowest = w & (~w + np.uint64(1))
            t = 64 * k + _BIT_INDEX[(lowest * _DE_BRUIJN) >> np.uint64(58)]
            hist[t - prev - 1] += 1
            prev = t
            spikes += 1
            w ^= lowest
    hist[T - 1 - prev] += 1
    return spikes


@njit(cache=True, nogil=True)
def _scan(words, floats, lanes, width, lines_per_block, chunk, start, stop):
    """Lines [start, stop) of the trace; blocks from start // lines_per_block on."""
    T = words.shape[0]
    n_words = (T + 63) // 64
    steps = np.zeros(T, np.int64)
    runs = np.zeros(T + 1, np.int64)
    counts = np.zeros(T + 1, np.int64)
    block_bits = np.zeros(((stop - start) // lines_per_block, n_words), np.uint64)
    for lo in range(start, stop, chunk):
        n = min(stop - lo, chunk)
        bits = np.zeros((n_words, n + 8), np.uint64)  # + 8: padding lanes of the last word
        for t in range(T):
            row = words[t]
            word = bits[t // 64]
            bit = np.uint64(1) << np.uint64(t % 64)
            spikes = 0
            if lanes == 2:  # float32, one compare per line (cheaper than word tests here)
                values = floats[t]
                for i in range(n):
                    spike = values[lo + i] != 0
                    word[i] |= bit * np.uint64(spike)
                    spikes += spike
            else:  # bytes holding 0 or 1, eight lines per word: silent words cost one test
                for k in range(lo // 8, (lo + n + 7) // 8):
                    w = row[k]
                    if w == 0:
                        continue
                    base = 8 * k - lo
                    for m in range(8):
                        spike = (w >> np.uint64(8 * m)) & np.uint64(1)
                        word[base + m] |= bit * spike
                        spikes += spike
            steps[t] += spikes
        silent = 0
        for b in range(n // lines_per_block):  # chunks hold whole blocks
            block = block_bits[(lo - start) // lines_per_block + b]
            for i in range(b * lines_per_block, (b + 1) * lines_per_block):
                any_spike = np.uint64(0)
                for k in range(n_words):
                    any_spike |= bits[k, i]
                if any_spike == 0:
                    silent += 1
                    continue
                for k in range(n_words):
                    block[k] |= bits[k, i]
                counts[_add_runs(bits[:, i], T, runs)] += 1
        runs[T] += silent
        counts[0] += silent
    return steps, runs, counts, block_bits


def zero_runs(active: np.ndarray) -> np.ndarray:
    """Zero-run-length histogram [T + 1] of a trace [T, lines]."""
    return scan_trace(active)[1]


@njit(cache=True, nogil=True)
def channel_block_runs(block_bits: np.ndarray, T: int, levels: int, skip_first: bool) -> np.ndarray:
    """Zero-run-length histograms [levels, T + 1] of channel blocks: level l ORs groups of
    2^l channels (C // 2^l groups, the last channels left over), from each channel's step
    bits [samples, C, words] (`scan_trace`'s blocks). Each level ORs pairs of the one below.
    `skip_first` leaves level 0 empty, for callers that have it already (one line per channel)."""
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
                if lv or not skip_first:
                    _add_runs(level[b], T, out[lv])
    return out
