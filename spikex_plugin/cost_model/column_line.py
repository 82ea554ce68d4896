"""The SpikeX column line: how many cycles an issued weight step takes when the weight hops
through a row's columns and each PE holds it while it accumulates its window's spikes.

The mean comes from a seeded Monte Carlo over window counts (`issued_step_cycles`); the line
itself is a numba kernel, compiled (or loaded from numba's cache) on first use. Results are
deterministic, so each line's {feed: cycles} table is also kept in the disk cache
(`spikex_plugin.cache`), keyed by the line, this file's source and the numpy, numba and
scipy versions (the draws follow numpy's generator and scipy's normal CDF).
"""

from __future__ import annotations

import functools
import math
from pathlib import Path
from typing import NamedTuple

import numpy as np

from spikex_plugin import cache


class LineUnits(NamedTuple):
    """How busy one line is over a temporal step's windows: P(k of the step's span =
    len(pmf) - 1 equal units of steps hold a spike), k = 0..span, and the mean spikes of a
    unit that holds some; how much a unit's activity shared by the field's lines (a
    population burst, a passing object) varies: its coefficient of variation
    `intensity_cv` and the correlation of consecutive units' `intensity_correlation`;
    `rate` is the mean firing rate; `neighbour_correlation`: how alike two neighbouring
    lines of the field (consecutive steps of a run: pixels of a row) are active in a unit;
    `clumped`: the share of lines whose busy units form one run; `line_spikes`: P(k
    spikes of a line in a block of len - 1 steps), k = 0..len - 1 (how lines differ in rate;
    None: alike)."""
    pmf: tuple[float, ...]
    unit_spikes: float
    intensity_cv: float = 0.0
    intensity_correlation: float = 0.0
    rate: float = 0.0
    neighbour_correlation: float = 0.0
    clumped: float = 0.0
    line_spikes: tuple[float, ...] | None = None


@functools.lru_cache(maxsize=4096)
def issued_step_cycles(pmf: tuple[float, ...], cols: int, feed: float, samples: int = 4096,
                       coactive: tuple[float, ...] | None = None, line_units: LineUnits | None = None,
                       row: tuple[float, ...] | None = None, taps: int = 1, stride: int = 1,
                       row_correlation: float = 0.0) -> float:
    """Mean cycles per issued weight step of a line of `cols` PEs with one weight register
    each: the feeder reads the step's `feed` L1 words (after column 0 has taken the previous
    weight), the weight enters column 0 and hops one column per cycle, and a PE holds it
    while it accumulates its window's spikes (at least one cycle) and until the next column
    has taken it. Columns drift up to one step apart, so a step costs less than its
    busiest column (lockstep) and more than the mean column.
    Window counts are drawn from `pmf`. Without `coactive` every (step, column) is an
    independent draw, conditioned on a non-empty step. With `coactive`, the pmf of how many
    of a receptive field's n = len(coactive) - 1 lines fire in one window, the steps come in
    runs of the field's n lines: each column draws how many of them fire in its window and
    which ones, so a busy window stays busy over the run; silent steps are not issued.
    `line_units` (how busy one line is over the step's windows) makes a line's activity
    persist over its step's columns (see `coactive_work`).
    With `row` (spatial mode), the pmf of how many of a row's (cols - 1) stride + taps
    pixels fire in one window, the columns are pixels of one row, `stride` apart, and the
    row's `taps` kernel taps are consecutive steps that slide it one pixel along the line
    (`sliding_row_work`).
    The line runs at feeds on a grid of 0.01 words, and `feed` between two of them takes the
    straight line between their cycles (rounding it instead made the cycles jump as the
    rate moved). Values are kept on disk per line (`save_line_tables`), so a repeated run
    needs neither the draws nor numba."""
    low = round(math.floor(feed * 100 + 1e-9) / 100, 2)
    share = (feed - low) / 0.01
    line = (pmf, cols, samples, coactive, line_units, row, taps, stride, row_correlation)
    cycles = grid_cycles(line, low)
    if share > 1e-9:
        cycles += share * (grid_cycles(line, round(low + 0.01, 2)) - cycles)
    return cycles


def grid_cycles(line: tuple, feed: float) -> float:
    """`issued_step_cycles` at a feed of the grid for its `line` (pmf, cols, samples,
    coactive, line_units, row, taps, stride, row_correlation), from the line's table or a run of the line."""
    table = line_table(*line)
    if feed not in table:
        work = issued_step_work(*line)
        table[feed] = 0.0 if work is None else blocking_line_cycles(work, feed) / len(work)
    return table[feed]


