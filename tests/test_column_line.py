"""The temporal column line's persistent lines: each draw against a brute-force or hand count."""

import itertools
import math

import numpy as np
import pytest

from spikex_plugin.cost_model.column_line import (LineUnits, active_places, coactive_work, window_counts, window_gain,
                                                  window_intensity, window_weights)
from spikex_plugin.cost_model.spikex import neighbour_correlation, shared_window_cv, temporal_line_units
from spikex_plugin.workload.network import Layer
from spikex_plugin.sparsity.density import ActualDataDensity
from spikex_plugin.sparsity.stats import layer_stats_from_spikes


def test_window_weights_match_every_placement_of_the_block_spikes():
    """P(an aligned window of 2 steps holds a spike) when S spikes sit at any S of 8 steps:
    counted over every placement and every window."""
    g, tws = 8, 2
    expected = []
    for s in range(g + 1):
        hits = [any(p in places for p in range(w, w + tws))
                for places in itertools.combinations(range(g), s) for w in range(0, g, tws)]
        expected.append(sum(hits) / len(hits))
    assert window_weights(np.arange(g + 1), g, tws) == pytest.approx(expected, abs=1e-12)


def test_active_places_keep_each_column_count_and_weigh_the_lines():
    """One pick per column takes a line with probability weight / total weight; zero-weight
    lines are taken only once the weighted ones run out."""
    rng = np.random.default_rng(3)
    weights = np.array([0.0, 1.0, 3.0, 0.0])
    runs = 20_000
    one = active_places(np.ones((runs, 2), dtype=int), np.broadcast_to(weights[None, :, None], (runs, 4, 2)), rng)
    assert (one.sum(axis=1) == 1).all()
    assert one[:, :, 0].mean(axis=0) == pytest.approx([0.0, 0.25, 0.75, 0.0], abs=0.01)
    three = active_places(np.full((runs, 2), 3), np.broadcast_to(weights[None, :, None], (runs, 4, 2)), rng)
    assert (three.sum(axis=1) == 3).all() and three[:, 1:3].all()
    assert three[:, 0, 0].mean() == pytest.approx(0.5, abs=0.01)


def test_window_counts_share_the_block_spikes_among_the_active_windows():
    """A line with 10 spikes in its 16 steps (4 windows of 4), active in 2 windows: each holds
    one spike and its 3 other steps hold the 8 others at 8 / 6 (all) places each: 4 spikes."""
    rng = np.random.default_rng(5)
    active = np.zeros((1000, 1, 4), dtype=bool)
    active[:, 0, :2] = True
    assert (window_counts(np.full((1000, 1), 10), active, 4, np.ones((1000, 4)), rng)[:, 0, :2] == 4).all()
    many = np.broadcast_to(active[:1], (40_000, 1, 4))
    counts = window_counts(np.full((40_000, 1), 5), many, 4, np.ones((40_000, 4)), rng)
    assert counts[:, 0, :2].mean() == pytest.approx(2.5, abs=0.01)   # 3 spikes over 6 places: 1 + 3 x 1/2
    # A window at gain 1.2 holds 2.5 x 1.2 = 3 spikes: 1 + 3 x 2/3.
    gained = window_counts(np.full((40_000, 1), 5), many, 4, np.full((40_000, 4), 1.2), rng)
    assert gained[:, 0, :2].mean() == pytest.approx(3.0, abs=0.01)


def test_lines_that_always_fire_take_the_columns_first():
    """A field of 16 lines, each firing in all 32 steps of its block with probability 1/4
    (else never), 4 active lines in every window: a busy line fills each column it takes
    (tws = 8 spikes), and takes all 4 when at most 4 lines are busy; with B > 4 busy lines
    each column takes 4 of them at random, all 4 columns with probability (4 / B)^4 (one
    or more: 1 - (1 - 4 / B)^4). Equal weights would spread the 4 over the 16 lines."""
    coactive = np.eye(17)[4]
    line_totals = np.zeros(33)
    line_totals[[0, 32]] = 0.75, 0.25
    work = coactive_work(coactive, np.eye(8)[7], 4, 65536, LineUnits(tuple(line_totals), 1.0))
    busy = work[(work == 8).any(axis=1)]
    assert ((busy == 8) | (busy == 0)).all()
    others = [math.comb(15, b) * 0.25 ** b * 0.75 ** (15 - b) for b in range(16)]   # B - 1 busy besides this one
    all_four = sum(p * min(1.0, 4 / (b + 1)) ** 4 for b, p in enumerate(others))
    some = sum(p * (1 - max(0.0, 1 - 4 / (b + 1)) ** 4) for b, p in enumerate(others))
    assert (busy == 8).all(axis=1).mean() == pytest.approx(all_four / some, abs=0.01)


