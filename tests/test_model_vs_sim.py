"""Reduced model-vs-simulator table (the full one: benchmarks/model_vs_simulator.py).

Rows on held-out trace families (correlated, skewed, bursty) where the analytic model must
meet the issue-12 target against the simulator (|energy| <= 5 %, |cycles| <= 10 %), and
rows where it is known not to, pinned to their measured error so that any change shows;
each gap's cause is in docs/simulator.md. When a gap closes, move its row to TARGET_ROWS.
"""

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
from model_vs_simulator import CONV, FC, compare  # noqa: E402

SAMPLES, SEED = 2, 3
TARGET_ROWS = [  # (arch, layer, family, rate, TWS list)
    ("spikex", CONV, "moving_objects", 0.01, (1, 4)),
    ("spikex", CONV, "channel_skewed", 0.1, (1, 4)),
    ("spikex", FC, "bursty", 0.01, (1, 4)),
    ("spikex", FC, "local_blobs", 0.001, (1, 4)),
    ("ptb", CONV, "channel_skewed", 0.001, (1, 4)),
]
KNOWN_GAPS = [  # (arch, layer, family, rate, mode, TWS, (energy lo, hi), (cycles lo, hi))
    # model serialises accumulation (slowest column per step), membrane and fill per tile
    ("spikex", CONV, "bernoulli", 0.5, "temporal", 8, (-0.05, 0.05), (0.30, 0.45)),
    # model (AccelForge view) moves partial sums Vmem <-> GLB per channel chunk
    ("spikex", CONV, "local_blobs", 0.001, "spatial", 16, (0.06, 0.12), (0.10, 0.20)),
    # model prices PTB per spike; PTB spends TWS cycles per stSAP slot
    ("ptb", CONV, "bursty", 0.1, "temporal", 16, (-0.16, -0.08), (-0.75, -0.60)),
    ("ptb", FC, "bernoulli", 0.5, "temporal", 16, (-0.05, 0.05), (-0.35, -0.20)),
    # model fetches every FC line's weights; stSAP drops lines silent all run (most, at 1e-3)
    ("ptb", FC, "bernoulli", 0.001, "temporal", 4, (8.0, 14.0), (5.0, 10.0)),
]


@pytest.mark.parametrize("arch,layer,family,rate,tws", TARGET_ROWS,
                         ids=[f"{a}-{l.name}-{f}-{r}" for a, l, f, r, _ in TARGET_ROWS])
def test_model_meets_target_against_simulator(arch, layer, family, rate, tws):
    for row in compare(arch, layer, family, rate, SAMPLES, SEED, tws):
        assert abs(row.energy_err) <= 0.05, (row.mapping, row.energy_err)
        assert abs(row.cycle_err) <= 0.10, (row.mapping, row.cycle_err)


@pytest.mark.parametrize("arch,layer,family,rate,mode,tws,energy,cycles", KNOWN_GAPS,
                         ids=[f"{g[0]}-{g[1].name}-{g[2]}-{g[3]}-{g[4]}-{g[5]}" for g in KNOWN_GAPS])
def test_known_model_gaps_stay_as_measured(arch, layer, family, rate, mode, tws, energy, cycles):
    (row,) = compare(arch, layer, family, rate, SAMPLES, SEED, (tws,), (mode,))
    assert energy[0] <= row.energy_err <= energy[1], row.mapping
    assert cycles[0] <= row.cycle_err <= cycles[1], row.mapping
