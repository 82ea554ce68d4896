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
    unit that holds some; and how much a window's activity, shared by the field's lines
    (a population burst, a passing blob), varies: its coefficient of variation
    `window_cv` and the correlation of consecutive windows' shared activity
    `window_correlation`; `rate` is the mean firing rate; `neighbour_correlation`: how much
    more alike two neighbouring lines of the field (consecutive steps of a run: pixels of a
    row, a blob's neighbours) are active in a window than any two of its lines;
    `step_spikes`: the mean spikes of a line over an issued step's windows, given some
    (0: not given); `count_correlation`: how much more alike two neighbouring lines' spike
    counts in one window are than any two of the field's (a blob's core fills the same
    column on consecutive steps)."""
    pmf: tuple[float, ...]
    unit_spikes: float
    window_cv: float = 0.0
    window_correlation: float = 0.0
    rate: float = 0.0
    neighbour_correlation: float = 0.0
    step_spikes: float = 0.0
    count_correlation: float = 0.0


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
    receptive field's lines (at most 128, the count scaled), in each column the drawn number
    of active lines at places `active_places` picks, each with a non-zero count drawn from
    `nonzero`; with `line_units`, each line's busy units over the step (`line_unit_counts`)
    weigh its places and set its counts (`window_weights`, `window_counts`).
    Runs are drawn given that some column is active (a silent run issues no step), and
    about `samples` issued steps are drawn: with a few steps the line's fill and drain
    would count as steady state, and at low rates fewer steps would cost more per step.
    Each quantity has its own random stream, so more runs extend the same draws."""
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
    draws = conditioned_on_issued(p, p[1:] / p[1:].sum(), runs, cols)
    active_count = np.floor(draws * lines / n + round_rng.random(draws.shape)).astype(int)
    if line_units is None:
        active = active_places(active_count, np.ones((runs, lines, cols)), place_rng)
        counts = 1 + count_rng.choice(nonzero.size, size=(runs, cols, lines), p=nonzero).transpose(0, 2, 1)
    else:
        units = line_unit_counts(np.asarray(line_units.pmf), runs, lines, line_rng)
        span, tws = len(line_units.pmf) - 1, nonzero.size
        weights = np.repeat(window_weights(units, span, span // cols)[:, :, None], cols, axis=2)
        active = active_places(active_count, weights, place_rng, line_units.neighbour_correlation)
        intensity = window_intensity(active_count, line_units.window_cv, line_units.window_correlation, window_rng)
        gain = window_gain(intensity, active, line_units.rate, tws)
        counts = window_counts(units * line_units.unit_spikes, active, tws, gain, count_rng, line_units.step_spikes,
                               line_units.count_correlation)
    work = (active * counts).reshape(-1, cols)
    return work[work.any(axis=1)].astype(np.float64)


def window_intensity(active_count: np.ndarray, cv: float, correlation: float, rng: np.random.Generator) -> np.ndarray:
    """[runs, cols] shared activity of each window: lognormal, mean 1 and coefficient of
    variation `cv`, consecutive windows of a run correlated (`correlation`, an AR(1) chain
    of the normal part: a slow burst loads a run's windows alike, not unevenly); the
    largest levels in the windows with the most active lines: the same burst that wakes
    more lines makes each of them fire more often."""
    if cv <= 1e-9:
        return np.ones(active_count.shape)
    sigma = math.sqrt(math.log1p(cv ** 2))
    noise = rng.standard_normal(active_count.shape)
    normal = np.empty_like(noise)
    normal[:, 0] = noise[:, 0]
    for j in range(1, noise.shape[1]):
        normal[:, j] = correlation * normal[:, j - 1] + math.sqrt(1 - correlation ** 2) * noise[:, j]
    levels = np.sort(np.exp(sigma * normal - sigma ** 2 / 2), axis=1)
    rank = np.argsort(active_count + rng.random(active_count.shape), axis=1).argsort(axis=1)
    return np.take_along_axis(levels, rank, axis=1)


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


def line_unit_counts(pmf: np.ndarray, runs: int, lines: int, rng: np.random.Generator) -> np.ndarray:
    """[runs, lines] busy units of each line over its step, drawn from `pmf`."""
    cdf = np.cumsum(pmf / pmf.sum())
    return np.minimum(np.searchsorted(cdf, rng.random((runs, lines)) * cdf[-1], side="right"), pmf.size - 1)


def window_weights(units: np.ndarray, span: int, per_window: int) -> np.ndarray:
    """P(a window of `per_window` of a step's `span` units holds a spike), given the line's
    busy `units` at exchangeable places: 1 - C(span - per_window, k) / C(span, k)."""
    silent = np.array([math.comb(span - per_window, k) / math.comb(span, k) for k in range(span + 1)])
    return 1 - silent[units]


def window_counts(spikes: np.ndarray, active: np.ndarray, tws: int, gain: np.ndarray,
                  rng: np.random.Generator, step_spikes: float = 0.0, correlation: float = 0.0) -> np.ndarray:
    """[runs, lines, cols] spikes of each active window: one, and each other step of it holds
    a spike with the probability that spreads the line's `spikes` [runs, lines] in the step
    evenly over its active windows, times the window's `gain` [runs, cols] (exchangeable
    places; a line with all its steps firing fills its windows). With `step_spikes` > 0 the
    spread is scaled so that a line with some active window holds that many spikes over
    its step on average: a line's spikes in windows it was not placed in, or beyond its
    windows' steps, would be lost, and the issued steps' mean work is what the step's
    lines hold. With `correlation` r > 0 the draws of consecutive lines in a window are
    correlated as `active_places`' (inverse binomial CDF of `neighbour_uniforms`)."""
    per_window = spikes / np.maximum(active.sum(axis=2), 1)
    load = per_window[:, :, None] * gain[:, None, :]
    if step_spikes > 0 and tws > 1 and active.any():
        mean_spikes = step_spikes * active.any(axis=2).sum() / active.sum()
        load = load * spread_scale(load[active], tws, mean_spikes)
    fill = np.clip((load - 1) / max(tws - 1, 1), 0.0, 1.0)
    if correlation <= 1e-9:
        return 1 + rng.binomial(tws - 1, fill)
    from scipy.stats import binom

    runs, lines, cols = fill.shape
    u = neighbour_uniforms(rng, (runs, cols, lines), correlation).transpose(0, 2, 1)
    return 1 + binom.ppf(u, tws - 1, fill).astype(int)


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


def active_places(active_count: np.ndarray, weights: np.ndarray, rng: np.random.Generator,
                  neighbour_correlation: float = 0.0) -> np.ndarray:
    """[runs, lines, cols] bool: column j of a run holds `active_count[run, j]` active lines,
    picked without replacement with probability in proportion to each line's weight in that
    column (lines of weight 0 only when the others run out): a busy line stays busy over
    its step's columns, as a high-rate line or a long burst does, so a step's load sits on
    its busy lines instead of being spread over the field (equal weights: independent
    columns). With `neighbour_correlation` r > 0 the draws of consecutive lines are
    correlated (a Gaussian AR(1) chain over the lines, correlation sin(pi r / 2), whose
    median split has indicator correlation r), so neighbouring lines are picked together,
    as a blob's pixels are."""
    runs, lines, cols = weights.shape
    u = neighbour_uniforms(rng, (runs, cols, lines), neighbour_correlation)
    w = weights.transpose(0, 2, 1)
    # Efraimidis-Spirakis keys u^(1 / w) in (0, 1]: the largest are a weighted sample;
    # weight 0 keys u - 1 < 0: after every weighted line, in random order.
    keys = np.where(w > 0, u ** (1 / np.maximum(w, 1e-12)), u - 1)
    rank = np.argsort(-keys, axis=2).argsort(axis=2).transpose(0, 2, 1)
    return rank < active_count[:, None, :]


def neighbour_uniforms(rng: np.random.Generator, shape: tuple[int, int, int], correlation: float) -> np.ndarray:
    """Uniform draws of `shape`, consecutive ones along the last axis correlated (see
    `active_places`); independent (`rng.random`) at correlation 0."""
    if correlation <= 1e-9:
        return rng.random(shape)
    from scipy.special import ndtr

    rho = math.sin(math.pi * min(correlation, 1.0) / 2)
    noise = rng.standard_normal(shape)
    chain = np.empty_like(noise)
    chain[..., 0] = noise[..., 0]
    for i in range(1, shape[-1]):
        chain[..., i] = rho * chain[..., i - 1] + math.sqrt(1 - rho ** 2) * noise[..., i]
    return np.clip(ndtr(chain), 1e-12, 1.0)


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