def test_temporal_line_units_read_the_block_of_the_step():
    """Spikes per line in the step's block of cols x tws steps; beyond 32 steps, active
    2-step units of a 64-step block, each holding rate x 2 / P(2 steps active) spikes (any
    2 consecutive steps): brute force over a tiny trace."""
    rng = np.random.default_rng(0)
    trace = rng.random((64, 2, 6)) < rng.random(6) * 0.6   # [T, samples, lines]: rates differ
    d = ActualDataDensity(layer_stats_from_spikes(trace))
    per_block = trace.reshape(4, 16, 2, 6).sum(axis=1).ravel()   # spikes of each line in blocks of 16
    layer = Layer(name="fc", type="fc", T=64, C=6, M=2, H=1, W=1, R=1, S=1, P=1, Q=1)
    units = temporal_line_units(d, 4, 4, layer)
    assert units.pmf == pytest.approx(tuple(np.bincount(per_block, minlength=17) / per_block.size), abs=1e-9)
    assert units.unit_spikes == 1.0 and units.rate == pytest.approx(trace.mean())
    pairs = trace.reshape(32, 2, 2, 6).any(axis=1)                # 2-step units
    per_block = pairs.sum(axis=0).ravel()                         # of the one 64-step block
    wide = temporal_line_units(d, 8, 8, layer)
    assert wide.pmf == pytest.approx(tuple(np.bincount(per_block, minlength=33) / per_block.size), abs=1e-9)
    assert wide.unit_spikes == pytest.approx(trace.mean() * 2 / (trace[:-1] | trace[1:]).mean(), rel=1e-5)


def test_window_intensity_is_largest_where_most_lines_fire():
    """Levels of mean 1 and the asked coefficient of variation, sorted like the windows'
    counts of active lines; all alike within a run at correlation 1, none at cv 0."""
    rng = np.random.default_rng(2)
    counts = np.tile(np.array([[3, 0, 7, 1]]), (50_000, 1))
    levels = window_intensity(counts, 0.5, 0.0, rng)
    assert levels.mean() == pytest.approx(1.0, abs=0.01)
    assert levels.std() == pytest.approx(0.5, abs=0.01)
    assert (np.argsort(levels, axis=1) == [1, 3, 0, 2]).all()
    alike = window_intensity(counts, 0.5, 1.0, rng)
    assert alike.std(axis=1) == pytest.approx(0.0, abs=1e-9) and alike.std() == pytest.approx(0.5, abs=0.01)
    assert (window_intensity(counts[:5], 0.0, 0.0, rng) == 1).all()


def test_window_gain_adds_spikes_near_saturation_and_keeps_the_run_total():
    """Rate 0.5, 4 steps, intensities 0.5 and 1.5, one active line each: spikes per active
    window p x 4 / (1 - (1 - p)^4) = 1 / (1 - 0.75^4) = 1.4629 at p = 0.25 and
    3 / (1 - 0.25^4) = 3.0118 at 0.75 (2.1333 at 0.5), then scaled to mean 1."""
    active = np.ones((1, 1, 2), dtype=bool)
    gain = window_gain(np.array([[0.5, 1.5]]), active, 0.5, 4)
    raw = np.array([1.0 / (1 - 0.75 ** 4), 3.0 / (1 - 0.25 ** 4)]) / (2.0 / (1 - 0.5 ** 4))
    assert gain[0] == pytest.approx(raw / raw.mean(), rel=1e-9)


def test_shared_window_cv_counts_only_what_lines_share():
    """Independent lines share nothing; lines that all fire together in a step (a shared
    on/off state, 1 step in 4 on at random) share var / mean^2 = (1 - 1/4) / (1/4) = 3 per
    step, and steps drawn independently average 3 / tws over a window of tws steps."""
    rng = np.random.default_rng(1)
    independent = ActualDataDensity(layer_stats_from_spikes(rng.random((64, 16, 32)) < 0.2))
    assert shared_window_cv(independent, 32, 32, 4) < 0.1
    together = np.broadcast_to(rng.random((64, 16, 1)) < 0.25, (64, 16, 32))
    d = ActualDataDensity(layer_stats_from_spikes(together))
    assert shared_window_cv(d, 32, 32, 4) ** 2 == pytest.approx(3 / 4, rel=0.15)