@functools.lru_cache(maxsize=256)  # the draws depend on the pmf and the line, not on the feed
def issued_step_work(pmf: tuple[float, ...], cols: int, samples: int,
                     coactive: tuple[float, ...] | None = None, line_units: LineUnits | None = None,
                     row: tuple[float, ...] | None = None, taps: int = 1, stride: int = 1,
                     row_correlation: float = 0.0) -> np.ndarray | None:
    """The window counts [steps, cols] of `issued_step_cycles`' issued steps (None: no
    window ever holds a spike)."""
    p = np.asarray(pmf, dtype=np.float64)
    if p[1:].sum() <= 0:
        return None
    nonzero = p[1:] / p[1:].sum()
    if coactive is not None:
        work = coactive_work(np.asarray(coactive), nonzero, cols, samples, line_units)
        if not len(work):
            return None
        work.flags.writeable = False
        return work
    if row is not None:
        work = sliding_row_work(np.asarray(row), nonzero, cols, taps, stride, samples, row_correlation)
        if not len(work):
            return None
    else:
        work = conditioned_on_issued(p / p.sum(), nonzero, samples, cols).astype(np.float64)
    work.flags.writeable = False
    return work


def sliding_row_work(row: np.ndarray, nonzero: np.ndarray, cols: int, taps: int, stride: int,
                     rows: int, correlation: float = 0.0) -> np.ndarray:
    """Issued spatial steps [steps, cols] of `rows` rows of (cols - 1) stride + taps pixels:
    each row holds k active pixels (k from the pmf `row`, given k > 0: a silent row issues
    nothing) at random places, each with a count from `nonzero`; tap s is a step whose
    column j reads pixel j stride + s; silent steps are not issued. A busy pixel thus moves
    one column back per step, and its next accumulation overlaps the wait for the column
    after it: independent draws per step cost 15-20 % more cycles than the simulator's rows
    at rate 0.1, TWS 16. The recorded count keeps how a blob's pixels fire together (its steps'
    columns busy at once): placed independently, local blobs lost 13 % of their cycles.
    With probability `correlation` a row repeats the previous row (its pixels and their
    counts): the next kernel row or channel of a spatially coherent trace keeps its busy
    pixels in the same columns (moving objects at rate 0.5, TWS 8: the line's cycles per
    step were 7 % below the simulator's with independent rows).
    Each quantity has its own random stream."""
    width = (cols - 1) * stride + taps
    count_rng, place_rng, spike_rng, repeat_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(2).spawn(4))
    p = np.asarray(row, dtype=np.float64)
    if p[1:].sum() <= 0:
        return np.zeros((0, cols))
    active = 1 + count_rng.choice(width, size=rows, p=p[1:] / p[1:].sum())
    rank = np.argsort(place_rng.random((rows, width)), axis=1).argsort(axis=1)
    pixels = (rank < active[:, None]) * (1 + spike_rng.choice(nonzero.size, size=(rows, width), p=nonzero))
    if correlation > 0:
        repeats = repeat_rng.random(rows) < correlation
        repeats[0] = False
        pixels = pixels[np.maximum.accumulate(np.where(repeats, 0, np.arange(rows)))]
    work = pixels[:, np.arange(taps)[:, None] + stride * np.arange(cols)].reshape(-1, cols)
    return work[work.any(axis=1)].astype(np.float64)


def conditioned_on_issued(p: np.ndarray, nonzero: np.ndarray, steps: int, cols: int) -> np.ndarray:
    """Draws [steps, cols] from `p`, given that some column of a step is non-zero: the first
    non-zero column J (P(J = j) proportional to p0^j (1 - p0)) draws from `nonzero`, the
    columns before it are zero, the ones after it draw from `p`. Each quantity has its own
    random stream read by inverse CDF, so a nearby pmf moves few draws, each a little."""
    first_rng, draw_rng, forced_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(1).spawn(3))
    first = p[0] ** np.arange(cols) * (1 - p[0])
    first_active = first_rng.choice(cols, size=steps, p=first / first.sum())
    draws = draw_rng.choice(p.size, size=(steps, cols), p=p)
    draws[np.arange(cols) < first_active[:, None]] = 0
    draws[np.arange(steps), first_active] = 1 + forced_rng.choice(nonzero.size, size=steps, p=nonzero)
    return draws


