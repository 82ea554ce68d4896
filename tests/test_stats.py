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
    for g, blocks in s.aligned_block_occupancy.items():
        assert sorted(blocks) == [w for w in (1, 2, 4, 8, 16, 32, 64) if w <= T]
        for w, value in blocks.items():
            ref = np.mean([per_channel[b * w:(b + 1) * w, i, j * g:(j + 1) * g].any()
                           for b in range(T // w) for i in range(3) for j in range(shape[0] // g)])
            assert value == pytest.approx(ref, abs=1e-12)
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


@pytest.mark.parametrize("shape,T", [((2, 7, 6), 19), ((3, 5, 7), 16), ((7, 3), 9), ((40,), 33)])
@pytest.mark.parametrize("dtype", ["bool", "float32", "int64"])
def test_coactivity_brute_force(shape, T, dtype):
    """Active lines per group and aligned window against enumeration: conv groups are all
    channels x b x b pixels at every second row and column, FC groups all lines, up to
    windows of 16; tiles (chunks of channels over a patch) in every power-of-two window;
    windows of w steps start at 0, w, 2w, ... and a partial last window is left out; span
    entries hold the busiest of g aligned consecutive windows of one sample (a partial last
    group left out), line window counts how many of g such windows one line is active in.
    Any nonzero value is a spike."""
    tr = sample_bursty_trace(shape, T, 0.15, 0.6, samples=3, seed=4)
    values = np.random.default_rng(1).uniform(1.0, 3.0, tr.shape) * tr
    s = layer_stats_from_spikes(tr if dtype == "bool" else values.astype(dtype))
    x = tr if len(shape) != 2 else tr.reshape(T, 3, shape[0], 1, shape[1])
    seen = set()
    for w in (1 << i for i in range(T.bit_length()) if 1 << i <= T):
        win = [x[k * w:(k + 1) * w].any(axis=0) for k in range(T // w)]       # each [samples, *shape]
        # tiles: each aligned chunk of g channels (FC: lines), g = 1, 2, 4, ..., over a patch of
        # 3 rows x 8 pixels (clipped to the input) at every sixth row and eighth column
        C = shape[0]
        H, W = (1, 1) if len(shape) == 1 else x.shape[3:]
        ph, pw = min(3, H), min(8, W)
        a3 = [a.reshape(3, C, H, W) for a in win]
        groups = {(g * ph * pw, "tile"): [int(a[i, j * g:(j + 1) * g, h:h + ph, v:v + pw].sum())
                                          for a in a3 for i in range(3) for j in range(C // g)
                                          for h in range(0, H - ph + 1, 6) for v in range(0, W - pw + 1, 8)]
                  for g in (1 << i for i in range(C.bit_length()) if 1 << i <= C)}
        spans = [g for g in (2, 4, 8, 16, 32) if g <= len(win)]
        if w <= 16 and len(shape) == 1:   # receptive-field and row groups up to windows of 16
            groups[shape[0]] = [int(a[i].sum()) for a in win for i in range(3)]
            groups.update({(shape[0], None, g): [max(int(a[i].sum()) for a in win[j * g:(j + 1) * g])
                                                 for j in range(len(win) // g) for i in range(3)] for g in spans})
        elif w <= 16:
            C, H, W = x.shape[2:]
            boxes = [b for b in (1, 3, 5) if b <= min(H, W)]
            corners = [(h, v) for h in range(0, H, 2) for v in range(0, W, 2)]
            groups.update({C * b * b: [int(a[i, :, h:h + b, v:v + b].sum()) for a in win for i in range(3)
                                       for h in range(0, H - b + 1, 2) for v in range(0, W - b + 1, 2)]
                           for b in boxes})
            groups.update({(C * b * b, None, g): [max(int(a[i, :, h:h + b, v:v + b].sum()) for a in win[j * g:(j + 1) * g])
                                                  for j in range(len(win) // g) for i in range(3)
                                                  for h, v in corners if h + b <= H and v + b <= W]
                           for b in boxes for g in spans})
            # rows: one channel, n neighbouring pixels of one row; in window k and channel c
            # every eighth row from 2 ((-c - k) mod 4), every second start
            rows = {n: [int(a[i, c, h, v:v + n].sum()) for k, a in enumerate(win) for i in range(3)
                        for c in range(C) for h in range(2 * ((-c - k) % 4), H, 8)
                        for v in range(0, W - n + 1, 2)]
                    for n in (2, 4, 8, 16) if n <= W}
            groups.update({(n, "row"): counts for n, counts in rows.items()})
        for key, counts in groups.items():
            lines, group, span = (key, None, None) if isinstance(key, int) else key if len(key) == 3 else (*key, None)
            entry = next(e for e in s.coactivity if (e.window, e.lines, e.group, e.span) == (w, lines, group, span))
            edges = entry.counts.edges
            ref = [np.mean((np.array(counts) >= lo) & (np.array(counts) < hi)) for lo, hi in zip(edges[:-1], edges[1:])]
            assert entry.counts.fractions == pytest.approx(ref, abs=1e-12)
            assert max(counts) < edges[-1] and sum(ref) == pytest.approx(1)   # no count left out
            seen.add((w, lines, group, span))
        # each line of each sample: in how many of g aligned windows it is active (w up to 16)
        for g in (g for g in (2, 4, 8, 16, 32) if g <= len(win) and w <= 16):
            per_line = [int(sum(a[i].reshape(-1)[line] for a in win[j * g:(j + 1) * g]))
                        for j in range(len(win) // g) for i in range(3) for line in range(int(np.prod(shape)))]
            entry = next(e for e in s.line_window_counts if (e.window, e.span) == (w, g))
            assert entry.fractions == pytest.approx(np.bincount(per_line, minlength=g + 1) / len(per_line), abs=1e-12)
            seen.add((w, g))
    assert seen == {(e.window, e.lines, e.group, e.span) for e in s.coactivity} | \
        {(e.window, e.span) for e in s.line_window_counts}


def test_coactivity_of_every_kth_sample_does_not_depend_on_batching():
    """`coactivity_every=3` records samples 0, 3, 6, ... of the whole stream: batches of 2
    give the statistics of those samples recorded in one batch; 0 records none."""
    from spikex_plugin.sparsity.stats import FiringAccumulator

    tr = sample_bursty_trace((3, 6, 6), 16, 0.1, 0.5, samples=8, seed=3)
    acc = FiringAccumulator((3, 6, 6), 16, coactivity_every=3)
    for i in range(0, 8, 2):
        acc.add(tr[:, i:i + 2])
    assert acc.result().coactivity == layer_stats_from_spikes(tr[:, [0, 3, 6]]).coactivity
    off = FiringAccumulator((3, 6, 6), 16, coactivity_every=0)
    off.add(tr)
    assert off.result().coactivity is None


def test_stats_without_coactivity_load_and_fall_back_to_independent_lines(tmp_path):
    """Files written before co-activity was recorded load; the density model then takes a
    receptive field's lines as independent (binomial count of active lines)."""
    from scipy.stats import binom

    from spikex_plugin.sparsity.stats import FiringStats, load_stats

    old = layer_stats_from_spikes(sample_bursty_trace((4, 6, 6), 32, 0.05, 0.5, samples=4, seed=1))
    data = FiringStats(layers={"conv": old}).model_dump(exclude_none=True)
    del data["layers"]["conv"]["coactivity"]
    path = tmp_path / "old.json"
    path.write_text(__import__("json").dumps(data))
    loaded = load_stats(path).layers["conv"]
    assert loaded.coactivity is None
    d = ActualDataDensity(loaded)
    p4 = loaded.window_occupancy[3]
    assert d.active_lines_pmf(36, 4) == pytest.approx(binom.pmf(np.arange(37), 36, p4), abs=1e-12)
    FiringStats(layers={"conv": loaded}).save(tmp_path / "again.json")       # and it saves as it was
    assert "coactivity" not in (tmp_path / "again.json").read_text()


def test_bundled_profiles_load_with_or_without_coactivity():
    """Every bundled trained profile loads; a layer with recorded co-activity uses it, one
    without falls back to independent lines (scripts/bundle_profiles.py records the field
    when the profiles are regenerated)."""
    from scipy.stats import binom

    from spikex_plugin.sparsity.stats import bundled_profiles, load_stats

    for name in bundled_profiles():
        for layer in load_stats(name).layers.values():
            d = ActualDataDensity(layer)
            pmf = d.active_lines_pmf(9, 4)
            assert pmf.sum() == pytest.approx(1) and pmf.size == 10
            if not layer.coactivity:
                assert pmf == pytest.approx(binom.pmf(np.arange(10), 9, layer.window_occupancy[min(4, layer.T) - 1]), abs=1e-12)


def test_spatial_row_activity_follows_recorded_rows():
    """P(some of 8 neighbouring pixels of one channel and row spike in an aligned window of
    4 steps), counted on a blob trace (active pixels cluster) at every row and start, against
    the density model with the recorded row co-activity (a sample of the rows: within 6 %)
    and with pixels taken as independent (over twice as high: blobs leave whole rows
    silent). Without row entries the model falls back to independent pixels."""
    from spikex_plugin.sim.traces import make_trace

    T, tws, n, samples = 64, 4, 8, 16
    tr = make_trace("local_blobs", (4, 16, 16), T, 0.05, samples=samples, seed=3)
    per_window = tr.reshape(T // tws, tws, samples, 4, 16, 16).any(axis=1)      # [windows, samples, C, H, W]
    fired = np.mean([per_window[..., v:v + n].any(axis=-1).mean() for v in range(16 - n + 1)])
    stats = layer_stats_from_spikes(tr)
    assert ActualDataDensity(stats).p_row_nonempty(n, tws) == pytest.approx(fired, rel=0.06)
    no_rows = stats.model_copy(update={"coactivity": [c for c in stats.coactivity if c.group is None]})
    independent = ActualDataDensity(no_rows)
    assert independent.p_row_nonempty(n, tws) == pytest.approx(independent.p_nonempty(n, tws))
    assert independent.p_row_nonempty(n, tws) > 2 * fired


def test_coactivity_round_trips_and_bad_entries_are_named(tmp_path):
    import json

    from spikex_plugin.errors import SpikeXInputError
    from spikex_plugin.sparsity.stats import FiringStats, load_stats

    stats = FiringStats(layers={"conv": layer_stats_from_spikes(sample_bursty_trace((2, 5, 5), 16, 0.1, 0.3, 2, 0))})
    stats.save(tmp_path / "s.json")
    assert load_stats(tmp_path / "s.json") == stats
    data = json.loads((tmp_path / "s.json").read_text())
    data["layers"]["conv"]["coactivity"][0]["counts"]["fractions"][0] += 0.5
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(SpikeXInputError, match="coactivity"):
        load_stats(tmp_path / "bad.json")
    data = json.loads((tmp_path / "s.json").read_text())
    data["layers"]["conv"]["aligned_block_occupancy"]["1"]["32"] = 0.5   # a block longer than T = 16
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(SpikeXInputError, match="aligned_block_occupancy"):
        load_stats(tmp_path / "bad.json")


def test_packed_rows_follow_coactive_lines():
    """stSAP's busiest column (active lines of a receptive field in the busiest of a pass's
    windows) on a trace whose lines fire together in population bursts: the model with the
    recorded co-activity is within 10 % of the trace's mean; taking lines as independent
    falls far short."""
    from spikex_plugin.sim.traces import make_trace

    T, tws, cols = 64, 4, 8
    tr = make_trace("bursty", (8, 10, 10), T, 0.03, samples=8, seed=2)
    per_window = tr.reshape(T // tws, tws, 8, 8, 10, 10).any(axis=1)            # [windows, samples, C, H, W]
    busiest = [per_window[g * cols:(g + 1) * cols, s, :, h:h + 3, v:v + 3].sum(axis=(1, 2, 3)).max()
               for s in range(8) for g in range(T // tws // cols) for h in range(8) for v in range(8)]
    stats = layer_stats_from_spikes(tr)
    assert ActualDataDensity(stats).expected_packed_rows(72, cols, tws) == pytest.approx(np.mean(busiest), rel=0.10)
    independent = ActualDataDensity(stats.model_copy(update={"coactivity": None}))
    assert independent.expected_packed_rows(72, cols, tws) < 0.7 * np.mean(busiest)


def test_silent_groups_over_several_recorded_windows():
    """Active lines of all 256 FC lines over 64 steps, four times the largest recorded window:
    a group silent in one 16-step window need not be silent in the next. The probability
    that none is active over 64 steps against the trace's own 64-step blocks (brute force),
    and the mean against lines x occupancy. Read off one 16-step window, local blobs at rate
    0.01 gave 0.125 where the trace has no silent block."""
    from spikex_plugin.sim.traces import make_trace

    for family, rate in (("local_blobs", 0.01), ("bursty", 0.002), ("bernoulli", 0.0005)):
        tr = make_trace(family, (256,), 64, rate, samples=16, seed=7)
        d = ActualDataDensity(layer_stats_from_spikes(tr))
        pmf = d.active_lines_pmf(256, 64)
        assert pmf[0] == pytest.approx(np.mean(~tr.any(axis=(0, 2))), abs=1e-9)
        assert np.arange(257) @ pmf == pytest.approx(256 * d.p_nonempty(1, 64), rel=1e-6)


@pytest.mark.parametrize("n,p", [(1, 0.3), (16, 0.005), (64, 0.5), (500, 0.02), (3000, 0.999)])
def test_binomial_pmf_matches_scipy(n, p):
    """The lgamma binomial the pricing uses (to avoid importing scipy.stats) against scipy's:
    log-space terms of size log(n!) carry about n log n x 1e-16 of rounding, so 1e-10 relative."""
    from scipy.stats import binom

    from spikex_plugin.sparsity.binomial import binomial_log_pmf, binomial_pmf

    k = np.arange(n + 1)
    expected = binom.pmf(k, n, p)
    got = binomial_pmf(n, p)
    assert np.allclose(got, expected, rtol=1e-10, atol=1e-300)
    assert abs(got.sum() - 1) < 1e-9
    mode = int(np.argmax(expected))
    assert binomial_log_pmf(mode, n, p) == pytest.approx(binom.logpmf(mode, n, p), abs=1e-10)


@pytest.mark.parametrize("family", ["local_blobs", "bursty"])
def test_busiest_window_of_a_pass_from_recorded_spans(family):
    """The expected busiest of g consecutive windows (a PTB pass's columns) of a receptive
    field's active lines, against the trace: all 3 x 3 boxes, aligned groups of g windows
    of 4 steps. Under blobs and population bursts the windows of a group are correlated,
    so the busiest of g is well below the busiest of g independent windows; g = 3 lies
    between the recorded spans 2 and 4. Without the span entries (older files) the model
    takes the windows as independent."""
    from spikex_plugin.sim.traces import make_trace

    spikes = make_trace(family, (4, 12, 12), 64, 0.02, samples=6, seed=3)
    stats = layer_stats_from_spikes(spikes)
    d = ActualDataDensity(stats)
    windows = spikes.reshape(16, 4, 6, 4, 12, 12).any(axis=1)
    boxes = np.array([[[windows[k, s, :, h:h + 3, v:v + 3].sum() for h in range(10) for v in range(10)]
                       for s in range(6)] for k in range(16)])      # [window, sample, box]
    older = ActualDataDensity(stats.model_copy(update={"coactivity": [c for c in stats.coactivity if not c.span]}))
    for g in (3, 8):
        busiest = np.mean([boxes[j * g:(j + 1) * g].max(axis=0) for j in range(16 // g)])
        assert d.expected_packed_rows(36, g, 4) == pytest.approx(busiest, rel=0.1)
        independent = np.sum(1 - np.cumsum(d.active_lines_pmf(36, 4))[:-1] ** g)
        assert independent > 1.12 * busiest
        assert older.expected_packed_rows(36, g, 4) == pytest.approx(independent, rel=1e-9)


def test_pass_persistence_of_repeated_and_independent_windows():
    """Windows that repeat (each sample one fixed frame, samples at very different rates)
    carry their active lines over completely (r = 1); Bernoulli windows do not (r = 0);
    statistics without span entries give 0."""
    rng = np.random.default_rng(2)
    frames = rng.random((6, 64)) < np.linspace(0.02, 0.6, 6)[:, None]       # [samples, lines]
    repeated = np.broadcast_to(frames, (32, 6, 64))
    assert ActualDataDensity(layer_stats_from_spikes(repeated)).pass_persistence(64, 4) == pytest.approx(1.0)
    bernoulli = rng.random((32, 6, 64)) < 0.05
    assert abs(ActualDataDensity(layer_stats_from_spikes(bernoulli)).pass_persistence(64, 4)) < 0.1
    assert ActualDataDensity(layer_stats_from_rate((64,), 32, 0.05)).pass_persistence(64, 4) == 0.0



@pytest.mark.parametrize("family, rate", [("channel_skewed", 0.1), ("local_blobs", 0.1), ("bernoulli", 0.5)])
def test_window_count_pmf_follows_each_lines_rate(family, rate):
    """A window's spike count (what a spatial column accumulates) against a brute-force count
    of the trace's aligned windows of 16 steps: the mixture over the recorded per-line
    counts matches it (P(silent) and the mean count of a busy window), where one fit to the
    pooled rate misses heavy-tailed lines and blob cores; plain Bernoulli lines are left
    alike. Without `line_window_counts` (older files) the pooled fit stays."""
    from spikex_plugin.sim.traces import make_trace

    T, tws = 64, 16
    spikes = make_trace(family, (256,), T, rate, samples=8, seed=7)
    counts = spikes.reshape(T // tws, tws, -1).sum(axis=1).ravel().astype(int)
    seen = np.bincount(counts, minlength=tws + 1) / counts.size
    stats = layer_stats_from_spikes(spikes)
    d = ActualDataDensity(stats)
    mixture, pooled = d.window_count_pmf(tws), d.window_count_pmf(tws, False)
    busy = lambda p: float(np.arange(tws + 1) @ p) / (1 - p[0])
    assert mixture[0] == pytest.approx(seen[0], abs=0.02)
    assert busy(mixture) == pytest.approx(busy(seen), rel=0.03)
    if family == "bernoulli":
        assert busy(pooled) == pytest.approx(busy(seen), rel=0.03)
    else:
        assert abs(busy(pooled) / busy(seen) - 1) > 0.2
    older = ActualDataDensity(stats.model_copy(update={"line_window_counts": None}))
    assert np.array_equal(older.window_count_pmf(tws), pooled)


def test_sp_mb_occupancy_reads_aligned_blocks():
    """One channel of one pixel spiking only at step 1 of T = 4: SP-MB tags see aligned
    blocks, of which one of two holds the spike at w = 2 (sliding windows: two of three);
    a block size not recorded as aligned (3) reads the sliding curve (both windows hold it),
    and a file without the aligned entry reads the sliding curve throughout."""
    trace = np.zeros((4, 1, 1, 1, 1), dtype=bool)
    trace[1] = True
    s = layer_stats_from_spikes(trace)
    d = ActualDataDensity(s)
    assert d.p_channels_nonempty(1, 2) == pytest.approx(1 / 2)
    assert d.p_channels_nonempty(1, 4) == pytest.approx(1.0)
    assert d.p_channels_nonempty(1, 3) == pytest.approx(1.0)
    old = ActualDataDensity(s.model_copy(update={"aligned_block_occupancy": None}))
    assert old.p_channels_nonempty(1, 2) == pytest.approx(2 / 3)


def test_pixel_count_correlation_brute_force():
    """A pixel's spike count in an aligned window against the pixel one row down and the
    same pixel of the next channel: Pearson correlation over every pair, window and sample
    listed one by one, on a bursty trace and on a blob trace (pixels fire together); two
    batches record the same as one; FC inputs record none."""
    from spikex_plugin.sim.traces import make_trace
    from spikex_plugin.sparsity.stats import FiringAccumulator

    C, H, W, T, samples = 3, 4, 5, 16, 4
    for tr in (sample_bursty_trace((C, H, W), T, 0.2, 0.5, samples=samples, seed=5),
               make_trace("local_blobs", (C, H, W), T, 0.2, samples=samples, seed=5)):
        recorded = {e.window: e for e in layer_stats_from_spikes(tr).pixel_count_correlation}
        assert sorted(recorded) == [1, 2, 4, 8, 16]
        for w, entry in recorded.items():
            vertical, channel = [], []
            for k in range(T // w):
                for s in range(samples):
                    count = lambda c, h, x: int(tr[k * w:(k + 1) * w, s, c, h, x].sum())
                    for c in range(C):
                        for h in range(H):
                            for x in range(W):
                                if h + 1 < H:
                                    vertical.append((count(c, h, x), count(c, h + 1, x)))
                                if c + 1 < C:
                                    channel.append((count(c, h, x), count(c + 1, h, x)))
            for pairs, value in ((vertical, entry.vertical), (channel, entry.channel)):
                x, y = np.array(pairs, dtype=float).T
                if x.std() == 0 or y.std() == 0:
                    assert value is None
                else:
                    assert value == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-9)
        acc = FiringAccumulator((C, H, W), T)
        acc.add(tr[:, :1])
        acc.add(tr[:, 1:])
        assert acc.result().pixel_count_correlation == layer_stats_from_spikes(tr).pixel_count_correlation
    # An FC input: `channel` pairs each line's count with the next line's; no vertical pairs.
    fc = make_trace("local_blobs", (16,), T, 0.3, samples=2, seed=5)
    for entry in layer_stats_from_spikes(fc).pixel_count_correlation:
        counts = fc[: T // entry.window * entry.window].reshape(T // entry.window, entry.window, 2, 16).sum(axis=1)
        x, y = counts[..., :-1].ravel().astype(float), counts[..., 1:].ravel().astype(float)
        assert entry.vertical is None
        assert entry.channel == pytest.approx(np.corrcoef(x, y)[0, 1], abs=1e-9)