def test_neighbouring_lines_are_picked_together_at_their_correlation():
    """Half of 128 equal-weight lines active per column: the median split of a Gaussian chain
    of correlation sin(pi r / 2) has indicator correlation (2 / pi) arcsin(sin(pi r / 2)) = r
    between neighbours (a tetrachoric identity), measured over the draws; a little less at
    high r, where a column's fixed count of a short chain splits it off its median; and
    every column still holds its count."""
    rng = np.random.default_rng(3)
    count = np.full((200, 4), 64)
    for r, low, high in ((0.0, -0.03, 0.03), (0.4, 0.36, 0.44), (0.8, 0.7, 0.8)):
        active = active_places(count, np.ones((200, 128, 4)), rng, r)
        assert (active.sum(axis=1) == 64).all()
        a = active.transpose(0, 2, 1).astype(float)
        assert low < np.corrcoef(a[:, :, :-1].ravel(), a[:, :, 1:].ravel())[0, 1] < high


def test_window_counts_keep_the_given_spikes_of_an_issued_line():
    """Lines whose spikes would overfill their active windows (or leave them at one spike)
    are spread so that a line with some active window holds `step_spikes` over its 8
    windows on average (each active window 1 spike plus Binomial(tws - 1, fill) draws):
    counted over the draws."""
    rng = np.random.default_rng(9)
    active = rng.random((20_000, 4, 8)) < 0.3
    issued = active.any(axis=2)
    spikes = rng.integers(0, 40, size=(20_000, 4)).astype(float)
    gain = np.ones((20_000, 8))
    for step_spikes in (4.0, 8.0, 14.0):
        counts = window_counts(spikes, active, 8, gain, rng, step_spikes)
        assert (counts * active).sum(axis=2)[issued].mean() == pytest.approx(step_spikes, rel=0.01)


def test_neighbour_correlation_counts_what_a_row_shares_beyond_the_field():
    """Whole rows of pixels fire together (rows independent): two neighbours of a row are
    alike (correlation 1), while two of a 2-channel 3 x 3 field's 18 lines share a row in
    18 of its 153 pairs (correlation 18 / 153); so 1 - 18 / 153 = 0.88, within what the
    sampled row entries record (0.75-0.95). Independent pixels: 0."""
    rng = np.random.default_rng(2)
    rows = rng.random((64, 8, 2, 16, 1)) < 0.1                    # [T, samples, C, H, 1]
    d = ActualDataDensity(layer_stats_from_spikes(np.broadcast_to(rows, (64, 8, 2, 16, 16)).copy()))
    independent = ActualDataDensity(layer_stats_from_spikes(rng.random((64, 8, 2, 16, 16)) < 0.1))
    for tws in (1, 2, 4):
        assert 0.75 < neighbour_correlation(d, 18, tws) < 0.95
        assert neighbour_correlation(independent, 18, tws) < 0.03


def test_neighbouring_lines_spike_counts_correlate_at_the_count_correlation():
    """Windows of 2 steps at fill 1/2 (1.5 spikes each): a count is 1 plus one step above or
    below its median, so the neighbour-correlated draws give counts of consecutive lines of
    correlation r (the tetrachoric identity of `active_places`' test), lines two apart
    (2 / pi) arcsin(sin(pi r / 2)^2); uncorrelated at r = 0; the mean stays 1.5."""
    rng = np.random.default_rng(11)
    active = np.ones((20_000, 6, 4), dtype=bool)
    spikes, gain = np.full((20_000, 6), 6.0), np.ones((20_000, 4))
    for r in (0.0, 0.5):
        counts = window_counts(spikes, active, 2, gain, rng, correlation=r).transpose(0, 2, 1).astype(float)
        assert counts.mean() == pytest.approx(1.5, abs=0.01)
        next_line = np.corrcoef(counts[:, :, :-1].ravel(), counts[:, :, 1:].ravel())[0, 1]
        two_apart = np.corrcoef(counts[:, :, :-2].ravel(), counts[:, :, 2:].ravel())[0, 1]
        assert next_line == pytest.approx(r, abs=0.015)
        assert two_apart == pytest.approx(2 / math.pi * math.asin(math.sin(math.pi * r / 2) ** 2), abs=0.015)
