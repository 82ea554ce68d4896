"""Firing statistics: the contract between training (what spikes a layer reads) and the mapper.

File format `spikex-firing-stats/1` (JSON or YAML), per layer, for the spikes the layer READS:
- `shape`: per-time-step input shape ([C, H, W] for conv/pool, [F] for FC), unpadded.
- `T`, `samples` (inputs averaged over).
- `spikes_per_step[t]`: mean number of spikes over all input lines at step t.
- `window_occupancy[w-1]`, w = 1..T: fraction of (input line, window of w steps) pairs with
  at least one spike. Windows slide over every start 0..T-w: this equals the aligned-window
  occupancy in expectation for stationary firing and is non-decreasing in w for any trace,
  so the same curve serves time windows (small w) and time blocks (large w) without
  interpolation.
- `channel_block_occupancy[g][w-1]`: the same for blocks of g input channels (all their
  spatial positions; for FC one channel is one line) x w steps: SpikeX's SP-MB tags.
  g runs over powers of two up to C.
- `aligned_block_occupancy[g][w]` (optional; absent in older files, and then the model reads
  `channel_block_occupancy`): the same blocks of g channels over ALIGNED blocks of w steps
  (starts 0, w, 2w, ...; a last partial block left out), w = 1, 2, 4, ... up to T: the blocks
  SpikeX's SP-MB tags and tile transfers see. For stationary firing this equals the sliding
  curve in expectation, but firing that changes over the run (an SNN's first steps, a burst
  straddling a block edge) and a finite trace's own blocks can differ from it by several
  per cent at w near T.
- `line_spike_histogram`: fraction of input lines by total spikes over the run, bins
  `[edges[i], edges[i+1])` (firing is extremely skewed; this shows how much).
- `coactivity` (optional; absent in files written before it, and then the model takes lines
  as independent): how many lines of a receptive-field-sized group are active together in
  one window. One entry per (`window` w, `lines` n): over every aligned window of w steps
  (starts 0, w, 2w, ...; a last partial window is left out), every sample and every group
  position, the fraction of cases in which k of the group's n lines spiked in the window,
  as a histogram over k with bins `[edges[i], edges[i+1])` (one bin per count up to 32,
  then eight per octave; bins above the largest count seen are left out). Groups: for
  conv/pool inputs all channels x a box of b x b pixels (b = 1, 3, 5; at every second row
  and column where the box fits; a [C, L] input is one row of L pixels), for FC all lines. w runs over 1, 2, 4, 8, 16 up to T.
  Entries with `group: row` (conv/pool inputs; absent in older files, and then the model
  takes a row's pixels as independent) count instead the active pixels of one channel in
  `lines` neighbouring pixels of one row (n = 2, 4, 8, 16 up to the width; in window k and
  channel c every eighth row from row 2 ((-c - k) mod 4), every second start): the pixels
  SpikeX's spatial mode reads in one weight step.
  Entries with `group: tile` (absent in older files, and then the model takes every L1 tile
  as alike) count the active lines of an L1-tile-like patch: each aligned chunk of g
  channels (FC: g lines; g = 1, 2, 4, ... up to the channels), for conv inputs over 3 rows x
  8 pixels of each channel (clipped to the input; at every sixth row and eighth column),
  in aligned windows of w = 1, 2, 4, ... up to T steps (`lines` = g x the patch's pixels).
  `next_window_correlation` (tile entries, where the counts vary) is the correlation of a
  chunk's count in consecutive windows of one sample. How unevenly tiles are active, and
  how alike consecutive tiles are, set how often a tile's fill and the previous tile's
  work fail to overlap.
  Entries with `span: g` (receptive-field groups; absent in older files, and then the model
  takes a PTB pass's windows as independent) count instead the active lines of the busiest
  of g aligned consecutive windows (groups of windows starting at 0, g, 2g, ...; a last
  partial group is left out) of one sample, g = 2, 4, ..., 32 up to T / w: the most lines
  one time-window column of a PTB pass holds.
- `line_window_counts` (optional, recorded with `coactivity`; absent in older files, and
  then the model takes a PTB pass's live taps as alike, each active in each window
  independently): per (`window` w, `span` g), g = 2, 4, ..., 32 up to T / w, the fraction
  of (line, sample, group of g aligned consecutive windows of w steps) cases in which the
  line is active in k = 0..g of the group's windows (a last partial group left out): how
  many of a PTB pass's columns a tap takes, and how that differs between lines. Layers of
  more than 8192 lines count every k-th line of a sample, k = lines // 4096.
- `pixel_count_correlation` (optional, recorded with `coactivity`; absent in older files,
  and then the model takes a spatial row's pixels as independent of the previous row's):
  per window w = 1, 2, 4, 8, 16 up to T, the Pearson correlation of a pixel's spike count
  in an aligned window with that of the pixel one row down (same channel, `vertical`) and
  of the same pixel in the next channel (`channel`), over every such pair, window and
  sample; None where the counts do not vary. How a spatial row's busy pixels stay in the
  same columns over the next kernel row and channel. An FC input is one pixel of C
  channels (`vertical` None): `channel` is how alike neighbouring lines' counts are.
"""

