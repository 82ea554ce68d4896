"""Firing statistics against brute force."""

import numpy as np
import pytest

from spikex_plugin.sparsity.density import HypergeometricDensity, UniformDensity, ActualDataDensity
from spikex_plugin.sparsity.stats import (layer_stats_from_rate, layer_stats_from_spikes,
                                          sample_bursty_trace, sliding_occupancy)


def test_sliding_occupancy_brute_force():
    a = np.random.default_rng(0).random((25, 9)) < 0.08
    ref = [np.mean([a[s:s + w, l].any() for s in range(25 - w + 1) for l in range(9)]) for w in range(1, 26)]
    assert np.allclose(sliding_occupancy(a), ref, atol=1e-15)


@pytest.mark.parametrize("shape,T,rate", [((3, 5, 7), 23, 0.1), ((6,), 9, 0.5), ((4, 3, 3), 40, 0.02),
                                          ((12, 2, 1), 8, 0.3), ((5,), 1, 0.5), ((7, 3), 17, 0.6),
                                          ((7,), 17, 0.05), ((6, 2, 2), 10, 0.02)])
@pytest.mark.parametrize("dtype", ["float32", "bool", "int64"])
def test_layer_stats_brute_force(shape, T, rate, dtype):
    """Every field of the statistics against enumeration of the trace: widths that are not
    whole 8-line words, T around whole bytes of steps, channel counts that are not powers of
    two, and input that is not 0/1 (after average pooling any nonzero value is a spike)."""
    tr = sample_bursty_trace(shape, T, rate, 0.4, samples=3, seed=5)
    values = np.random.default_rng(1).uniform(1.0, 3.0, tr.shape) * tr  # nonzero exactly at spikes
    s = layer_stats_from_spikes(values.astype(dtype) if dtype != "bool" else tr)
    lines = tr.reshape(T, -1)
    assert np.array_equal(s.spikes_per_step, lines.sum(1) / 3)
    per_channel = tr.reshape(T, 3, shape[0], -1).any(axis=3)
    for w in range(1, T + 1):
        windows = [lines[t:t + w].any(axis=0) for t in range(T - w + 1)]
        assert s.window_occupancy[w - 1] == pytest.approx(np.mean(windows), abs=1e-12)
        for g, curve in s.channel_block_occupancy.items():
            groups = per_channel[:, :, : shape[0] // g * g].reshape(T, 3, -1, g).any(axis=3)
            ref = np.mean([groups[t:t + w].any(axis=0) for t in range(T - w + 1)])
            assert curve[w - 1] == pytest.approx(ref, abs=1e-12)
    totals = lines.sum(axis=0)
    edges = s.line_spike_histogram.edges
    ref = [np.mean((totals >= lo) & (totals < hi)) for lo, hi in zip(edges[:-1], edges[1:])]
    assert s.line_spike_histogram.fractions == pytest.approx(ref, abs=1e-12)


def test_threaded_scan_equals_per_sample_scans(monkeypatch):
    """A trace big enough to be split across threads gives the statistics that its samples,
    each scanned alone in one thread and accumulated, give."""
    from spikex_plugin.sparsity import scan
    from spikex_plugin.sparsity.stats import FiringAccumulator

    monkeypatch.setattr(scan, "_PARALLEL_MIN", 1 << 19)  # the default splits only far larger traces
    tr = sample_bursty_trace((8, 32, 32), 64, 0.05, 0.5, samples=4, seed=2)
    assert tr.size >= 2 * scan._PARALLEL_MIN > tr[:, :1].size
    acc = FiringAccumulator((8, 32, 32), 64)
    for i in range(4):
        acc.add(tr[:, i:i + 1])
    assert layer_stats_from_spikes(tr) == acc.result()


@pytest.mark.parametrize("corr", [0.0, 0.7])
def test_analytic_stats_match_sampled_traces(corr):
    an = layer_stats_from_rate((4, 6, 6), 64, 0.03, corr)
    em = layer_stats_from_spikes(sample_bursty_trace((4, 6, 6), 64, 0.03, corr, samples=200, seed=3))
    assert np.allclose(an.window_occupancy, em.window_occupancy, atol=0.01)
    assert np.allclose(an.channel_block_occupancy[1], em.channel_block_occupancy[1], atol=0.02)


def test_packed_trace_equals_unpacked():
    tr = sample_bursty_trace((3, 5, 7), 12, 0.1, samples=2, seed=1)
    packed = np.packbits(tr, axis=-1)
    assert layer_stats_from_spikes(packed, shape=(3, 5, 7), packed=True) == layer_stats_from_spikes(tr)


def test_density_models_agree_on_small_cases():
    u = UniformDensity(0.1)
    assert u.p_nonempty(2, 3) == pytest.approx(1 - 0.9 ** 6)
    h = HypergeometricDensity(nonzeros=2, total=10)
    # P(a 3-point tile misses both nonzeros) = C(8,3)/C(10,3) = 56/120
    assert h.p_nonempty(1, 3) == pytest.approx(1 - 56 / 120)
    a = ActualDataDensity(layer_stats_from_rate((2, 3, 3), 16, 0.1))
    assert a.p_nonempty(1, 4) == pytest.approx(u.p_nonempty(1, 4))
    assert a.p_channels_nonempty(1, 2) == pytest.approx(u.p_nonempty(9, 2))
