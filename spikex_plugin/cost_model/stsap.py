"""PTB's stSAP first-fit packing when live taps' windows are independent: the expected
slots of a pass, from a seeded Monte Carlo.

The draws come from numpy's generator in a fixed order (per tap: every sample's column
count, then every sample's column placement), drawn in chunks of taps; a numba kernel
packs them. Results are deterministic, so each is also kept in the disk cache
(`spikex_plugin.cache`), keyed by the arguments, this file's source and the numpy and numba
versions: a repeated run needs neither the draws nor numba.
"""

from __future__ import annotations

import functools
import math
from pathlib import Path

import numpy as np

from spikex_plugin import cache

_VERSION = "|".join([cache.package_versions("numpy", "numba"), cache.sources_digest(Path(__file__))])
_CHUNK_DRAWS = 1 << 20   # uniforms drawn at once (8 MB)


@functools.lru_cache(maxsize=1024)
def independent_first_fit(live_pmf: tuple, columns: int, tap_columns: tuple, samples: int = 256) -> float:
    """Expected first-fit slots of a pass whose live taps (count drawn from `live_pmf`) are
    each active in a number of the `columns` drawn from `tap_columns` (P(1), ..., P(columns)),
    those columns at random: each sample packs its taps in order, each into the first slot
    none of whose taps shares a column with it. When taps are active in many columns,
    first-fit needs well over the busiest column's count; taps that differ (a few always
    on, many rare) pack better than alike ones."""
    if not tap_columns or len(live_pmf) < 2:
        return 0.0
    key = f"{_VERSION}|{live_pmf}|{columns}|{tap_columns}|{samples}"
    return cache.cached("stsap-first-fit", key, lambda: first_fit_monte_carlo(live_pmf, columns, tap_columns, samples),
                        lambda v: isinstance(v, float))


def binomial_tap_columns(columns: int, windows_per_live: float) -> tuple:
    """`independent_first_fit`'s `tap_columns` for alike taps active in each column
    independently, `windows_per_live` of the `columns` on average given one at least
    (empty when no tap is live)."""
    if windows_per_live <= 0:
        return ()
    q = column_probability(columns, min(windows_per_live, columns))
    k = np.arange(1, columns + 1)
    per_tap = np.array([math.comb(columns, j) for j in k]) * q ** k * (1 - q) ** (columns - k)
    return tuple((per_tap / per_tap.sum()).tolist())


def recorded_tap_columns(line_pmf: np.ndarray, positions: int) -> tuple:
    """`independent_first_fit`'s `tap_columns` from P(a line is active in k of a pass's
    windows) (`DensityModel.line_window_count_pmf`), with `positions` output positions side
    by side taken as independent lines; a tap is live when it takes a column (empty when no
    tap is live)."""
    pmf = np.array([1.0])
    for _ in range(positions):
        pmf = np.convolve(pmf, line_pmf)
    if pmf[1:].sum() <= 0:
        return ()
    return tuple(np.round(pmf[1:] / pmf[1:].sum(), 9).tolist())


def first_fit_monte_carlo(live_pmf: tuple, columns: int, tap_columns: tuple, samples: int) -> float:
    """`independent_first_fit` computed: `samples` passes, seed 0. Draw order: the samples'
    live-tap counts (inverse CDF of `live_pmf`), then for each tap up to the largest count:
    every sample's column count (inverse CDF of `tap_columns`), then every sample's
    `columns` uniforms, whose argsort places the tap (it takes the columns at which the
    argsort holds an index below its count), also drawn for samples with fewer taps."""
    rng = np.random.default_rng(0)
    live = inverse_cdf(np.asarray(live_pmf) / sum(live_pmf), rng.random(samples))
    taps = int(live.max())
    taken = np.zeros((samples, columns, taps // 64 + 1), dtype=np.int64)   # slots hold at most `taps`
    used = np.zeros(samples, dtype=np.int64)
    first_free = np.zeros((samples, columns), dtype=np.int64)
    chunk = max(1, _CHUNK_DRAWS // (samples * (columns + 1)))
    pack = _compiled_pack()
    for first in range(0, taps, chunk):
        n = min(chunk, taps - first)
        draws = rng.random((n, samples * (columns + 1)))
        counts = 1 + inverse_cdf(np.asarray(tap_columns), draws[:, :samples])
        pack(live, counts, draws[:, samples:].reshape(n, samples, columns), first, taken, used, first_free)
    return float(np.mean(used))


def inverse_cdf(pmf: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """Indices drawn from `pmf` by the uniforms, as numpy's `Generator.choice(p=pmf)` maps
    its uniforms."""
    cdf = pmf.cumsum()
    cdf /= cdf[-1]
    return cdf.searchsorted(uniforms, side="right")


@functools.cache
def _compiled_pack():
    import numba  # on first use: a run answered from the disk cache never loads it

    return numba.njit(cache=True)(_pack_taps)


def _pack_taps(live, counts, places, first_tap, taken, used, first_free):
    """First-fit taps `first_tap`.. of each sample. `taken` [samples, columns, words]: bit b
    of word w is set when slot 64 w + b holds a tap active in the column; `used`: slots in
    use; `first_free` [samples, columns]: each column's first free slot, where the search
    for a tap can start. Tap t of sample s (if s has more than t live taps) takes the
    columns at which argsort(places[t, s]) holds an index i < counts[t, s]: column j holds
    index i when places[t, s, i] has rank j in its row (ties by index, as numpy's sort of
    a short row)."""
    n, samples, columns = places.shape
    for t in range(n):
        for s in range(samples):
            if first_tap + t >= live[s]:
                continue
            mask = 0
            start = 0
            for i in range(counts[t, s]):
                value = places[t, s, i]
                rank = 0   # without branches: the comparisons are coin flips
                for j in range(i):
                    rank += places[t, s, j] <= value
                for j in range(i + 1, columns):
                    rank += places[t, s, j] < value
                mask |= 1 << rank
                start = max(start, first_free[s, rank])
            word = start >> 6
            free = -1 << (start & 63)
            while True:   # the first slot free in all the tap's columns, 64 slots at a time
                for j in range(columns):
                    if (mask >> j) & 1:
                        free &= ~taken[s, j, word]
                if free != 0:
                    break
                word += 1
                free = -1
            slot = word * 64 + math.frexp(float(free & -free))[1] - 1   # the lowest set bit
            for j in range(columns):
                if (mask >> j) & 1:
                    taken[s, j, word] |= 1 << (slot & 63)
                    if first_free[s, j] == slot:   # the column's next free slot, 64 at a time
                        w = word
                        free = ~taken[s, j, w]
                        while free == 0:
                            w += 1
                            free = ~taken[s, j, w]
                        first_free[s, j] = w * 64 + math.frexp(float(free & -free))[1] - 1
            used[s] = max(used[s], slot + 1)


def column_probability(columns: int, mean_active: float) -> float:
    """q such that a tap active in each of `columns` columns with probability q, given that
    it is active in one at least, is active in `mean_active` of them on average."""
    if mean_active >= columns:
        return 1.0
    low, high = 1e-12, 1.0
    for _ in range(60):
        q = (low + high) / 2
        if columns * q / (1 - (1 - q) ** columns) < mean_active:
            low = q
        else:
            high = q
    return (low + high) / 2
