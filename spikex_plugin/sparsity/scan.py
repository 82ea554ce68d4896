"""Compiled scans of spike traces (numba; AccelForge already depends on it).

A trace is time-major [T, lines]: bool, or float32 as torch hands it over (read in place,
nonzero = spike). The scan takes chunks of lines small enough to stay in cache and packs
each line's steps into bytes, eight steps per byte, reading eight rows at a time: that pass
is a plain streaming read, about as fast as a sum. Zero runs then come from the bytes by
table lookup, lines side by side, with per-line state (time of the last spike, spike
count): a run that ends in a byte is counted from the byte's first spike, the runs inside
a byte are counted by the byte's bit pattern and expanded once at the end, and silent
bytes (eight at a time) cost one test. The work is thus per byte, not per spike, so dense
layers cost little more than sparse ones. Channel blocks are ORs of their lines' bytes and
go through the same walk. Large traces are split across threads by chunks.
"""

from __future__ import annotations

import functools
import math
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from numba import njit

_CHUNK = 4096  # about this many lines per chunk: their bytes stay in L1/L2
_WORKERS = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 4)
# Trace elements below which one thread is quicker. Measured inside a training step on two
# cores (where torch's OpenMP workers hold the other core): split in two, layers of
# 0.26M-2.6M elements took 1.05-2.2x as long as on one thread; 5.2M gained 5 %.
_PARALLEL_MIN = 1 << 22
_COPIES = 8  # histogram copies, one per line of an 8-byte word: repeated bins don't serialise
TILE_ROW_STEP, TILE_COLUMN_STEP = 6, 8  # where `tile_count_histograms` places its patches


def _byte_tables() -> tuple[np.ndarray, np.ndarray]:
    """Per byte value (bit j = step j of the byte): first spike | last spike << 4 | spike
    count << 8, and how many zero runs of each length 0..6 lie between its spikes."""
    packed = np.zeros(256, np.uint64)
    inner = np.zeros((256, 7), np.int64)
    for b in range(1, 256):
        bits = [j for j in range(8) if b >> j & 1]
        packed[b] = bits[0] | bits[-1] << 4 | len(bits) << 8
        for lo, hi in zip(bits, bits[1:]):
            inner[b, hi - lo - 1] += 1
    return packed, inner


_BYTE, _INNER = _byte_tables()  # one lookup per byte in the walk; runs inside it


