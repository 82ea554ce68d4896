"""DRAM weight reads under tag-gated fetching, against a brute-force walk of the DRAM loops.

The walk knows only the hardware's rule: the GLB keeps a weight tile while its filter block
m0 stays; while it stays, a channel group's kernels are fetched the first time the group
fires in the time block being processed (never again). A spike tile is re-read whenever its
(t0, p0) changes. Nothing here uses the model's formulas: the expected counts come from the
trace bits and the loop order alone.
"""

import itertools
from dataclasses import replace

import numpy as np
import pytest

from spikex_plugin.cost_model.spikex import evaluate_layer
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.sparsity.density import ActualDataDensity
from spikex_plugin.sparsity.stats import layer_stats_from_spikes
from spikex_plugin.workload.network import Layer

FC = Layer(name="fc", type="fc", T=16, C=32, M=4, H=1, W=1, R=1, S=1, P=1, Q=1)
GROUP = 8  # the spec's fc_tag_group: 4 SP-MB groups of 8 lines


def dense_spike_arch(arch):
    """Tag-gated weights, dense spike tiles: the DRAM reads beyond the spikes are the weights."""
    skipping = arch.extras.skipping.model_copy(update={"zero_blocks": False, "weight_tailoring": True})
    extras = arch.extras.model_copy(update={"skipping": skipping, "fc_tag_group": GROUP})
    return replace(arch, extras=extras)


def walked_dram_bits(layer: Layer, m: SpikeXMapping, trace: np.ndarray, weight_bits: int) -> float:
    """DRAM bits read by walking the DRAM loop nest (order `m.dram_order`) over trace [T, C]."""
    bounds = {"t": layer.T // m.tb_glb, "m": layer.M // m.m_glb, "p": layer.P // m.p_glb}
    fired = trace.reshape(layer.T // m.tb_glb, m.tb_glb, layer.C // GROUP, GROUP).any(axis=(1, 3))
    bits, spikes_at, weights_of, resident = 0.0, None, None, set()
    for idx in itertools.product(*(range(bounds[r]) for r in m.dram_order)):
        at = dict(zip(m.dram_order, idx))
        if (at["t"], at["p"]) != spikes_at:
            spikes_at = (at["t"], at["p"])
            bits += m.tb_glb * layer.C
        if at["m"] != weights_of:
            weights_of, resident = at["m"], set()
        new = {g for g in np.flatnonzero(fired[at["t"]]) if g not in resident}
        resident |= new
        bits += len(new) * GROUP * m.m_glb * weight_bits
    return bits


def staggered_trace(rng) -> np.ndarray:
    """Group g fires (a few of its lines) only in the 4-step block g; group 3 never fires."""
    trace = np.zeros((FC.T, FC.C), dtype=bool)
    for g in range(3):
        lines = rng.choice(GROUP, size=2, replace=False) + g * GROUP
        trace[4 * g + rng.integers(0, 4), lines] = True
    return trace


@pytest.mark.parametrize("tb_glb, m_glb, order, expected_weight_bits", [
    (4, 4, "tmp", 3 * GROUP * 4 * 8),       # m loop of bound 1: the tile stays the whole run
    (4, 2, "mtp", 2 * 3 * GROUP * 2 * 8),   # weights outermost: kept across every time block
])
def test_dram_weight_reads_follow_the_span_a_fetch_serves(spikex_arch, tb_glb, m_glb, order, expected_weight_bits):
    arch = dense_spike_arch(spikex_arch)
    trace = staggered_trace(np.random.default_rng(3))
    m = SpikeXMapping("temporal", 1, 1, 1, FC.C, tb_glb, m_glb, 1, order)
    walked = walked_dram_bits(FC, m, trace, arch.weight_bits)
    spike_reads = FC.T * FC.C * (FC.M // m_glb if order == "mtp" else 1)
    assert walked == spike_reads + expected_weight_bits   # the walk agrees with the hand count
    d = ActualDataDensity(layer_stats_from_spikes(trace[:, None, :]))
    model = evaluate_layer(FC, m, arch, d).actions[("DRAM", "read")] * arch.bits_per_action["DRAM"]
    assert model == pytest.approx(walked, rel=1e-9)


def test_refetched_tiles_stay_per_time_block(spikex_arch):
    """Weights refetched for every time block (filters innermost): each fetch needs only its
    own block's groups. On a bursty trace with many blocks the model (sliding-window
    occupancy) is within 10 % of the walk; taking the whole run's occupancy would be 2x off."""
    arch = dense_spike_arch(spikex_arch)
    layer = Layer(name="fc", type="fc", T=2048, C=32, M=4, H=1, W=1, R=1, S=1, P=1, Q=1)
    rng = np.random.default_rng(5)
    on = np.zeros((layer.T, layer.C // GROUP), dtype=bool)   # bursts of a group, ~8 steps long
    for g in range(layer.C // GROUP):
        for start in rng.choice(layer.T - 8, size=32, replace=False):
            on[start:start + 8, g] = True
    trace = np.repeat(on, GROUP, axis=1) & (rng.random((layer.T, layer.C)) < 0.1)
    m = SpikeXMapping("temporal", 1, 1, 1, layer.C, 8, 2, 1, "tpm")
    weights_walked = walked_dram_bits(layer, m, trace, arch.weight_bits) - layer.T * layer.C
    d = ActualDataDensity(layer_stats_from_spikes(trace[:, None, :]))
    weights_model = evaluate_layer(layer, m, arch, d).actions[("DRAM", "read")] * arch.bits_per_action["DRAM"] \
        - layer.T * layer.C
    all_groups_every_fetch = (layer.T // 8) * (layer.M // 2) * layer.C * 2 * arch.weight_bits
    assert weights_walked < 0.5 * all_groups_every_fetch
    assert weights_model == pytest.approx(weights_walked, rel=0.10)