def coactive_work(coactive: np.ndarray, nonzero: np.ndarray, cols: int, samples: int,
                  line_units: LineUnits | None = None) -> np.ndarray:
    """Issued steps [steps, cols] of spike counts for `issued_step_cycles`: runs of a
    receptive field's lines (at most 128, the count scaled). Without `line_units`, each
    column holds the drawn number of active lines (runs drawn given that some column is
    active: a silent run issues no step) at random places, each with a non-zero count drawn
    from `nonzero`; with them, each line's busy units over the step's windows
    (`placed_unit_spikes`). About `samples` issued steps are drawn: with a few steps the
    line's fill and drain would count as steady state, and at low rates fewer steps would
    cost more per step. Each quantity has its own random stream, so more runs extend the
    same draws."""
    n = coactive.size - 1
    lines = min(n, 128)
    p = coactive / coactive.sum()
    if p[0] >= 1:
        return np.zeros((0, cols))
    mean_lines = float(np.sum(np.arange(n + 1) * p)) * lines / n
    per_run = max(1.0, min(lines, mean_lines * cols / (1 - p[0] ** cols)))   # issued steps, about
    # A power of two: a nearby pmf keeps the same runs, so its draws move little.
    runs = int(min(2 ** math.ceil(math.log2(max(samples / per_run, 16))), max(2_000_000 // (lines * cols), 16)))
    round_rng, place_rng, count_rng, line_rng, window_rng = (np.random.default_rng(s)
                                                            for s in np.random.SeedSequence(0).spawn(5))
    if line_units is None:
        draws = conditioned_on_issued(p, p[1:] / p[1:].sum(), runs, cols)
        active_count = np.floor(draws * lines / n + round_rng.random(draws.shape)).astype(int)
        active = active_places(active_count, lines, place_rng)
        counts = 1 + count_rng.choice(nonzero.size, size=(runs, cols, lines), p=nonzero).transpose(0, 2, 1)
        work = (active * counts).reshape(-1, cols)
    else:
        work = placed_unit_spikes(runs, lines, cols, line_units, nonzero.size,
                                  (window_rng, line_rng, place_rng, count_rng)).reshape(-1, cols)
    return work[work.any(axis=1)].astype(np.float64)


def placed_unit_spikes(runs: int, lines: int, cols: int, units: LineUnits, tws: int,
                       rngs: tuple[np.random.Generator, ...]) -> np.ndarray:
    """[runs, lines, cols] spikes of each line in each of a step's `cols` windows of `tws`
    steps. A line is busy in a drawn number of the step's units (`units.pmf`), placed as
    one run of consecutive units (the share `units.clumped` of lines: a blob or a burst
    passing it) or at free places, both in proportion to the units' intensity shared by
    the field (`chained_intensity`: a population burst takes more of every line's units);
    neighbouring lines draw alike (`neighbour_uniforms` at `units.neighbour_correlation`:
    how many units, which form, where). A busy unit holds 1 + Binomial(unit - 1, f) spikes,
    f from the line's rate (its quantile of `units.line_spikes`, the same as of its busy
    units) and the unit's gain (`window_gain`), scaled so that busy units hold
    `units.unit_spikes` on average (`spread_scale`)."""
    intensity_rng, line_rng, place_rng, count_rng = rngs
    pmf = np.asarray(units.pmf)
    span = pmf.size - 1
    per_window, unit = span // cols, cols * tws // span
    intensity = chained_intensity((runs, span), units.intensity_cv, units.intensity_correlation, intensity_rng)
    r = units.neighbour_correlation
    shape = (runs, 1, lines)
    line_quantile = stratified(neighbour_uniforms(line_rng, shape, r)[:, 0])
    busy_units = inverse_cdf(pmf, line_quantile)
    clumped = neighbour_uniforms(line_rng, shape, r)[:, 0] < units.clumped
    busy = np.where(clumped[:, :, None], run_places(busy_units, intensity, neighbour_uniforms(place_rng, shape, r)[:, 0]),
                    free_places(busy_units, intensity, neighbour_uniforms(place_rng, (runs, span, lines), r)))
    level = line_unit_spikes(line_quantile, units.line_spikes, unit) * window_gain(intensity, busy, units.rate, unit)[:, None, :]
    if busy.any() and unit > 1:
        level = level * spread_scale(np.broadcast_to(level, busy.shape)[busy], unit, units.unit_spikes)
    fill = np.broadcast_to(np.clip((level - 1) / max(unit - 1, 1), 0.0, 1.0), busy.shape)
    spikes = busy * (1 + count_rng.binomial(unit - 1, fill))
    return spikes.reshape(runs, lines, cols, per_window).sum(axis=3)


def line_unit_spikes(quantile: np.ndarray, line_spikes: tuple[float, ...] | None, unit: int) -> np.ndarray | float:
    """[runs, lines, 1] mean spikes of a busy unit of `unit` steps of a line at rate q (its
    `quantile` of the block spike pmf `line_spikes`, q = spikes / block steps): unit q /
    (1 - (1 - q)^unit), independent steps; 1 for one-step units or without the pmf."""
    if not line_spikes or unit <= 1:
        return 1.0
    q = np.clip(inverse_cdf(np.asarray(line_spikes), quantile) / (len(line_spikes) - 1), 1e-6, 1.0)
    return (unit * q / (1 - (1 - q) ** unit))[:, :, None]


def inverse_cdf(pmf: np.ndarray, quantile: np.ndarray) -> np.ndarray:
    """The values k = 0..len(pmf) - 1 at the given quantiles of the pmf."""
    cdf = np.cumsum(pmf / pmf.sum())
    return np.minimum(np.searchsorted(cdf, quantile * cdf[-1], side="right"), pmf.size - 1)


def stratified(uniforms: np.ndarray) -> np.ndarray:
    """`uniforms` replaced by their ranks, (rank + 1/2) / n: the same order (and so the same
    rank correlation between neighbours), but evenly spread over (0, 1), so that a few
    thousand lines follow a heavy-tailed pmf without the sampling error of its rare busy lines."""
    rank = np.argsort(np.argsort(uniforms, axis=None), axis=None).reshape(uniforms.shape)
    return (rank + 0.5) / uniforms.size


def run_places(busy_units: np.ndarray, weights: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """[runs, lines, span] bool: each line's `busy_units` [runs, lines] consecutive units, the
    run's start drawn by inverse CDF of `uniforms` in proportion to the summed `weights`
    [runs, span] of the units it covers."""
    runs, span = weights.shape
    cum = np.concatenate([np.zeros((runs, 1)), np.cumsum(weights, axis=1)], axis=1)               # [runs, span + 1]
    start, length = np.arange(span + 1), np.arange(span + 1)[:, None]                             # [U, s]
    fits = start[None, :] + length <= span
    covered = np.where(fits[None], cum[:, np.minimum(start[None, :] + length, span)] - cum[:, start][:, None, :], 0.0)
    start_cdf = np.cumsum(covered, axis=2)                                                         # [runs, U, s]
    line_cdf = np.take_along_axis(start_cdf, busy_units[:, :, None], axis=1)                      # [runs, lines, s]
    first = (line_cdf < (uniforms * line_cdf[:, :, -1])[:, :, None]).sum(axis=2)
    first = np.minimum(first, span - busy_units)
    pos = np.arange(span)
    return (pos >= first[:, :, None]) & (pos < (first + busy_units)[:, :, None])


def free_places(busy_units: np.ndarray, weights: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    """[runs, lines, span] bool: each line's `busy_units` units picked without replacement in
    proportion to the units' `weights` [runs, span] (Efraimidis-Spirakis keys of
    `uniforms` [runs, span, lines])."""
    keys = uniforms.transpose(0, 2, 1) ** (1 / np.maximum(weights, 1e-12))[:, None, :]
    rank = np.argsort(-keys, axis=2).argsort(axis=2)
    return rank < busy_units[:, :, None]


def chained_intensity(shape: tuple[int, int], cv: float, correlation: float, rng: np.random.Generator) -> np.ndarray:
    """[runs, n] lognormal levels of mean 1 and coefficient of variation `cv`, consecutive
    ones of a run correlated (`correlation`, an AR(1) chain of the normal part)."""
    if cv <= 1e-9:
        return np.ones(shape)
    sigma = math.sqrt(math.log1p(cv ** 2))
    return np.exp(sigma * ar1_normals(rng, shape, correlation) - sigma ** 2 / 2)


def ar1_normals(rng: np.random.Generator, shape: tuple[int, ...], correlation: float) -> np.ndarray:
    """Standard normal draws of `shape`, consecutive ones along the last axis an AR(1) chain
    of `correlation`."""
    noise = rng.standard_normal(shape)
    chain = np.empty_like(noise)
    chain[..., 0] = noise[..., 0]
    for i in range(1, shape[-1]):
        chain[..., i] = correlation * chain[..., i - 1] + math.sqrt(1 - correlation ** 2) * noise[..., i]
    return chain


def window_gain(intensity: np.ndarray, active: np.ndarray, rate: float, tws: int) -> np.ndarray:
    """[runs, cols] factor on the spikes of an active window at the window's `intensity`:
    spikes per active window of a line of rate r x intensity, rate x tws / P(active), over
    those at r (at low rates a burst wakes lines and adds few spikes to each; near
    saturation it adds spikes), scaled so that a run's active windows keep their spikes."""
    def per_active(level: np.ndarray) -> np.ndarray:
        p = np.minimum(rate * level, 1.0)
        return p * tws / np.maximum(1 - (1 - p) ** tws, 1e-12)

    if rate <= 0:
        return np.ones(intensity.shape)
    gain = per_active(intensity) / per_active(np.ones(1))
    lines = active.sum(axis=1)   # [runs, cols]
    return gain * lines.sum(axis=1, keepdims=True) / np.maximum((lines * gain).sum(axis=1, keepdims=True), 1e-12)


def spread_scale(load: np.ndarray, tws: int, mean_spikes: float) -> float:
    """The factor s on the active windows' `load` (spikes each would take) for which their
    mean spikes, 1 + (tws - 1) clip((s load - 1) / (tws - 1), 0, 1), is `mean_spikes`
    (bisection: the mean rises with s)."""
    def mean(scale: float) -> float:
        return float(np.mean(1 + np.clip(scale * load - 1, 0.0, tws - 1)))

    target = min(max(mean_spikes, 1.0), tws)
    low, high = 0.0, 1.0
    while mean(high) < target - 1e-9 and high < 1e6:
        high *= 2
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if mean(mid) < target else (low, mid)
    return (low + high) / 2


def active_places(active_count: np.ndarray, lines: int, rng: np.random.Generator) -> np.ndarray:
    """[runs, lines, cols] bool: column j of a run holds `active_count[run, j]` active lines
    of `lines`, picked at random without replacement."""
    runs, cols = active_count.shape
    rank = np.argsort(-rng.random((runs, cols, lines)), axis=2).argsort(axis=2).transpose(0, 2, 1)
    return rank < active_count[:, None, :]


def neighbour_uniforms(rng: np.random.Generator, shape: tuple[int, int, int], correlation: float) -> np.ndarray:
    """Uniform draws of `shape`, consecutive ones along the last axis correlated: a Gaussian
    AR(1) chain of correlation sin(pi r / 2), whose median split has indicator correlation
    `correlation` r; independent (`rng.random`) at correlation 0."""
    if correlation <= 1e-9:
        return rng.random(shape)
    from scipy.special import ndtr

    return np.clip(ndtr(ar1_normals(rng, shape, math.sin(math.pi * min(correlation, 1.0) / 2))), 1e-12, 1.0)


def blocking_line_cycles(work: np.ndarray, feed: float) -> float:
    """Cycles for the steps `work` [steps, cols] to pass the line of `issued_step_cycles`."""
    return _compiled_line()(work, feed)


@functools.cache
def _compiled_line():
    import numba  # on first use: a run answered from the disk caches never loads it

    return numba.njit(cache=True)(_line_cycles)


def _line_cycles(work: np.ndarray, feed: float) -> float:
    steps, cols = work.shape
    free = np.zeros(cols)
    takes = np.zeros(cols)
    feeder = 0.0
    for k in range(steps):
        feeder = max(feeder, takes[0]) + feed
        arrive = feeder
        for j in range(cols):
            takes[j] = max(arrive, free[j])
            arrive = takes[j] + 1
        for j in range(cols):
            hold = takes[j] + max(work[k, j], 1.0)
            if j + 1 < cols:
                hold = max(hold, takes[j + 1])
            free[j] = hold
    return free.max()


_TABLES: dict[tuple, dict[float, float]] = {}
_SAVED: dict[tuple, int] = {}   # entries each table had when read from or written to disk
_VERSION = "|".join([cache.package_versions("numpy", "numba", "scipy"), cache.sources_digest(Path(__file__))])


def _table_key(line: tuple) -> str:
    return f"{_VERSION}|{line}"


def line_table(pmf: tuple[float, ...], cols: int, samples: int, coactive: tuple[float, ...] | None = None,
               line_units: LineUnits | None = None, row: tuple[float, ...] | None = None, taps: int = 1,
               stride: int = 1, row_correlation: float = 0.0) -> dict[float, float]:
    """{feed: issued_step_cycles} of one line, from disk on first use in this process."""
    line = (pmf, cols, samples, coactive, line_units, row, taps, stride, row_correlation)
    if line not in _TABLES:
        _TABLES[line] = cache.read("column-line", _table_key(line), lambda t: isinstance(t, dict)) or {}
        _SAVED[line] = len(_TABLES[line])
    return _TABLES[line]


def save_line_tables() -> None:
    """Write the tables that gained values since they were read (the vectorised pricing
    calls this once per batch)."""
    for line, table in _TABLES.items():
        if len(table) > _SAVED[line]:
            cache.write("column-line", _table_key(line), table)
            _SAVED[line] = len(table)
