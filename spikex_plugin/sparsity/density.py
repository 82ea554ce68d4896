"""Density models: how likely a tile of input spikes is non-empty, and how full it is.

Each model answers for a tile of `lines` input lines x `steps` time steps:
`p_nonempty(lines, steps)` and `expected_nonzeros(lines, steps)`, plus the distribution of
spikes in one line's window (for the column load-imbalance of the array).
- `UniformDensity`: independent Bernoulli spikes at one rate.
- `HypergeometricDensity`: a fixed number of spikes spread over the layer's input
  (Sparseloop's model for a known nonzero count).
- `ActualDataDensity`: the recorded occupancy curves of a `LayerFiringStats` (exact for
  single lines and recorded channel groups; other group sizes combine the nearest smaller
  recorded group as independent, which is stated wherever it is used), and, when the
  statistics hold `coactivity`, how many lines of a receptive field fire together in a
  window (else lines are taken as independent).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from spikex_plugin.sparsity.binomial import binomial_pmf
from spikex_plugin.sparsity.stats import LayerFiringStats


class DensityModel:
    rate: float
    lines_per_channel: int = 1

    def p_nonempty(self, lines: float, steps: int) -> float:
        raise NotImplementedError

    def expected_nonzeros(self, lines: float, steps: int) -> float:
        return lines * steps * self.rate

    def p_channels_nonempty(self, channels: float, steps: int) -> float:
        return self.p_nonempty(channels * self.lines_per_channel, steps)

    def p_line_silent(self, steps: int) -> float:
        """P(one input line stays silent for `steps` steps): stSAP drops such lines."""
        return 1 - self.p_nonempty(1, steps)

    def active_lines_pmf(self, lines: float, steps: int) -> np.ndarray:
        """P(k of a receptive field's `lines` input lines spike in one window of `steps`
        steps), k = 0..round(lines): here lines fire independently (binomial)."""
        n = max(int(round(lines)), 0)
        return binomial_pmf(n, self.p_nonempty(1, steps))

    def pass_persistence(self, lines: float, steps: int) -> float:
        """How much the active lines of a field in one window of `steps` steps carry over to
        the next window: r such that the busiest of two consecutive windows is distributed as
        when the second repeats the first with probability r and is drawn afresh otherwise
        (0: independent windows). Here 0."""
        return 0.0

    def clumped_share(self, steps: int) -> float:
        """The share of lines whose spikes in a block form one run; here 0 (exchangeable)."""
        return 0.0

    def line_window_count_pmf(self, windows: int, tws: int) -> np.ndarray | None:
        """P(one input line is active in k of `windows` consecutive windows of `tws` steps),
        k = 0..windows, when the statistics record it; here not (None: callers take lines
        as alike, active in each window independently)."""
        return None

    def p_field_nonempty(self, lines: float, steps: int) -> float:
        """P(a receptive field of `lines` input lines has a spike in a window of `steps`
        steps); here as any `lines` lines (`p_nonempty`)."""
        return self.p_nonempty(lines, steps)

    def p_row_nonempty(self, pixels: int, steps: int) -> float:
        """P(some of `pixels` neighbouring pixels of one channel and row spikes in a window);
        here as any `pixels` lines (`p_nonempty`)."""
        return self.p_nonempty(pixels, steps)

    def row_active_pixels_pmf(self, pixels: int, steps: int) -> np.ndarray:
        """P(k of `pixels` neighbouring pixels of one channel and row spike in a window of
        `steps` steps), k = 0..pixels: here independent pixels (binomial)."""
        return binomial_pmf(pixels, self.p_nonempty(1, steps))

    def pixel_count_correlations(self, steps: int) -> tuple[float, float]:
        """Correlation of a pixel's spike count in a window of `steps` steps with the pixel
        one row down and with the same pixel of the next channel; here 0 (independent)."""
        return 0.0, 0.0

    def tile_activity(self, channels: int, steps: int) -> np.ndarray | None:
        """P(k of the lines of an L1 tile of `channels` channels (FC: lines) spike in its
        block of `steps` steps), k = 0..lines, where the statistics record it (`group: tile`,
        a patch of each channel); None here: tiles are then taken as alike."""
        return None

    def tile_correlations(self, channels: int, steps: int) -> tuple[float, float]:
        """Correlation of an L1 tile's active lines with those of the next chunk of channels
        (same block) and of the next block (same chunk), where recorded; here 0 (alike
        tiles have nothing to correlate)."""
        return 0.0, 0.0

    def expected_packed_rows(self, lines: float, windows: int, tws: int, positions: float = 1) -> float:
        """Expected row slots stSAP's first-fit packing needs for `lines` input lines over a
        pass's columns, `windows` consecutive windows of `tws` steps at each of `positions`
        output positions side by side: the busiest column's count of active lines (a slot
        serves one line per column; first-fit meets this bound when lines seldom fire in
        two windows of the group, and exceeds it otherwise)."""
        return float(np.sum(1 - self.busiest_column_cdf(lines, windows, tws, positions)[:-1]))

    def busiest_column_cdf(self, lines: float, windows: int, tws: int, positions: float = 1) -> np.ndarray:
        """P(the busiest of a pass's columns holds <= k active lines), k = 0..round(lines):
        here every column is an independent draw of `active_lines_pmf` (co-active lines
        within a window are kept)."""
        cdf = np.cumsum(self.active_lines_pmf(lines, tws))
        return np.clip(cdf, 0, 1) ** (windows * positions)

    def window_count_pmf(self, steps: int, lines_differ: bool = True) -> np.ndarray:
        """P(k spikes) in one line's window, k = 0..steps, from a two-state Markov chain fitted
        to the rate and the two-step occupancy (lag-1 clustering): exact for Bernoulli spikes,
        and it keeps the clustering of bursty spikes, which sets how busy the busiest column is.
        `lines_differ` (whether the draws' windows are of different lines) matters only to
        models that record how lines differ (`ActualDataDensity`)."""
        r = min(max(self.rate, 0.0), 1.0)
        if r <= 0:
            return np.eye(steps + 1)[0]
        if r >= 1:
            return np.eye(steps + 1)[steps]
        # P(two silent steps) = (1 - r)(1 - a), a = P(spike | silent); stationarity gives b.
        a = min(max(1 - (1 - self.p_nonempty(1, 2)) / (1 - r), 1e-12), 1.0)
        b = min(max(1 - a * (1 - r) / r, 0.0), 1.0)
        dist = np.zeros((2, steps + 1))   # [state, spikes so far]
        dist[0, 0], dist[1, 1] = 1 - r, r
        for _ in range(steps - 1):
            nxt = np.zeros_like(dist)
            nxt[0] = dist[0] * (1 - a) + dist[1] * (1 - b)
            nxt[1, 1:] = (dist[0] * a + dist[1] * b)[:-1]
            dist = nxt
        return dist.sum(axis=0)


@dataclass
class UniformDensity(DensityModel):
    rate: float
    lines_per_channel: int = 1

    def p_nonempty(self, lines: float, steps: int) -> float:
        return -math.expm1(lines * steps * math.log1p(-min(self.rate, 1 - 1e-15)))


@dataclass
class HypergeometricDensity(DensityModel):
    """`nonzeros` spikes placed uniformly without replacement in `total` (line, step) points."""
    nonzeros: int
    total: int
    lines_per_channel: int = 1

    @property
    def rate(self) -> float:
        return self.nonzeros / self.total

    def p_nonempty(self, lines: float, steps: int) -> float:
        n = min(int(round(lines * steps)), self.total)
        if self.nonzeros == 0:
            return 0.0
        if n > self.total - self.nonzeros:
            return 1.0
        # P(empty) = C(total - nonzeros, n) / C(total, n)
        log_empty = (math.lgamma(self.total - self.nonzeros + 1) - math.lgamma(self.total - self.nonzeros - n + 1)
                     - math.lgamma(self.total + 1) + math.lgamma(self.total - n + 1))
        return float(-np.expm1(log_empty))


class ActualDataDensity(DensityModel):
    def __init__(self, stats: LayerFiringStats):
        self.stats = stats
        self.rate = stats.rate
        self.lines_per_channel = stats.lines // stats.channels
        self._line = np.asarray(stats.window_occupancy)
        self._groups = {g: np.asarray(c) for g, c in sorted(stats.channel_block_occupancy.items())}
        self._aligned = stats.aligned_block_occupancy or {}
        self._coactive: dict[tuple, np.ndarray] = {}  # (group, lines, steps) -> pmf: the mapper asks often
        self._placement_fits: dict[int, tuple | None] = {}

    def _curve_at(self, curve: np.ndarray, steps: int) -> float:
        return float(curve[min(steps, len(curve)) - 1])

    def p_nonempty(self, lines: float, steps: int) -> float:
        if lines <= 1:
            return self._curve_at(self._line, steps) * lines
        return self.p_channels_nonempty(lines / self.lines_per_channel, steps) if lines >= self.lines_per_channel \
            else 1 - (1 - self._curve_at(self._line, steps)) ** lines

    def p_channels_nonempty(self, channels: float, steps: int) -> float:
        """From the recorded aligned blocks when `steps` is a recorded block size (SP-MB tags
        and tile transfers are aligned), else the sliding-window curve; other group sizes
        combine the nearest smaller recorded group as independent."""
        g = max((g for g in self._groups if g <= max(channels, 1)), default=1)
        aligned = self._aligned.get(g, {})
        p = aligned[steps] if steps in aligned else self._curve_at(self._groups[g], steps)
        return 1 - (1 - p) ** (max(channels, 1) / g)

    def active_lines_pmf(self, lines: float, steps: int) -> np.ndarray:
        """From the recorded co-activity when there is some (else independent lines): the
        entry of the largest recorded window <= `steps` (else the smallest) whose group size
        is nearest `lines` (of the busiest of its consecutive windows that make up `steps`,
        where recorded). Each recorded count k of n lines is a group activity k / n,
        mapped to a window of `steps` as 1 - (1 - k/n)^e, with e set so that the mean is the
        line's occupancy for `steps` (e = steps / window for Bernoulli lines), then scaled
        to `lines` lines (its mass split between the neighbouring integers)."""
        if not self._entries(None):
            return super().active_lines_pmf(lines, steps)
        return self._recorded(None, max(int(round(lines)), 0), steps)

    def pass_persistence(self, lines: float, steps: int) -> float:
        """From the recorded busiest of two consecutive windows of exactly `steps` steps
        (`span: 2`) when there is one, else 0: with F one window's CDF and F2 the recorded
        busiest's, P(busiest <= k) = r F + (1 - r) F^2 gives r from the means."""
        n = max(int(round(lines)), 0)
        if steps not in {c.window for c in self._entries(None, 2)} or 2 not in self._recorded_spans(n, steps):
            return 0.0
        one = np.clip(np.cumsum(self._recorded(None, n, steps)), 0, 1)[:-1]
        two = np.clip(np.cumsum(self._recorded(None, n, steps, 2)), 0, 1)[:-1]
        fresh, same = float(np.sum(1 - one ** 2)), float(np.sum(1 - one))
        if fresh - same <= 1e-12:
            return 0.0
        return min(max((fresh - float(np.sum(1 - two))) / (fresh - same), 0.0), 1.0)

    def line_window_count_pmf(self, windows: int, tws: int) -> np.ndarray | None:
        """The recorded entry (`line_window_counts`) of exactly these windows and span (one
        window: from the line's occupancy); None when there is none."""
        if windows == 1 and self.stats.line_window_counts:
            occupancy = self.p_nonempty(1, tws)
            return np.array([1 - occupancy, occupancy])
        return next((np.array(c.fractions) for c in self.stats.line_window_counts or ()
                     if (c.window, c.span) == (tws, windows)), None)

    def clumped_share(self, steps: int) -> float:
        """The share of lines whose spikes in a block form one run (`_placement_fit`), fitted
        to the silent windows of `steps` steps (at least 2: one step cannot tell), from the
        recorded spikes per line in blocks (`line_window_counts` of one-step windows); 0 (all
        exchangeable) without the entry."""
        fit = self._placement_fit(max(steps, 2))
        return 0.0 if fit is None else fit[2]

    def _placement_fit(self, steps: int) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(exchangeable pmf, one-run pmf, run share) of a window of `steps` steps
        (`placement_window_pmfs`, `run_share`) from the largest recorded block of g >= steps
        one-step windows; None without one. Kept per `steps`: the mapper asks often."""
        if steps not in self._placement_fits:
            spans = [c for c in self.stats.line_window_counts or () if c.window == 1 and c.span >= steps]
            fit = None
            if spans:
                free, clumped = placement_window_pmfs(np.array(max(spans, key=lambda c: c.span).fractions), steps)
                fit = (free, clumped, run_share(free, clumped, 1 - self.p_nonempty(1, steps)))
            self._placement_fits[steps] = fit
        return self._placement_fits[steps]

    def window_count_pmf(self, steps: int, lines_differ: bool = True) -> np.ndarray:
        """P(k spikes) in one line's window, k = 0..steps, from the recorded spikes per line in
        blocks of g steps (`line_window_counts` of one-step windows, the largest span g >=
        `steps`): a line with K spikes in its block puts k of them in the window as the
        mixture (1 - c) exchangeable (hypergeometric) + c one run of K steps at a random
        place, c in [0, 1] set so that the silent windows are the recorded occupancy of
        `steps` steps. Lines differ in rate (heavy tails, intense blob cores), which one fit
        to the pooled rate misses: the busiest column's count. Without the entry (older
        files) or when the draws' windows are not of different lines (`lines_differ` false:
        a temporal tile's columns are one line's consecutive windows, as busy as each other),
        the pooled fit."""
        fit = self._placement_fit(steps) if steps >= 2 and lines_differ else None
        if fit is None:
            return super().window_count_pmf(steps)
        free, clumped, share = fit
        return (1 - share) * free + share * clumped

    def p_row_nonempty(self, pixels: int, steps: int) -> float:
        """From the recorded row co-activity (`group: row`) when there is some (the count of
        active pixels mapped to `pixels` and `steps` as `active_lines_pmf` maps a field's),
        else as `p_nonempty`."""
        if not self._entries("row"):
            return super().p_row_nonempty(pixels, steps)
        return float(1 - self.row_active_pixels_pmf(int(pixels), steps)[0])

    def row_active_pixels_pmf(self, pixels: int, steps: int) -> np.ndarray:
        """From the recorded row co-activity (`group: row`, mapped to `pixels` and `steps` as
        `active_lines_pmf` maps a field's) when there is some, else independent pixels."""
        if not self._entries("row"):
            return super().row_active_pixels_pmf(pixels, steps)
        return self._recorded("row", pixels, steps).copy()

    def busiest_column_cdf(self, lines: float, windows: int, tws: int, positions: float = 1) -> np.ndarray:
        """From the recorded busiest of consecutive windows (`span` entries) when there are
        some, else as independent columns. The recorded span entries (and one window) are
        mapped to `lines` and `tws` as `active_lines_pmf` maps one window's; a number of
        windows between two recorded spans takes log P(busiest <= k) linearly between
        theirs, beyond the largest span it goes on as for independent groups of windows
        (both exact for independent windows). `positions`: independent output positions
        side by side (the busiest over them: the CDF to that power)."""
        n = max(int(round(lines)), 0)
        spans = self._recorded_spans(n, tws)
        if len(spans) < 2:
            return super().busiest_column_cdf(lines, windows, tws, positions)
        below = max(g for g in spans if g <= windows)
        above = min((g for g in spans if g >= windows), default=below)
        with np.errstate(divide="ignore", invalid="ignore"):   # log 0 = -inf: the CDF stays 0 there
            log_below = np.log(np.clip(np.cumsum(self._recorded(None, n, tws, below)), 0, 1))
            log_above = np.log(np.clip(np.cumsum(self._recorded(None, n, tws, above)), 0, 1))
            if above == below:
                log_cdf = log_below * windows / below
            else:
                share = (windows - below) / (above - below)
                log_cdf = np.where(np.isinf(log_below) | np.isinf(log_above), -np.inf,
                                   log_below + share * (log_above - log_below))
        return np.exp(log_cdf * positions)

    def pixel_count_correlations(self, steps: int) -> tuple[float, float]:
        """From the recorded `pixel_count_correlation` entry of the window nearest `steps`
        (in log; 0 where unrecorded or where the counts do not vary)."""
        entries = self.stats.pixel_count_correlation
        if not entries:
            return super().pixel_count_correlations(steps)
        entry = min(entries, key=lambda e: abs(math.log(e.window / max(steps, 1))))
        return entry.vertical or 0.0, entry.channel or 0.0

    def tile_activity(self, channels: int, steps: int) -> np.ndarray | None:
        """From the recorded `tile` entries (the chunk size nearest `channels`, mapped to
        `steps` as `active_lines_pmf` maps a field's); None when the file has none."""
        entries = self._entries("tile")
        if not entries:
            return None
        return self._recorded("tile", int(channels) * min(c.lines for c in entries), steps)

    def tile_correlations(self, channels: int, steps: int) -> tuple[float, float]:
        """From the recorded `tile` entry that `tile_activity` maps (0 where unrecorded): the
        next block's is its `next_window_correlation`; the next chunk's follows from the
        variance of the count of a chunk twice the size (two neighbouring chunks):
        Var(2g) = 2 Var(g) (1 + rho)."""
        entries = self._entries("tile")
        if not entries:
            return 0.0, 0.0
        entry = self._nearest_entry(entries, int(channels) * min(c.lines for c in entries), steps)
        double = next((c for c in entries if c.window == entry.window and c.lines == 2 * entry.lines), None)
        chunk = 0.0
        if double is not None:
            single_var, double_var = (count_variance(c.counts.edges, c.counts.fractions, c.lines) for c in (entry, double))
            chunk = float(np.clip(double_var / (2 * single_var) - 1, -1, 1)) if single_var > 0 else 0.0
        return chunk, entry.next_window_correlation or 0.0

    def _entries(self, group: str | None, span: int | None = None) -> list:
        return [c for c in self.stats.coactivity or () if c.group == group and c.span == span]

    def _recorded_spans(self, lines: int, steps: int) -> list[int]:
        """Spans recorded (1 included) for the field entry `active_lines_pmf` reads."""
        if not self._entries(None):
            return [1]
        base = self._nearest_entry(self._entries(None), lines, steps)
        return [1] + sorted(c.span for c in self.stats.coactivity or ()
                            if c.span and c.group is None and (c.window, c.lines) == (base.window, base.lines))

    def _recorded(self, group: str | None, lines: int, steps: int, span: int = 1) -> np.ndarray:
        key = (group, lines, steps, span)
        if key not in self._coactive:
            self._coactive[key] = self._recorded_lines_pmf(self._entries(group), lines, steps, span)
            self._coactive[key].setflags(write=False)
        return self._coactive[key]

    @staticmethod
    def _nearest_entry(entries: list, lines: int, steps: int):
        """The entry of the largest recorded window <= `steps` (else the smallest) whose group
        size is nearest `lines`."""
        windows = sorted({c.window for c in entries})
        window = max((w for w in windows if w <= steps), default=windows[0])
        return min((c for c in entries if c.window == window), key=lambda c: abs(math.log(c.lines / max(lines, 1))))

    def _recorded_lines_pmf(self, entries: list, lines: int, steps: int, span: int = 1) -> np.ndarray:
        """`active_lines_pmf` from the one-window entries (for `steps` of several recorded
        windows, the busiest of them: `_spanning_entry`); with `span` > 1 the same mapping
        (the exponent fitted on the one-window entry) applied to that span's entry."""
        entry = self._nearest_entry(entries, lines, steps)
        if span == 1:
            entry = self._spanning_entry(entry, steps)
        activity, weight = histogram_points(entry.counts.edges, entry.counts.fractions, entry.lines)
        activity, weight = activity[weight > 0], weight[weight > 0]   # counts never seen weigh nothing
        target, n = self.p_nonempty(1, steps), lines
        if target <= 0 or n == 0:
            return np.eye(n + 1)[0]
        if target >= 1:
            return np.eye(n + 1)[n]
        exponent = occupancy_exponent(activity, weight, target)
        if span > 1:
            entry = next(c for c in self.stats.coactivity if c.group == entry.group and c.span == span
                         and (c.window, c.lines) == (entry.window, entry.lines))
            activity, weight = histogram_points(entry.counts.edges, entry.counts.fractions, entry.lines)
            activity, weight = activity[weight > 0], weight[weight > 0]
        position = (1 - (1 - activity) ** exponent) * n
        low = np.floor(position).astype(int)
        pmf = np.bincount(low, weights=weight * (1 - (position - low)), minlength=n + 2)
        pmf += np.bincount(np.minimum(low + 1, n + 1), weights=weight * (position - low), minlength=n + 2)
        pmf[n] += pmf[n + 1]
        return pmf[: n + 1] / pmf.sum()

    def _spanning_entry(self, entry, steps: int):
        """For a window of `steps` made of g > 1 of the entry's windows, the entry of the
        busiest of g consecutive windows where recorded (else `entry`): a group silent in
        one window may fire in the next, and the busiest of the g is silent only when all
        are (local blobs at rate 0.01, 256 lines: a 16-step window silent in 12.5 % of
        cases, a 64-step one never)."""
        g = steps // entry.window
        if g < 2 or steps % entry.window:
            return entry
        return next((c for c in self.stats.coactivity or () if c.group == entry.group and c.span == g
                     and (c.window, c.lines) == (entry.window, entry.lines)), entry)

    def p_field_nonempty(self, lines: float, steps: int) -> float:
        """From the recorded co-activity when there is some (a field is silent with the
        probability that none of its lines is active), else as `p_nonempty`."""
        if not self._entries(None):
            return super().p_field_nonempty(lines, steps)
        return float(1 - self.active_lines_pmf(lines, steps)[0])


def histogram_points(edges: list[float], fractions: list[float], lines: int) -> tuple[np.ndarray, np.ndarray]:
    """Group activities k / lines and their probabilities from a co-activity histogram (a
    bin's mass spread evenly over its integer counts)."""
    counts = np.arange(int(edges[-1]))
    weight = np.zeros(counts.size)
    for lo, hi, frac in zip(edges[:-1], edges[1:], fractions):
        weight[int(lo):int(hi)] = frac / (int(hi) - int(lo))
    return counts / lines, weight / weight.sum()


def count_variance(edges: list[float], fractions: list[float], lines: int) -> float:
    """Variance of a co-activity histogram's count of active lines."""
    activity, weight = histogram_points(edges, fractions, lines)
    counts = activity * lines
    return float(np.sum(weight * counts ** 2) - np.sum(weight * counts) ** 2)


def occupancy_exponent(activity: np.ndarray, weight: np.ndarray, target: float) -> float:
    """e > 0 with sum(weight * (1 - (1 - activity)^e)) = target (the sum rises with e): a
    bracket in log e narrowed 32-fold per round over a grid (8 rounds, as tight as 40
    bisection steps, in far fewer array operations)."""
    lo, hi = -12.0, 12.0
    log_silent = np.log1p(-np.minimum(activity, 1 - 1e-12))
    for _ in range(8):
        grid = np.linspace(lo, hi, 33)
        means = -np.expm1(np.exp(grid)[:, None] * log_silent) @ weight
        first = int(np.searchsorted(means, target))   # the first grid point whose sum reaches the target
        lo, hi = grid[max(first - 1, 0)], grid[min(first, 32)]
    return math.exp((lo + hi) / 2)


def placement_window_pmfs(block_counts: np.ndarray, steps: int) -> tuple[np.ndarray, np.ndarray]:
    """P(k spikes in an aligned window of `steps` steps) of a line with P(K spikes in a block
    of g steps) = `block_counts`, K = 0..g, its spikes at exchangeable places and as one run."""
    g = block_counts.size - 1
    k = np.arange(steps + 1)
    exchangeable = np.array([[math.comb(K, j) * math.comb(g - K, steps - j) for j in k] for K in range(g + 1)],
                            dtype=np.float64) / math.comb(g, steps)
    # One run [s, s + K), s uniform, against an aligned window [w, w + steps), w uniform.
    windows = np.arange(0, g - steps + 1, steps)
    run = np.zeros((g + 1, steps + 1))
    for K in range(g + 1):
        starts = np.arange(g - K + 1)[:, None]
        overlap = np.clip(np.minimum(starts + K, windows + steps) - np.maximum(starts, windows), 0, None)
        run[K] = np.bincount(overlap.ravel(), minlength=steps + 1)[: steps + 1] / overlap.size
    p = block_counts / block_counts.sum()
    return p @ exchangeable, p @ run


def run_share(free: np.ndarray, clumped: np.ndarray, silent: float) -> float:
    """The share c of lines whose spikes form one run for which (1 - c) `free` + c `clumped`
    has the target P(silent window) (a run leaves more windows silent)."""
    if clumped[0] <= free[0] + 1e-12:
        return 0.0
    return float(np.clip((silent - free[0]) / (clumped[0] - free[0]), 0.0, 1.0))