from __future__ import annotations

import json
import math
from importlib import resources
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from spikex_plugin.errors import SpikeXInputError, from_validation_error
from spikex_plugin.util import load_yaml_file

FORMAT_VERSION = "spikex-firing-stats/1"
_TOL = 1e-9


class Histogram(BaseModel):
    model_config = ConfigDict(extra="forbid")
    edges: list[float] = Field(min_length=2)
    fractions: list[float]

    @model_validator(mode="after")
    def _check(self) -> "Histogram":
        if len(self.fractions) != len(self.edges) - 1:
            raise ValueError("fractions must have len(edges) - 1 entries")
        _check_finite_unit("fractions", self.fractions)
        if not np.all(np.isfinite(self.edges)):
            raise ValueError("edges contain NaN or infinity")
        if np.any(np.diff(self.edges) <= 0):
            raise ValueError("edges must increase")
        return self


class CoActivity(BaseModel):
    """Distribution of the number of active lines of one group in one window (see module doc)."""
    model_config = ConfigDict(extra="forbid")
    window: PositiveInt
    lines: PositiveInt
    counts: Histogram
    group: Literal["row", "tile"] | None = None   # None: a receptive-field box (or all FC lines)
    # `tile` entries: Pearson correlation of one chunk's counts in consecutive windows
    next_window_correlation: float | None = Field(default=None, ge=-1, le=1)
    span: PositiveInt | None = None       # None: one window; else the busiest of `span` windows

    @model_validator(mode="after")
    def _check(self) -> "CoActivity":
        if self.counts.edges[0] != 0 or self.counts.edges[-1] > self.lines + 1:
            raise ValueError(f"counts.edges must run from 0 to at most lines + 1 = {self.lines + 1}")
        if abs(sum(self.counts.fractions) - 1) > 1e-3:
            raise ValueError(f"counts.fractions sum to {sum(self.counts.fractions):.6g}, expected 1")
        return self


class WindowCounts(BaseModel):
    """Distribution of how many of `span` aligned consecutive windows one line is active in
    (see module doc)."""
    model_config = ConfigDict(extra="forbid")
    window: PositiveInt
    span: PositiveInt
    fractions: list[float]

    @model_validator(mode="after")
    def _check(self) -> "WindowCounts":
        if len(self.fractions) != self.span + 1:
            raise ValueError(f"fractions must have span + 1 = {self.span + 1} entries (0..span active windows)")
        _check_finite_unit("fractions", self.fractions)
        if abs(sum(self.fractions) - 1) > 1e-3:
            raise ValueError(f"fractions sum to {sum(self.fractions):.6g}, expected 1")
        return self


class PixelCountCorrelation(BaseModel):
    """Correlation of a pixel's spike count in one window with its neighbours' (module doc)."""
    model_config = ConfigDict(extra="forbid")
    window: PositiveInt
    vertical: float | None = Field(default=None, ge=-1, le=1)   # the pixel one row down, same channel
    channel: float | None = Field(default=None, ge=-1, le=1)    # the same pixel of the next channel


class LayerFiringStats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    shape: list[PositiveInt] = Field(min_length=1, max_length=3)
    T: PositiveInt
    samples: PositiveInt = 1
    spikes_per_step: list[float]
    window_occupancy: list[float]
    channel_block_occupancy: dict[int, list[float]]
    line_spike_histogram: Histogram
    aligned_block_occupancy: dict[int, dict[int, float]] | None = None
    coactivity: list[CoActivity] | None = None
    line_window_counts: list[WindowCounts] | None = None
    pixel_count_correlation: list[PixelCountCorrelation] | None = None

    @property
    def lines(self) -> int:
        return math.prod(self.shape)

    @property
    def channels(self) -> int:
        return self.shape[0]

    @property
    def rate(self) -> float:
        """Mean spikes per (line, time step)."""
        return float(np.sum(self.spikes_per_step)) / (self.T * self.lines)

    @model_validator(mode="after")
    def _check(self) -> "LayerFiringStats":
        if len(self.spikes_per_step) != self.T:
            raise ValueError(f"spikes_per_step has {len(self.spikes_per_step)} entries, T is {self.T}")
        steps = np.asarray(self.spikes_per_step, dtype=float)
        if not np.all(np.isfinite(steps)) or np.any(steps < 0) or np.any(steps > self.lines + _TOL):
            raise ValueError(f"spikes_per_step must be finite counts in [0, {self.lines}]")
        _check_curve("window_occupancy", self.window_occupancy, self.T)
        if abs(self.window_occupancy[0] - self.rate) > 1e-6 + 1e-6 * self.rate:
            raise ValueError(f"window_occupancy[0] ({self.window_occupancy[0]:.6g}) must equal the "
                             f"spike rate from spikes_per_step ({self.rate:.6g})")
        if 1 not in self.channel_block_occupancy:
            raise ValueError("channel_block_occupancy needs group size 1")
        for g, curve in self.channel_block_occupancy.items():
            if g < 1 or g > self.channels:
                raise ValueError(f"channel_block_occupancy group {g} outside 1..{self.channels}")
            _check_curve(f"channel_block_occupancy.{g}", curve, self.T)
        for g, blocks in (self.aligned_block_occupancy or {}).items():
            if g < 1 or g > self.channels or any(w < 1 or w > self.T for w in blocks):
                raise ValueError(f"aligned_block_occupancy.{g}: group outside 1..{self.channels} or a block "
                                 f"outside 1..T={self.T} steps")
            _check_finite_unit(f"aligned_block_occupancy.{g}", list(blocks.values()))
        for i, entry in enumerate(self.coactivity or []):
            if entry.window * (entry.span or 1) > self.T or entry.lines > self.lines:
                raise ValueError(f"coactivity[{i}]: window {entry.window} (x span {entry.span or 1}) or lines "
                                 f"{entry.lines} exceed T={self.T} or the layer's {self.lines} lines")
        for i, entry in enumerate(self.pixel_count_correlation or []):
            if entry.window > self.T:
                raise ValueError(f"pixel_count_correlation[{i}]: window {entry.window} exceeds T={self.T}")
        for i, entry in enumerate(self.line_window_counts or []):
            if entry.window * entry.span > self.T:
                raise ValueError(f"line_window_counts[{i}]: {entry.span} windows of {entry.window} steps exceed T={self.T}")
        return self


