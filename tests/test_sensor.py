"""Event-camera emulator (sensor/dvs.py), rendered scenes and the structured statistics
generator. Expected values come from the pixel model worked by hand (threshold crossings
of a log-intensity step, refractory spacing, the noise rates) or from the trace itself."""

import math

import numpy as np
import pytest

from spikex_plugin.sensor.dvs import DVSParams, bin_events, downsample_events, emulate
from spikex_plugin.sensor.scenes import GESTURES, gesture_video, saccade_offsets, saccade_video

QUIET = DVSParams(threshold_sigma=0.0, leak_rate_hz=0.0, shot_noise_rate_hz=0.0, refractory_s=0.0, cutoff_hz=0.0)
DT = 0.005


def step_video(low: float, high: float, frames: int = 6, size: int = 8) -> np.ndarray:
    """Uniform field at `low`, switching to `high` after the first frame."""
    v = np.full((frames, size, size), high, dtype=np.float32)
    v[0] = low
    return v


def moving_bar(speed: float, contrast: float, frames: int = 200, size: int = 48) -> np.ndarray:
    """A bright vertical bar (4 px, intensity 0.1 * contrast) on 0.1, moving right at `speed` px/frame."""
    x = np.arange(size) + 0.5
    centre = 4 + speed * np.arange(frames)[:, None]
    cover = np.clip(2.5 - np.abs(x[None, :] - centre), 0, 1)       # anti-aliased edges
    row = 0.1 + cover * 0.1 * (contrast - 1)
    return np.broadcast_to(row[:, None, :], (frames, size, size)).astype(np.float32)


@pytest.mark.parametrize("contrast", [1.5, 2.0, 4.0])
def test_step_gives_one_event_per_threshold_crossed(contrast):
    # Intensity is above the lin-log knee (20/255), so log change = ln(contrast); the pixel
    # starts a random fraction of a threshold below its level: floor(ln c / 0.2) or one more events.
    counts = emulate(step_video(0.2, 0.2 * contrast), DT, QUIET, seed=1)
    on = counts[:, 0].sum(axis=0)
    n = math.floor(math.log(contrast) / 0.2)
    assert counts[:, 1].sum() == 0
    assert set(np.unique(on)) <= {n, n + 1} and on.min() >= n
    assert counts[1:].sum() == 0            # all at the step, nothing after


def test_polarity_follows_brightening_and_darkening():
    brighter = emulate(step_video(0.2, 0.6), DT, QUIET, seed=2)
    darker = emulate(step_video(0.6, 0.2), DT, QUIET, seed=2)
    assert brighter[:, 0].sum() > 0 and brighter[:, 1].sum() == 0
    assert darker[:, 1].sum() > 0 and darker[:, 0].sum() == 0


def test_event_rate_rises_with_contrast_and_speed():
    def events(speed, contrast):
        return int(emulate(moving_bar(speed, contrast), DT, DVSParams(), seed=3).sum())

    by_contrast = [events(0.2, c) for c in (1.3, 2.0, 4.0, 8.0)]
    by_speed = [events(s, 3.0) for s in (0.05, 0.1, 0.2)]
    assert by_contrast == sorted(by_contrast) and by_contrast[-1] > 3 * by_contrast[0]
    assert by_speed == sorted(by_speed) and by_speed[-1] > 2.5 * by_speed[0]   # ~ pixels crossed


def test_static_scene_gives_only_noise_at_the_configured_rate():
    level, seconds, size = 0.5, 10.0, 32
    frames = int(seconds / DT) + 1
    static = np.full((frames, size, size), level, dtype=np.float32)
    assert emulate(static, DT, QUIET, seed=4).sum() == 0
    p = DVSParams(leak_rate_hz=1.0, shot_noise_rate_hz=2.0, refractory_s=0.0)
    counts = emulate(static, DT, p, seed=4)
    per_pixel_s = counts.sum(axis=(0, 2, 3)) / (size * size * seconds)
    # shot noise: half ON, half OFF, scaled by 1 + (0.25 - 1) * (255 * level + 20) / 275 (v2e);
    # leak: every pixel's reference drifts one threshold per 1 / leak_rate seconds -> ON.
    shot = 2.0 * (1 + (0.25 - 1) * (255 * level + 20) / 275)
    assert per_pixel_s[0] == pytest.approx(1.0 + shot / 2, rel=0.05)
    assert per_pixel_s[1] == pytest.approx(shot / 2, rel=0.05)


def test_refractory_period_thins_a_burst():
    # A step of n thresholds gives n events dt/n apart in one interval; a refractory period
    # r drops those closer than r to the last kept one: every k-th survives, k = ceil(r n / dt),
    # so ceil(n / k) remain (n per pixel read from the same sensor without dead time).
    video = step_video(0.1, 0.1 * math.exp(2.1), size=6)
    r = 2.5 * DT / 16
    free = emulate(video, DT, QUIET, seed=5)[0, 0].astype(int)
    dead = emulate(video, DT, DVSParams(**{**QUIET.__dict__, "refractory_s": r}), seed=5)[0, 0]
    k = np.ceil(r * free / DT - 1e-9)
    assert free.min() >= 10 and np.array_equal(dead, np.ceil(free / k))


