"""Reduced model-vs-simulator table (the full one: benchmarks/model_vs_simulator.py).

Rows on held-out trace families (correlated, skewed, bursty) where the analytic model meets
the issue-12 target against the simulator (|energy| <= 5 %, |cycles| <= 10 %), for SpikeX
(both dispatch modes) and PTB. The rows where the full table misses the target are listed,
with their measured errors and causes, in docs/simulator.md.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from model_vs_simulator import CONV, FC, compare, layer_weights  # noqa: E402

SAMPLES, SEED = 2, 3
TARGET_ROWS = [  # (arch, layer, family, rate, TWS list)
    ("spikex", CONV, "bursty", 0.001, (1, 4)),
    ("spikex", CONV, "moving_objects", 0.001, (1, 4)),
    ("spikex", FC, "channel_skewed", 0.1, (1, 4)),
    ("ptb", CONV, "channel_skewed", 0.001, (1, 4)),
    ("ptb", CONV, "local_blobs", 0.5, (1, 4)),
    ("ptb", FC, "moving_objects", 0.1, (1, 4)),
    # Correlated rows the independent-line model missed by 17-52 % in cycles (co-activity
    # statistics for stSAP's slots; the temporal window chain).
    ("ptb", CONV, "bursty", 0.1, (4, 8)),
    ("ptb", CONV, "local_blobs", 0.01, (4, 8)),
    ("spikex", CONV, "local_blobs", 0.5, (4, 8)),
    # Short PTB passes whose fills and array hand off through two L1 buffers (the model took
    # the slowest stage and was 17-27 % low).
    ("ptb", CONV, "bursty", 0.01, (1, 2)),
    # stSAP slots from the busiest of a pass's correlated windows and from how many windows
    # each line takes (the model took independent windows and alike taps: 10-18 % high).
    ("ptb", CONV, "channel_skewed", 0.1, (8,)),
    # Tiles whose fill and the previous tile's work alternate instead of overlapping (the
    # model took the slowest resource's total; spatial TWS 2 here: -12 % conv, -30 % FC).
    ("spikex", CONV, "local_blobs", 0.1, (2,)),
    ("spikex", FC, "local_blobs", 0.1, (2,)),
    # A spatial row slides over the kernel taps, a busy pixel one column per step (drawn
    # independently per step: +12 % here), and a conv tile's fill moves with the patch's
    # work (taken as independent: +10 % at TWS 1).
    ("spikex", CONV, "markov_lines", 0.1, (16,)),
    ("spikex", CONV, "local_blobs", 0.1, (1,)),
]


@pytest.mark.parametrize("arch,layer,family,rate,tws", TARGET_ROWS,
                         ids=[f"{a}-{l.name}-{f}-{r}" for a, l, f, r, _ in TARGET_ROWS])
def test_model_meets_target_against_simulator(arch, layer, family, rate, tws):
    rows = compare(arch, layer, family, rate, SAMPLES, SEED, tws)
    assert len(rows) == len(tws) * (1 if arch == "ptb" else 2)
    for row in rows:
        assert abs(row.energy_err) <= 0.05, (row.mapping, row.energy_err)
        assert abs(row.cycle_err) <= 0.10, (row.mapping, row.cycle_err)


def test_ptb_fc_passes_of_one_inference_come_together():
    """PTB runs the FC layer in 8 passes, its window groups in time order. Moving objects
    put 441 to 2574 spikes into an inference, so passes drawn afresh from all inferences
    pooled mix long and short ones that never meet in one inference (the model was 13 %
    high in cycles); passes now carry the measured persistence of the live taps from one
    window group to the next. 8 inferences, as the full table."""
    rows = compare("ptb", FC, "moving_objects", 0.1, 8, 7, (1,))
    assert len(rows) == 1
    assert abs(rows[0].energy_err) <= 0.05 and abs(rows[0].cycle_err) <= 0.10, (rows[0].mapping, rows[0].cycle_err)


def test_an_output_tile_membrane_holds_the_next_fill():
    """Temporal TWS 8, one channel per L1 tile, channel-skewed spikes at rate 0.1: a tile's
    fill (18 GLB words) outlasts its work, and each output tile's window chain (about 60
    cycles) keeps the next tile's steps out of the array, so the fill after them, issued
    when that tile's feeder is done, waits for the chain (simulator timeline: 192 cycles per
    output tile against 160 for its fills). Taking the fills as overlapping the chain, the
    model was 10.6 % low here (8 inferences, seed 7)."""
    from spikex_plugin.hardware.arch import load_arch
    from spikex_plugin.mapping.mapper import evaluate_mapping
    from spikex_plugin.mapping.mapping import SpikeXMapping
    from spikex_plugin.sim.spikex import simulate_layer
    from spikex_plugin.sim.traces import make_trace
    from spikex_plugin.sparsity.density import ActualDataDensity
    from spikex_plugin.sparsity.stats import layer_stats_from_spikes

    arch = load_arch("spikex")
    mapping = SpikeXMapping(mode="temporal", tws=8, rows=8, cols=8, c_l1=1, tb_glb=64, m_glb=8, p_glb=8,
                            dram_order="tmp")
    trace = make_trace("channel_skewed", CONV.input_shape, CONV.T, 0.1, samples=8, seed=7)
    sims = [simulate_layer(CONV, mapping, arch, trace[:, i], layer_weights(CONV, 7)) for i in range(8)]
    outputs = ActualDataDensity(layer_stats_from_spikes(np.stack([s.output_spikes for s in sims], axis=1)))
    model = evaluate_mapping(CONV, mapping, arch, ActualDataDensity(layer_stats_from_spikes(trace)), outputs)
    simulated = np.mean([s.cycles for s in sims])
    assert model.cycles == pytest.approx(simulated, rel=0.10)


def test_silent_windows_decay_while_the_first_tile_loads():
    """FC layer at rate 1e-4 (about 1.6 spikes an inference): an inference without spikes
    takes the 128 cycles of its windows' decay steps, which do not wait for the first GLB
    tile's load (37 cycles) that only an active tile needs. The model added that load after
    everything else and was 13.3 % high here (32 inferences, seed 11)."""
    from spikex_plugin.hardware.arch import load_arch
    from spikex_plugin.mapping.mapper import evaluate_mapping
    from spikex_plugin.mapping.mapping import SpikeXMapping
    from spikex_plugin.sim.spikex import simulate_layer
    from spikex_plugin.sim.traces import make_trace
    from spikex_plugin.sparsity.density import ActualDataDensity
    from spikex_plugin.sparsity.stats import layer_stats_from_spikes

    arch = load_arch("spikex")
    mapping = SpikeXMapping(mode="temporal", tws=1, rows=8, cols=8, c_l1=4, tb_glb=64, m_glb=16, p_glb=1,
                            dram_order="tmp")
    trace = make_trace("local_blobs", FC.input_shape, FC.T, 1e-4, samples=32, seed=11)
    sims = [simulate_layer(FC, mapping, arch, trace[:, i], layer_weights(FC, 11)) for i in range(32)]
    silent = trace.reshape(FC.T, 32, -1).sum(axis=(0, 2)) == 0
    assert silent.any() and {s.cycles for s, quiet in zip(sims, silent) if quiet} == {128.0}
    outputs = ActualDataDensity(layer_stats_from_spikes(np.stack([s.output_spikes for s in sims], axis=1)))
    model = evaluate_mapping(FC, mapping, arch, ActualDataDensity(layer_stats_from_spikes(trace)), outputs)
    assert model.cycles == pytest.approx(np.mean([s.cycles for s in sims]), rel=0.10)