class FiringStats(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: Literal["spikex-firing-stats/1"] = FORMAT_VERSION
    network: str | None = None
    layers: dict[str, LayerFiringStats]

    def save(self, path: str | Path, significant: int | None = None) -> None:
        """Write JSON; with `significant` digits, compact and rounded (bundled profiles)."""
        data = self.model_dump(exclude_none=True)
        if significant is None:
            Path(path).write_text(json.dumps(data, indent=1) + "\n")
            return
        Path(path).write_text(json.dumps(_round_floats(data, significant), separators=(",", ":")) + "\n")


def _round_floats(value, significant: int):
    """Round every float (rounding is monotone, so non-decreasing curves stay valid)."""
    if isinstance(value, float):
        return float(f"{value:.{significant}g}")
    if isinstance(value, dict):
        return {k: _round_floats(v, significant) for k, v in value.items()}
    if isinstance(value, list):
        return [_round_floats(v, significant) for v in value]
    return value


def bundled_profiles_dir() -> Path:
    """Trained firing statistics shipped with the plugin (see profiles/README.md there)."""
    return Path(str(resources.files("spikex_plugin.sparsity") / "profiles"))


def bundled_profiles() -> list[str]:
    return sorted(p.stem for p in bundled_profiles_dir().glob("*.json"))


def resolve_profile(name_or_path: str | Path) -> Path:
    """A statistics file path, or the bundled profile of that name when no such file exists."""
    path = Path(name_or_path)
    if path.exists() or str(name_or_path) not in bundled_profiles():
        return path
    return bundled_profiles_dir() / f"{name_or_path}.json"


def _check_finite_unit(name: str, values: list[float]) -> None:
    arr = np.asarray(values, dtype=float)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or infinity")
    if np.any(arr < 0) or np.any(arr > 1):
        raise ValueError(f"{name} must lie in [0, 1]")


def _check_curve(name: str, curve: list[float], T: int) -> None:
    if len(curve) != T:
        raise ValueError(f"{name} has {len(curve)} entries, expected one per window size 1..{T}")
    _check_finite_unit(name, curve)
    if np.any(np.diff(curve) < -_TOL):
        w = int(np.argmax(np.diff(curve) < -_TOL)) + 2
        raise ValueError(f"{name} decreases with window size (at w={w}); occupancy of a larger "
                         f"window can never be lower")


def load_stats(path: str | Path) -> FiringStats:
    """Read and validate a firing-statistics file (JSON or YAML) or a bundled profile by name."""
    path = resolve_profile(path)
    if path.suffix == ".json" or not path.suffix:
        if not path.is_file():
            raise SpikeXInputError(path, "<file>", f"file not found (bundled profiles: {', '.join(bundled_profiles())})")
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as e:
            raise SpikeXInputError(path, f"line {e.lineno}", f"malformed JSON: {e.msg}") from None
    else:
        data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise SpikeXInputError(path, "<root>", "a statistics file must be a mapping")
    try:
        return FiringStats.model_validate(data)
    except ValidationError as e:
        raise from_validation_error(str(path), e, data) from None


# --------------------------------------------------------------------------------------
# Builders
# --------------------------------------------------------------------------------------

def _group_sizes(channels: int) -> list[int]:
    return [1 << i for i in range(int(math.log2(channels)) + 1)]


def sliding_occupancy(active: np.ndarray) -> np.ndarray:
    """Occupancy curve for w = 1..T of a trace [T, lines] (nonzero = spike).

    A zero run of length L holds max(L - w + 1, 0) empty windows of size w, so the whole
    curve follows from the histogram of zero-run lengths, found in one pass over the trace.
    """
    from spikex_plugin.sparsity.scan import scan_trace  # numba: loaded when a trace is scanned

    T, lines = active.shape
    return occupancy_from_runs(scan_trace(active)[1], T, lines)


def occupancy_from_runs(hist: np.ndarray, T: int, lines: int) -> np.ndarray:
    """Occupancy curve w = 1..T from the histogram hist[L] of zero-run lengths (runs between
    spike sentinels at t = -1 and t = T) over `lines` independent lines of T steps."""
    w = np.arange(1, T + 1)
    # empty(w) = sum_L hist[L] * (L - w + 1) over L >= w, via suffix sums.
    suffix_n = np.cumsum(hist[::-1])[::-1]
    suffix_l = np.cumsum((hist * np.arange(hist.size))[::-1])[::-1]
    empty = suffix_l[w] - (w - 1) * suffix_n[w]
    return 1.0 - empty / ((T - w + 1) * lines)


def aligned_block_counts(blocks: np.ndarray, T: int, samples: int, groups: list[int]) -> np.ndarray:
    """[len(groups), levels, 2] (active, all) aligned blocks of g channels x w steps, w = 1,
    2, 4, ... (level i: w = 2^i) up to T, from each channel's step bytes [ceil(T / 8),
    samples * C] (`scan_trace`'s blocks); C // g groups, the last channels left over.
    Blocks of 2w are the OR of pairs of blocks of w (a last partial block left out)."""
    steps = np.unpackbits(blocks, axis=0, count=T, bitorder="little").astype(bool).reshape(T, samples, -1)
    C = steps.shape[2]
    out = np.zeros((len(groups), int(math.log2(T)) + 1, 2), dtype=np.int64)
    for i, g in enumerate(groups):
        active = steps[:, :, : C // g * g].reshape(T, samples, C // g, g).any(axis=3)
        for level in range(out.shape[1]):
            if level:
                active = active[0: active.shape[0] // 2 * 2: 2] | active[1: active.shape[0] // 2 * 2: 2]
            out[i, level] = np.count_nonzero(active), active.size
    return out


def _histogram_edges(T: int) -> np.ndarray:
    """Bins 0, 1, 2-3, 4-7, ... up to T: log-spaced because firing is heavy-tailed."""
    edges = [0, 1] + [1 << i for i in range(1, int(math.log2(max(T, 1))) + 1)] + [T + 1]
    return np.unique(edges).astype(float)


COACTIVITY_WINDOWS = (1, 2, 4, 8, 16)
COACTIVITY_BOXES = (1, 3, 5)
COACTIVITY_ROWS = (2, 4, 8, 16)
COACTIVITY_SPANS = (1, 2, 4, 8, 16, 32)
LINE_COUNT_LINES = 4096   # lines per sample that `line_window_counts` reads at most (about)
TILE_PATCH = (3, 8)   # rows x pixels of a conv `tile` patch: about a spatial L1 tile of 8 columns


def coactivity_counts(spikes: np.ndarray) -> tuple[dict[tuple[int, int, str | None, int | None], np.ndarray],
                                                    dict[tuple[int, int], np.ndarray]]:
    """Integer histograms over a trace [T, samples, *shape] (groups as in the module doc):
    - co-activity, per (window w, group lines n, group kind, span): [n + 1] of active lines
      per group and aligned window (span None), or in the busiest of `span` aligned
      consecutive windows (`tile` entries: followed by their moments, `tile_counts`);
    - line window counts, per (window w, span g): [g + 1] of how many of g aligned
      consecutive windows (a last partial group left out) one line of one sample is active
      in; every line, or every k-th line of a sample (k = lines // LINE_COUNT_LINES).
    Windows of 2w are the OR of pairs of windows of w, so all sizes cost about two passes."""
    T, samples, shape = spikes.shape[0], spikes.shape[1], spikes.shape[2:]
    stride = max(1, math.prod(shape) // LINE_COUNT_LINES)
    out: dict[tuple[int, int, str | None, int | None], np.ndarray] = {}
    line_counts: dict[tuple[int, int], np.ndarray] = {}
    for w, active in aligned_windows(spikes):
        out.update(tile_counts(active, shape, samples, w))
        if w in COACTIVITY_WINDOWS:
            spans = np.array([g for g in COACTIVITY_SPANS if g <= T // w])
            picked = active.reshape(active.shape[0], samples, -1)[:, :, ::stride]   # every stride-th line of a sample
            line_counts.update(line_window_histograms(w, picked, spans[1:]))
            out.update(group_counts(active, shape, samples, w, spans))
    return out, line_counts


def aligned_windows(spikes: np.ndarray):
    """(w, activity [T // w, samples * lines] of the aligned windows of w steps) for w = 1, 2,
    4, ... up to T, from a trace [T, samples, *shape] (nonzero = active; bytes or float32, as
    torch hands traces over, are read in place). Windows of 2w are the OR of pairs of
    windows of w."""
    T = spikes.shape[0]
    active = spikes.view(np.uint8) if spikes.dtype == np.bool_ else spikes if spikes.dtype == np.float32 else spikes != 0
    active = np.ascontiguousarray(active).reshape(T, -1)
    w = 1
    while w <= T:
        if w > 1:  # float32 only at the first level
            even, odd = active[0: active.shape[0] // 2 * 2: 2], active[1: active.shape[0] // 2 * 2: 2]
            active = (even != 0) | (odd != 0) if active.dtype == np.float32 else even | odd
        yield w, active
        w *= 2


def group_counts(active: np.ndarray, shape: tuple[int, ...], samples: int, w: int, spans: np.ndarray) -> dict:
    """Receptive-field (one window and the busiest of each span) and row entries of one
    window size (`coactivity_counts`); `active` is [windows * samples, lines]."""
    from spikex_plugin.sparsity.scan import box_count_histograms, row_count_histograms  # numba: loaded when a trace is scanned

    out = {}
    if len(shape) == 1:
        per_group = np.count_nonzero(active.reshape(-1, samples, shape[0]), axis=2)   # [windows, samples]
        for g in spans:
            busiest = per_group[: len(per_group) // g * g].reshape(-1, g, samples).max(axis=1)
            out[(w, shape[0], None, span_key(g))] = np.bincount(busiest.ravel(), minlength=shape[0] + 1)
        return out
    C, H, W = shape if len(shape) == 3 else (shape[0], 1, shape[1])
    boxes = np.array([b for b in COACTIVITY_BOXES if b <= min(H, W)])
    hist = np.zeros((boxes.size, spans.size, C * boxes.max() ** 2 + 1), dtype=np.int64)
    box_count_histograms(active.reshape(-1, C, H, W), samples, boxes, spans, hist)
    for b, per_span in zip(boxes, hist):
        for g, counts in zip(spans, per_span):
            out[(w, C * int(b) ** 2, None, span_key(g))] = counts[: C * b * b + 1]
    rows = np.array([n for n in COACTIVITY_ROWS if n <= W])
    if rows.size:
        hist = np.zeros((rows.size, rows.max() + 1), dtype=np.int64)
        row_count_histograms(active.reshape(-1, C, H, W), samples, rows, hist)
        for n, counts in zip(rows, hist):
            out[(w, int(n), "row", None)] = counts[: n + 1]
    return out


def line_window_histograms(w: int, active: np.ndarray, spans: np.ndarray) -> dict[tuple[int, int], np.ndarray]:
    """Per (w, span g): integer histogram [g + 1] of how many of g aligned consecutive frames
    of `active` [frames, ...] (nonzero = active) each line is active in (a last partial
    group left out); groups of 2g add pairs of groups of g (spans double from 2)."""
    from spikex_plugin.sparsity.scan import byte_histogram

    count = (active != 0).view(np.uint8)
    out = {}
    for g in spans:
        count = count[0: count.shape[0] // 2 * 2: 2] + count[1: count.shape[0] // 2 * 2: 2]
        out[(w, int(g))] = np.zeros(g + 1, dtype=np.int64)
        byte_histogram(np.ascontiguousarray(count), out[(w, int(g))])
    return out


def span_key(span: int) -> int | None:
    """A co-activity entry's span as stored: None for one window."""
    return None if span == 1 else int(span)


def tile_counts(active: np.ndarray, shape: tuple[int, ...], samples: int, w: int) -> dict:
    """`tile` entries of one window size: per aligned chunk of g channels (FC: lines), g a
    power of two, the active lines of a patch (conv: TILE_PATCH rows x pixels at the rows
    and columns `scan.tile_count_histograms` samples; FC: the chunk itself). `active` is
    [windows, samples * lines]. Each value is the histogram [lines + 1] followed by the six
    sums (n, x, y, x^2, y^2, xy) over (window k, window k + 1) pairs of one sample, chunk
    and patch (additive over batches)."""
    from spikex_plugin.sparsity.scan import tile_count_histograms  # numba: loaded when a trace is scanned

    C = shape[0]
    H, W = (1, 1) if len(shape) == 1 else (shape[1], shape[2]) if len(shape) == 3 else (1, shape[1])
    rows, pixels = (min(TILE_PATCH[0], H), min(TILE_PATCH[1], W)) if len(shape) > 1 else (1, 1)
    levels = int(math.log2(C)) + 1
    hist = np.zeros((levels, (1 << (levels - 1)) * rows * pixels + 1), dtype=np.int64)
    moments = np.zeros((levels, 6), dtype=np.int64)
    tile_count_histograms(active.reshape(-1, C, H, W), samples, rows, pixels, hist, moments)
    return {(w, (1 << i) * rows * pixels, "tile", None): np.concatenate([hist[i, : (1 << i) * rows * pixels + 1], moments[i]])
            for i in range(levels)}


def pixel_count_moments(spikes: np.ndarray) -> dict[tuple[int, str], np.ndarray]:
    """Per (window w, neighbour kind): the six sums (n, x, y, x^2, y^2, xy) over pairs of a
    pixel's spike count x in an aligned window (w in COACTIVITY_WINDOWS up to T) and its
    neighbour's y (`vertical`: one row down; `channel`: the next channel) of a conv trace
    [T, samples, C, H, W] (additive over batches; one sample at a time bounds the memory).
    A window's counts are the sums of two of the half window's (the recorded windows
    double), so each step is read once; the sums are one compiled pass per window."""
    from spikex_plugin.sparsity.scan import neighbour_pair_sums  # numba: loaded when a trace is scanned

    T = spikes.shape[0]
    windows = [w for w in COACTIVITY_WINDOWS if w <= T]
    out = {(w, kind): np.zeros(6, dtype=np.int64) for w in windows for kind in ("vertical", "channel")}
    for sample in np.moveaxis(spikes, 1, 0):
        counts, w = (sample != 0).astype(np.int16), 1
        for target in windows:
            while w < target:
                counts = counts[: counts.shape[0] // 2 * 2].reshape(-1, 2, *counts.shape[1:]).sum(axis=1, dtype=np.int16)
                w *= 2
            sums = np.zeros((2, 6), dtype=np.int64)
            neighbour_pair_sums(counts, sums)
            out[(target, "vertical")] += sums[0]
            out[(target, "channel")] += sums[1]
    return out


def pearson(sums: np.ndarray | None) -> float | None:
    """Pearson correlation from the sums (n, x, y, x^2, y^2, xy); None where either varies not."""
    if sums is None:
        return None
    n, sx, sy, sxx, syy, sxy = sums.astype(np.float64)
    spread = (n * sxx - sx * sx) * (n * syy - sy * sy)
    return float(np.clip((n * sxy - sx * sy) / math.sqrt(spread), -1, 1)) if spread > 0 else None


def _count_edges(n: int) -> np.ndarray:
    """Bins over 0..n active lines: one per count up to 32, then eight per octave."""
    exact = np.arange(min(n, 32) + 1)
    octaves = np.unique(np.round(32 * 2.0 ** (np.arange(1, 8 * max(math.log2(max(n, 1) / 32), 0) + 1) / 8)))
    return np.unique(np.concatenate([exact, octaves[octaves <= n], [n + 1]])).astype(float)


def coactivity_entry(window: int, lines: int, counts: np.ndarray, group: str | None = None,
                     span: int | None = None) -> CoActivity:
    """A `CoActivity` from an integer histogram of active lines [lines + 1] (`tile` entries:
    followed by their consecutive-window moments, `tile_counts`), binned for storage."""
    correlation = None
    if group == "tile":
        counts, correlation = counts[: lines + 1], pearson(counts[lines + 1:])
    edges = _count_edges(lines)
    fractions = np.add.reduceat(counts, edges[:-1].astype(int)) / counts.sum()
    last = int(np.flatnonzero(fractions)[-1]) + 1 if fractions.any() else 1
    return CoActivity(window=window, lines=lines, group=group, span=span, next_window_correlation=correlation,
                      counts=Histogram(edges=edges[: last + 1].tolist(), fractions=fractions[:last].tolist()))


def unpack_spikes(packed: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Undo `np.packbits(spikes, axis=-1)` for a trace whose last axis had shape[-1] entries."""
    return np.unpackbits(packed, axis=-1, count=shape[-1]).astype(bool)


class FiringAccumulator:
    """Streams the sufficient statistics of `layer_stats_from_spikes` over batches in
    constant memory: integer histograms of zero-run lengths (lines and channel blocks),
    spikes per step and spikes per line. Every count is additive over samples, so the result
    over many batches equals the statistics of the concatenated trace exactly.

    `add` reads each batch once (`scan.scan_trace`); channel blocks are then ORed on the
    per-channel step bits (`scan.channel_block_runs`). Co-activity costs about two more
    passes; `coactivity_every=k` records it on every k-th sample only (counted over all
    batches, so batching does not change the result), 0 not at all.
    """

    def __init__(self, shape: tuple[int, ...], T: int, coactivity_every: int = 1):
        self.coactivity_every = int(coactivity_every)
        self.shape, self.T = tuple(int(d) for d in shape), int(T)
        self.channels = self.shape[0]
        self.lines = math.prod(self.shape)
        self.samples = 0
        self.steps = np.zeros(self.T, dtype=np.int64)
        self.line_runs = np.zeros(self.T + 1, dtype=np.int64)
        self.count_hist = np.zeros(self.T + 1, dtype=np.int64)
        self.groups = _group_sizes(self.channels)
        self.block_runs = np.zeros((len(self.groups), self.T + 1), dtype=np.int64)  # row l: groups[l]
        self.aligned_blocks = np.zeros((len(self.groups), int(math.log2(self.T)) + 1, 2), dtype=np.int64)
        self.coactivity: dict[tuple[int, int, str | None, int | None], np.ndarray] = {}
        self.window_counts: dict[tuple[int, int], np.ndarray] = {}
        self.pixel_moments: dict[tuple[int, str], np.ndarray] = {}

    def add(self, spikes: np.ndarray) -> None:
        """Add a trace [T, samples, *shape] (nonzero = spike; bool is read without a copy)."""
        spikes = np.asarray(spikes)
        if spikes.ndim < 2 or spikes.shape[0] != self.T or tuple(spikes.shape[2:]) != self.shape:
            raise ValueError(f"trace shape {spikes.shape} does not match [T={self.T}, samples, *{self.shape}]")
        from spikex_plugin.sparsity.scan import channel_block_runs, scan_trace  # numba: loaded when a trace is scanned

        T, samples, C = self.T, spikes.shape[1], self.channels
        steps, line_runs, count_hist, blocks = scan_trace(spikes.reshape(T, -1), self.lines // C)
        line_per_channel = self.lines == C  # FC: level 0 is the lines themselves
        block_runs = channel_block_runs(blocks, T, samples, len(self.groups), line_per_channel)
        if line_per_channel:
            block_runs[0] = line_runs
        self.block_runs += block_runs
        self.aligned_blocks += aligned_block_counts(blocks, T, samples, self.groups)
        self.steps += steps
        self.line_runs += line_runs
        self.count_hist += count_hist
        if self.coactivity_every:
            picked = spikes[:, (-self.samples) % self.coactivity_every::self.coactivity_every]
            coactivity, line_counts = coactivity_counts(picked) if picked.shape[1] else ({}, {})
            for key, counts in coactivity.items():
                self.coactivity[key] = self.coactivity.get(key, 0) + counts
            for key, counts in line_counts.items():
                self.window_counts[key] = self.window_counts.get(key, 0) + counts
            if len(self.shape) in (1, 3) and picked.shape[1]:
                # An FC input is one pixel of C channels: its `channel` neighbour is the next line.
                pixels = picked if len(self.shape) == 3 else picked.reshape(*picked.shape, 1, 1)
                for key, sums in pixel_count_moments(pixels).items():
                    self.pixel_moments[key] = self.pixel_moments.get(key, 0) + sums
        self.samples += samples

    def result(self) -> LayerFiringStats:
        if not self.samples:
            raise ValueError("no samples recorded")
        T, lines = self.T, self.samples * self.lines
        edges = _histogram_edges(T)
        bins = np.searchsorted(edges, np.arange(T + 1), side="right") - 1
        hist = np.bincount(bins, weights=self.count_hist, minlength=len(edges) - 1)[: len(edges) - 1]
        block = {g: occupancy_from_runs(runs, T, self.samples * (self.channels // g)).tolist()
                 for g, runs in zip(self.groups, self.block_runs)}
        return LayerFiringStats(
            shape=list(self.shape), T=T, samples=self.samples,
            spikes_per_step=(self.steps / self.samples).tolist(),
            window_occupancy=occupancy_from_runs(self.line_runs, T, lines).tolist(),
            channel_block_occupancy=block,
            line_spike_histogram=Histogram(edges=edges.tolist(), fractions=(hist / lines).tolist()),
            aligned_block_occupancy={g: {1 << i: float(active / total) for i, (active, total) in enumerate(levels)}
                                     for g, levels in zip(self.groups, self.aligned_blocks)},
            coactivity=[coactivity_entry(w, n, counts, group, span)
                        for (w, n, group, span), counts in sorted(self.coactivity.items(),
                                                                  key=lambda kv: (kv[0][2] or "", kv[0][3] or 1, kv[0][:2]))]
                       or None,
            line_window_counts=[WindowCounts(window=w, span=g, fractions=(counts / counts.sum()).tolist())
                                for (w, g), counts in sorted(self.window_counts.items())] or None,
            pixel_count_correlation=[PixelCountCorrelation(window=w, **{kind: pearson(self.pixel_moments.get((w, kind)))
                                                                        for kind in ("vertical", "channel")})
                                     for w in sorted({w for w, _ in self.pixel_moments})] or None,
        )


def layer_stats_from_spikes(spikes: np.ndarray, shape: tuple[int, ...] | None = None,
                            packed: bool = False) -> LayerFiringStats:
    """Statistics of a recorded trace [T, samples, *shape] (0/1 values; bool, int or float).

    With `packed=True` the last axis is `np.packbits`-packed and `shape` gives the unpacked
    per-step shape. Samples are independent runs: windows never span two samples.
    """
    spikes = np.asarray(spikes)
    if packed:
        if shape is None:
            raise ValueError("packed traces need the unpacked per-step shape")
        spikes = unpack_spikes(spikes, tuple(shape))
    shape = tuple(shape or spikes.shape[2:])
    if spikes.shape[2:] != shape:
        raise ValueError(f"trace shape {spikes.shape[2:]} does not match layer shape {shape}")
    acc = FiringAccumulator(shape, spikes.shape[0])
    acc.add(spikes)
    return acc.result()


def bursty_transitions(rate: float, correlation: float) -> tuple[float, float]:
    """Per-line two-state Markov chain with stationary rate `rate` and lag-1 correlation
    `correlation` in [0, 1): P(spike | no spike) = a, P(spike | spike) = b = a + correlation."""
    if not 0 <= rate <= 1 or not 0 <= correlation < 1:
        raise ValueError("rate must lie in [0, 1] and correlation in [0, 1)")
    a = rate * (1 - correlation)
    return a, a + correlation


def sample_bursty_trace(shape: tuple[int, ...], T: int, rate: float, correlation: float = 0.0,
                        samples: int = 1, seed: int = 0) -> np.ndarray:
    """Boolean trace [T, samples, *shape]: independent lines, each a stationary Markov chain
    (correlation 0 gives Bernoulli spikes)."""
    a, b = bursty_transitions(rate, correlation)
    rng = np.random.default_rng(seed)
    u = rng.random((T, samples, *shape))
    out = np.empty(u.shape, dtype=bool)
    out[0] = u[0] < rate
    for t in range(1, T):
        out[t] = u[t] < np.where(out[t - 1], b, a)
    return out


def layer_stats_from_rate(shape: tuple[int, ...], T: int, rate: float,
                          correlation: float = 0.0) -> LayerFiringStats:
    """Expected statistics of independent lines firing at `rate`, Bernoulli in time
    (correlation 0) or bursty (a two-state Markov chain, see `bursty_transitions`)."""
    a, b = bursty_transitions(rate, correlation)
    w = np.arange(1, T + 1)
    # P(window of w steps empty) = P(first step silent) * P(silent -> silent)^(w - 1).
    empty_line = (1 - rate) * (1 - a) ** (w - 1)
    lines_per_channel = math.prod(shape[1:])
    block = {g: (1 - empty_line ** (g * lines_per_channel)).tolist() for g in _group_sizes(shape[0])}
    edges = _histogram_edges(T)
    fractions = _count_histogram(T, rate, a, b, edges)
    return LayerFiringStats(
        shape=list(shape), T=T, samples=1,
        spikes_per_step=[rate * math.prod(shape)] * T,
        window_occupancy=(1 - empty_line).tolist(),
        channel_block_occupancy=block,
        line_spike_histogram=Histogram(edges=edges.tolist(), fractions=fractions.tolist()),
    )


def _count_histogram(T: int, rate: float, a: float, b: float, edges: np.ndarray) -> np.ndarray:
    """Distribution of total spikes per line over T steps of the Markov chain (exact DP)."""
    # dist[s, k]: probability of state s (0 silent, 1 spiking) after k spikes so far.
    dist = np.zeros((2, T + 1))
    dist[0, 0], dist[1, 1] = 1 - rate, rate
    for _ in range(1, T):
        nxt = np.zeros_like(dist)
        nxt[0] = dist[0] * (1 - a) + dist[1] * (1 - b)
        nxt[1, 1:] = (dist[0] * a + dist[1] * b)[:-1]
        dist = nxt
    pmf = dist.sum(axis=0)
    idx = np.searchsorted(edges, np.arange(T + 1), side="right") - 1
    return np.clip(np.bincount(idx, weights=pmf, minlength=len(edges) - 1)[: len(edges) - 1], 0, 1)


def network_stats_from_rate(network, rate: float, correlation: float = 0.0) -> FiringStats:
    """Same rate for the input of every weighted layer of a `Network`."""
    return FiringStats(network=network.name, layers={
        layer.name: layer_stats_from_rate(layer.input_shape, layer.T, rate, correlation)
        for layer in network.resolved})


STATS_REQUIRED = ("conv", "fc", "pool")  # read by a module the recorder hooks


def check_stats_match_network(stats: FiringStats, network, source: str) -> None:
    """Every conv, fc and pool layer of the network needs statistics of the right shape and
    T; other layers are checked when present. Every layer of the statistics must be one of
    the network's (else it was recorded on another network)."""
    names = [layer.name for layer in network.resolved]
    extra = sorted(set(stats.layers) - set(names))
    if extra:
        raise SpikeXInputError(source, f"layers.{extra[0]}", f"network '{network.name}' has no layer "
                               f"'{extra[0]}' (its layers: {', '.join(names)})")
    for layer in network.resolved:
        if layer.name not in stats.layers and layer.type not in STATS_REQUIRED:
            continue  # ops between modules: recorded with SpikeRecorder(ops=True), else the mean rate
        if layer.name not in stats.layers:
            raise SpikeXInputError(source, f"layers.{layer.name}",
                                   f"no statistics for layer '{layer.name}' of network '{network.name}'")
        s = stats.layers[layer.name]
        if tuple(s.shape) != layer.input_shape:
            raise SpikeXInputError(source, f"layers.{layer.name}.shape",
                                   f"{s.shape} does not match the layer's input {list(layer.input_shape)}")
        if s.T != layer.T:
            raise SpikeXInputError(source, f"layers.{layer.name}.T", f"{s.T} does not match network T={layer.T}")