def test_threshold_mismatch_spreads_event_counts():
    video = step_video(0.1, 0.9, size=32)
    flat = emulate(video, DT, QUIET, seed=6)[:, 0].sum(axis=0)
    mismatched = emulate(video, DT, DVSParams(threshold_sigma=0.05, leak_rate_hz=0, shot_noise_rate_hz=0,
                                              refractory_s=0, cutoff_hz=0), seed=6)[:, 0].sum(axis=0)
    assert np.ptp(flat) <= 1 and np.ptp(mismatched) >= 3


def test_emulator_deterministic_by_seed():
    v = moving_bar(0.3, 3.0, frames=50)
    p = DVSParams(shot_noise_rate_hz=5.0, leak_rate_hz=1.0)
    a, b, c = emulate(v, DT, p, seed=7), emulate(v, DT, p, seed=7), emulate(v, DT, p, seed=8)
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_binning_and_downsampling_by_brute_force():
    rng = np.random.default_rng(0)
    counts = (rng.random((12, 2, 6, 8)) < 0.1).astype(np.uint8)
    binned = bin_events(counts, 4)
    for t in range(4):
        assert np.array_equal(binned[t], counts[3 * t:3 * t + 3].sum(axis=0) > 0)
    small = downsample_events(binned, 2)
    assert small.shape == (4, 2, 3, 4)
    assert small[1, 0, 2, 3] == binned[1, 0, 4:6, 6:8].any()
    with pytest.raises(ValueError):
        bin_events(counts, 5)


def test_saccades_form_a_closed_triangle():
    off = saccade_offsets(301)
    assert np.allclose(off[0], 0) and np.allclose(off[-1], 0)
    assert np.allclose(off[100], [3, 5]) and np.allclose(off[200], [6, 0])
    v = saccade_video(np.ones((28, 28)), 34, 31)
    assert v.shape == (31, 34, 34) and v.min() >= 0.1 - 1e-6 and v.max() <= 0.9 + 1e-6


def test_gestures_move_only_the_arms_that_should():
    # the subject's right arm is on the image's left half (the body also sways a little)
    def left_over_right(gesture):
        v = gesture_video(GESTURES.index(gesture), 128, 120, 0.0025, seed=1)
        motion = np.abs(np.diff(v, axis=0)).sum(axis=0)
        return motion[:, :64].sum() / motion[:, 64:].sum()

    assert left_over_right("right hand wave") > 2 and left_over_right("left hand wave") < 0.5
    assert left_over_right("right arm clockwise") > 2 and left_over_right("left arm clockwise") < 0.5
    still = gesture_video(0, 128, 2, 0.0025, seed=1)
    assert still.shape == (2, 128, 128) and 0 <= still.min() and still.max() <= 1


def test_structured_generator_knobs_measured_on_the_trace():
    from spikex_plugin.sparsity.generator import StructureKnobs, structured_trace

    shape, T = (64, 8, 8), 200
    plain = structured_trace(shape, T, StructureKnobs(rate=0.02), samples=4, seed=1)
    assert plain.mean() == pytest.approx(0.02, rel=0.05)
    skewed = structured_trace(shape, T, StructureKnobs(rate=0.02, channel_skew=1.5), samples=4, seed=1)
    per_channel = np.sort(skewed.sum(axis=(0, 1, 3, 4)))[::-1]
    assert skewed.mean() == pytest.approx(0.02, rel=0.25)
    # log-normal, sigma 1.5: the top 10 % of channels carry ~59 % of the spikes (uniform: 10 %)
    assert per_channel[:6].sum() / per_channel.sum() > 0.35
    local = structured_trace(shape, T, StructureKnobs(rate=0.02, active_fraction=0.25), samples=4, seed=1)
    touched = local.any(axis=(0, 2)).mean()                          # positions that ever fire
    assert touched == pytest.approx(0.25, abs=0.02) and local.mean() == pytest.approx(0.02, rel=0.1)
    bursty = structured_trace(shape, T, StructureKnobs(rate=0.02, burstiness=0.7), samples=4, seed=1)
    x = bursty.reshape(T, -1).astype(float)
    lag1 = np.mean((x[1:] - x.mean()) * (x[:-1] - x.mean())) / x.var()
    assert lag1 == pytest.approx(0.7, abs=0.05)
    fc = structured_trace((64,), 50, StructureKnobs(rate=0.1, active_fraction=0.1), samples=8, seed=2)
    assert fc.mean() == pytest.approx(0.1, rel=0.1)                  # no positions: knob ignored


def test_structured_stats_load_in_the_density_model():
    from spikex_plugin.sparsity.density import ActualDataDensity
    from spikex_plugin.sparsity.generator import StructureKnobs, network_structured_stats
    from spikex_plugin.workload.network import load_network

    net = load_network("nmnist")
    uniform = network_structured_stats(net, StructureKnobs(rate=0.01), samples=2)
    bursty = network_structured_stats(net, StructureKnobs(rate=0.01, burstiness=0.8), samples=2)
    u, b = ActualDataDensity(uniform.layers["conv2"]), ActualDataDensity(bursty.layers["conv2"])
    assert u.rate == pytest.approx(b.rate, rel=0.1)
    assert b.p_nonempty(1, 4) < 0.5 * u.p_nonempty(1, 4)           # runs fill fewer windows