def scan_trace(active: np.ndarray, lines_per_block: int = 1):
    """Scan a trace [T, width] (nonzero = spike) once; blocks are runs of `lines_per_block`
    lines, which must divide the width.

    Returns spikes per step [T], the zero-run-length histogram [T + 1] (runs between spike
    sentinels at t = -1 and t = T), the histogram of spikes per line [T + 1], and each
    block's steps as bytes [ceil(T / 8), width // lines_per_block] (bit t % 8 of byte t // 8).
    """
    if active.ndim != 2 or active.shape[1] % lines_per_block:
        raise ValueError(f"trace {active.shape}: need [T, width] with width a multiple of {lines_per_block}")
    T, width = active.shape
    if active.dtype not in (np.bool_, np.float32):  # compiled for bytes and float32 only
        active = active != 0
    active = np.ascontiguousarray(active)
    # One compiled signature: the unused source is an empty array.
    if active.dtype == np.float32:
        args = (np.empty((0, 0), np.uint8), active)
    else:
        args = (active.view(np.uint8), np.empty((0, 0), np.float32))
    # Chunks of whole blocks and whole 8-line words: no two chunks write the same output.
    unit = math.lcm(lines_per_block, 8)
    chunk = max(_CHUNK // unit, 1) * unit
    args += (T, lines_per_block, chunk)
    # Threads (the kernel releases the GIL) each take a contiguous run of chunks; Python
    # threads rather than numba's pool, whose spinning workers fight torch's.
    chunks = -(-width // chunk)
    parts = min(_WORKERS, chunks) if T * width >= _PARALLEL_MIN else 1
    bounds = [chunks * i // parts * chunk for i in range(parts)] + [width]
    others = [_pool().submit(_scan, *args, bounds[i], bounds[i + 1]) for i in range(1, parts)]
    results = [_scan(*args, bounds[0], bounds[1])] + [f.result() for f in others]  # part 0 here
    if parts == 1:
        return results[0]
    return (sum(r[0] for r in results), sum(r[1] for r in results), sum(r[2] for r in results),
            np.concatenate([r[3] for r in results], axis=1))


@functools.cache
def _pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max(_WORKERS - 1, 1), thread_name_prefix="spikex-scan")  # + the caller


@njit(inline="always")
def _row(src, t, T, lo, n):
    """Row t of lines lo..lo+n-1, or the last row past T (masked off by the caller)."""
    return src[min(t, T - 1), lo:lo + n]


@njit(inline="always")
def _pack(src, T, lo, n, packed, steps):
    """Bytes packed[g, i] of lines lo..lo+n-1 (bit j: step 8g + j nonzero); adds the spikes
    of each step to `steps`. Eight rows at a time, so each byte is written once; past T the
    last row is read again and masked off, which keeps one vectorisable loop."""
    for g in range(packed.shape[0]):
        dst, t0 = packed[g], 8 * g
        r0, r1 = _row(src, t0, T, lo, n), _row(src, t0 + 1, T, lo, n)
        r2, r3 = _row(src, t0 + 2, T, lo, n), _row(src, t0 + 3, T, lo, n)
        r4, r5 = _row(src, t0 + 4, T, lo, n), _row(src, t0 + 5, T, lo, n)
        r6, r7 = _row(src, t0 + 6, T, lo, n), _row(src, t0 + 7, T, lo, n)
        v0, v1, v2, v3 = np.int32(t0 < T), np.int32(t0 + 1 < T), np.int32(t0 + 2 < T), np.int32(t0 + 3 < T)
        v4, v5, v6, v7 = np.int32(t0 + 4 < T), np.int32(t0 + 5 < T), np.int32(t0 + 6 < T), np.int32(t0 + 7 < T)
        c0 = c1 = c2 = c3 = c4 = c5 = c6 = c7 = 0
        for i in range(n):
            a0, a1 = np.int32(r0[i] != 0) & v0, np.int32(r1[i] != 0) & v1
            a2, a3 = np.int32(r2[i] != 0) & v2, np.int32(r3[i] != 0) & v3
            a4, a5 = np.int32(r4[i] != 0) & v4, np.int32(r5[i] != 0) & v5
            a6, a7 = np.int32(r6[i] != 0) & v6, np.int32(r7[i] != 0) & v7
            dst[i] = np.uint8(a0 | a1 << 1 | a2 << 2 | a3 << 3 | a4 << 4 | a5 << 5 | a6 << 6 | a7 << 7)
            c0 += a0
            c1 += a1
            c2 += a2
            c3 += a3
            c4 += a4
            c5 += a5
            c6 += a6
            c7 += a7
        for j, c in enumerate((c0, c1, c2, c3, c4, c5, c6, c7)):
            if t0 + j < T:
                steps[t0 + j] += c


@njit(inline="always")
def _walk(packed, n, T, runs, inner, counts):
    """Zero runs of lines 0..n-1 of `packed` [G, >= ceil8(n)] (bytes past n must be zero).
    A run that ends at a byte's first spike goes to runs[copy, length], the byte's pattern
    to inner[copy, byte] (expanded by `_expand`), each line's spike count to counts[copy]
    (if it has room). Within a nonzero 8-byte word, silent bytes go branch-free to the
    spare last column of `runs` (a mispredicted branch costs more than the store).
    Indices are unsigned: numba then skips its negative-index checks (7 % of the scan)."""
    u = np.uint64
    width = (n + 7) // 8 * 8
    spare = u(runs.shape[1] - 1)
    after_last = np.zeros(width, u)  # time of the line's last spike + 1
    spikes = np.zeros(width, u)
    for g in range(packed.shape[0]):
        row = packed[g, :width]
        words = row.view(u)
        byte_start = u(8 * g)
        for k in range(words.size):
            if words[k] == 0:  # eight silent bytes
                continue
            for m in range(8):
                copy = u(m)
                i = u(8 * k) + copy
                b = row[i]
                e, last, silent = _BYTE[b], after_last[i], b == 0
                spikes[i] += e >> u(8)
                inner[copy, b] += 1
                runs[copy, spare if silent else byte_start + (e & u(15)) - last] += 1
                after_last[i] = last if silent else byte_start + (e >> u(4) & u(15)) + u(1)
    for j in range(n):
        i = u(j)
        runs[i & u(7), u(T) - after_last[i]] += 1
        if counts.size:
            counts[i & u(7), spikes[i]] += 1


@njit(inline="always")
def _expand(runs, inner):
    """Histogram [T + 1] from the per-copy run counts and byte patterns of `_walk`."""
    out = runs[:, :-1].sum(axis=0)
    for copy in range(inner.shape[0]):
        for b in range(1, 256):
            if inner[copy, b]:
                for length in range(7):
                    out[length] += inner[copy, b] * _INNER[b, length]
    return out


@njit(cache=True, nogil=True)
def _scan(raw, floats, T, lines_per_block, chunk, start, stop):
    """Lines [start, stop) of the trace; blocks from start // lines_per_block on."""
    G = (T + 7) // 8
    steps = np.zeros(T, np.int64)
    runs = np.zeros((_COPIES, T + 2), np.int64)  # + 1: the spare column of `_walk`
    inner = np.zeros((_COPIES, 256), np.int64)
    counts = np.zeros((_COPIES, T + 1), np.int64)
    blocks = np.zeros((G, (stop - start) // lines_per_block), np.uint8)
    packed = np.zeros((G, chunk), np.uint8)
    for lo in range(start, stop, chunk):
        n = min(stop - lo, chunk)
        if floats.size:
            _pack(floats, T, lo, n, packed, steps)
        else:
            _pack(raw, T, lo, n, packed, steps)
        packed[:, n:] = 0
        _walk(packed, n, T, runs, inner, counts)
        first_block = (lo - start) // lines_per_block
        if lines_per_block == 1:
            blocks[:, first_block:first_block + n] = packed[:, :n]
            continue
        for g in range(G):  # chunks hold whole blocks
            for b in range(n // lines_per_block):
                any_spike = np.uint8(0)
                for i in range(b * lines_per_block, (b + 1) * lines_per_block):
                    any_spike |= packed[g, i]
                blocks[g, first_block + b] = any_spike
    return steps, _expand(runs, inner), counts.sum(axis=0), blocks


@njit(cache=True, nogil=True)
def channel_block_runs(blocks: np.ndarray, T: int, samples: int, levels: int, skip_first: bool) -> np.ndarray:
    """Zero-run-length histograms [levels, T + 1] of channel blocks: level l ORs groups of
    2^l channels (C // 2^l groups, the last channels left over), from each channel's step
    bytes [ceil(T / 8), samples * C] (`scan_trace`'s blocks). Each level ORs pairs of the one
    below. `skip_first` leaves level 0 empty, for callers that have it already."""
    G, C = blocks.shape[0], blocks.shape[1] // samples
    out = np.zeros((levels, T + 1), np.int64)
    no_counts = np.zeros((0, 0), np.int64)
    below = blocks
    for lv in range(levels):
        groups = C >> lv
        width = samples * groups
        level = np.zeros((G, (width + 7) // 8 * 8), np.uint8)  # whole 8-byte words for `_walk`
        if lv:  # OR pairs of the level below, sample by sample
            stride = C >> (lv - 1)
            for g in range(G):
                for s in range(samples):
                    for b in range(groups):
                        level[g, s * groups + b] = below[g, s * stride + 2 * b] | below[g, s * stride + 2 * b + 1]
        else:
            level[:, :width] = blocks
        if lv or not skip_first:
            runs = np.zeros((_COPIES, T + 2), np.int64)
            inner = np.zeros((_COPIES, 256), np.int64)
            _walk(level, width, T, runs, inner, no_counts)
            out[lv] = _expand(runs, inner)
        below = level
    return out


@njit(cache=True)
def box_count_histograms(active: np.ndarray, samples: int, boxes: np.ndarray, spans: np.ndarray,
                         hist: np.ndarray) -> None:
    """Adds to hist[i, j, k] the number of (sample, b x b box, group of g aligned consecutive
    frames of one sample) cases, b = boxes[i], g = spans[j], in which the busiest frame of
    the group has k active lines (all channels of the box's pixels; g = 1: each frame);
    `active` is [frames, C, H, W] (nonzero = active; bytes or float32), frames ordered
    (window, sample); a last partial group is left out. Boxes sit at every second row and
    column where they fit (a sample of positions that halves the histogram work twice
    over; an integral image per frame)."""
    frames, C, H, W = active.shape
    windows = frames // samples
    pix = np.zeros((H + 1, W + 1), np.int64)
    count = np.zeros((H, W), np.int32)
    busiest = np.zeros((boxes.size, H, W, spans.size), np.int32)   # per box, corner and span
    first = np.zeros(spans.size, np.bool_)   # frame k opens a group of span j
    last = np.zeros(spans.size, np.bool_)    # frame k closes one
    for s in range(samples):
        for k in range(windows):
            f = k * samples + s
            for j in range(spans.size):
                g = spans[j]
                whole = k // g * g + g <= windows   # not in the last, partial group
                first[j] = whole and k % g == 0
                last[j] = whole and k % g == g - 1
            count[:] = 0
            for c in range(C):
                frame = active[f, c]
                for h in range(H):
                    for w in range(W):
                        count[h, w] += frame[h, w] != 0
            for h in range(1, H + 1):
                for w in range(1, W + 1):
                    pix[h, w] = count[h - 1, w - 1] + pix[h - 1, w] + pix[h, w - 1] - pix[h - 1, w - 1]
            for i in range(boxes.size):
                b = boxes[i]
                for h in range(0, H - b + 1, 2):
                    for w in range(0, W - b + 1, 2):
                        n = pix[h + b, w + b] - pix[h, w + b] - pix[h + b, w] + pix[h, w]
                        for j in range(spans.size):
                            m = n if first[j] else max(busiest[i, h, w, j], n)
                            busiest[i, h, w, j] = m
                            if last[j]:
                                hist[i, j, m] += 1


@njit(cache=True)
def row_count_histograms(active: np.ndarray, samples: int, lengths: np.ndarray, hist: np.ndarray) -> None:
    """Adds to hist[i, k] the number of (frame, channel, row, start) cases in which k of the
    n = lengths[i] neighbouring pixels from `start` along one row of one channel are active;
    `active` is [frames, C, H, W] (nonzero = active; bytes or float32), frames ordered
    (window, sample). A sample of the cases, as the boxes take one (the histogram increments
    set the cost): in window k, channel c, every eighth row from 2 ((-c - k) mod 4), starts
    at every second position where the n pixels fit. The choice does not depend on the
    sample, so batches add up to the whole trace's histogram."""
    frames, C, H, W = active.shape
    prefix = np.zeros(W + 1, np.int64)
    for f in range(frames):
        k = f // samples
        for c in range(C):
            for h in range(2 * ((4 - (c + k) % 4) % 4), H, 8):
                for w in range(W):
                    prefix[w + 1] = prefix[w] + (active[f, c, h, w] != 0)
                for i in range(lengths.size):
                    n = lengths[i]
                    for w in range(0, W - n + 1, 2):
                        hist[i, prefix[w + n] - prefix[w]] += 1


@njit(cache=True)
def byte_histogram(values: np.ndarray, hist: np.ndarray) -> None:
    """Adds to hist[v] the number of entries v of `values` (uint8, C order). Eight partial
    histograms in turn: runs of one value would otherwise wait on each increment."""
    flat = values.ravel()
    part = np.zeros((_COPIES, hist.size), np.int64)
    for i in range(flat.size):
        part[i & (_COPIES - 1), flat[i]] += 1
    hist += part.sum(axis=0)


@njit(inline="always")
def _add_pair(sums, kind, x, y):
    """Adds one pair (x, y) to the sums (n, x, y, x^2, y^2, xy) of row `kind`."""
    sums[kind, 0] += 1
    sums[kind, 1] += x
    sums[kind, 2] += y
    sums[kind, 3] += x * x
    sums[kind, 4] += y * y
    sums[kind, 5] += x * y


@njit(cache=True)
def tile_count_histograms(active: np.ndarray, samples: int, rows: int, pixels: int, hist: np.ndarray,
                          moments: np.ndarray) -> None:
    """Per chunk size g = 2^i (row i of `hist` and `moments`): adds to hist[i, k] the number
    of (frame, aligned chunk of g channels, patch) cases with k active lines, a patch being
    `rows` x `pixels` of each channel at every TILE_ROW_STEP-th row and TILE_COLUMN_STEP-th
    column where it fits (a sample that reads about half of each frame); adds to moments[i]
    (n, sum x, sum y, sum x^2, sum y^2, sum xy) over the pairs of one chunk and patch in
    consecutive windows of one sample. `active` is [frames, C, H, W] (nonzero = active;
    bytes or float32), frames ordered (window, sample)."""
    frames, C, H, W = active.shape
    ys, xs = (H - rows) // TILE_ROW_STEP + 1, (W - pixels) // TILE_COLUMN_STEP + 1
    previous = np.zeros((samples, C, ys * xs), np.int64)   # each sample's last window
    current = np.zeros((C, ys * xs), np.int64)
    for f in range(frames):
        s = f % samples
        current[:] = 0
        for c in range(C):
            for y in range(ys):
                for h in range(TILE_ROW_STEP * y, TILE_ROW_STEP * y + rows):
                    for x in range(xs):
                        n = 0
                        for w in range(TILE_COLUMN_STEP * x, TILE_COLUMN_STEP * x + pixels):
                            n += active[f, c, h, w] != 0
                        current[c, y * xs + x] += n
        for i in range(hist.shape[0]):
            g = 1 << i
            for j in range(C // g):
                for p in range(ys * xs):
                    now = 0
                    before = 0
                    for c in range(j * g, (j + 1) * g):
                        now += current[c, p]
                        before += previous[s, c, p]
                    hist[i, now] += 1
                    if f >= samples:
                        _add_pair(moments, i, before, now)
        previous[s] = current


@njit(cache=True)
def neighbour_pair_sums(counts: np.ndarray, sums: np.ndarray) -> None:
    """Adds (n, sum x, sum y, sum x^2, sum y^2, sum xy) over the pairs (x: a pixel's count,
    y: its neighbour's) of `counts` [windows, C, H, W] to sums[0] (one row down) and sums[1]
    (the next channel), in one pass and without the temporaries of array products."""
    B, C, H, W = counts.shape
    for b in range(B):
        for c in range(C):
            for h in range(H):
                for w in range(W):
                    x = np.int64(counts[b, c, h, w])
                    if h + 1 < H:
                        _add_pair(sums, 0, x, np.int64(counts[b, c, h + 1, w]))
                    if c + 1 < C:
                        _add_pair(sums, 1, x, np.int64(counts[b, c + 1, h, w]))
