"""Whole words per GLB tile: DRAM traffic against a brute-force walk of the DRAM loops.

The walk knows only the hardware's rule: per GLB tile the GLB reads from DRAM the spike bits
of the input channels that fired in its time block (when its (t0, p0) changes), the weight
kernels of channels that fired and are not resident yet (resident while m0 stays), and
writes back the output spikes of the output channels that fired in the block; each of these
is one transfer of ceil(bits / 64) words. The expected counts come from the trace bits and
the loop order alone, nothing from the model.
"""

import itertools
import math

import numpy as np
import pytest

from spikex_plugin.cost_model.spikex import evaluate_layer
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.sparsity.density import ActualDataDensity
from spikex_plugin.sparsity.stats import layer_stats_from_spikes
from spikex_plugin.workload.network import Layer

CONV = Layer(name="conv", type="conv", T=512, C=4, M=4, H=6, W=6, R=3, S=3, P=4, Q=4, padding=1)
WIDTH = 64   # DRAM bits per action in the spec


def population_trace(rng, T: int, shape: tuple[int, ...], events: int, lone: int) -> np.ndarray:
    """[T, *shape] spikes: `events` steps where a random half of the channels fire together
    (one pixel each), plus `lone` single spikes: channels fire together far more often than
    independent channels would."""
    trace = np.zeros((T, *shape), dtype=bool)
    for t in rng.choice(T, size=events, replace=False):
        for c in rng.choice(shape[0], size=shape[0] // 2, replace=False):
            trace[(t, c, *(rng.integers(0, n) for n in shape[1:]))] = True
    for _ in range(lone):
        trace[(rng.integers(0, T), *(rng.integers(0, n) for n in shape))] = True
    return trace


def walked_dram_words(layer: Layer, m: SpikeXMapping, x: np.ndarray, y: np.ndarray, weight_bits: int):
    """(DRAM words read, written) walking the DRAM loops (order `m.dram_order`) over input
    spikes x [T, C, H, W] and output spikes y [T, M, P, Q]; also the same bits / 64 without
    rounding."""
    blocks = layer.T // m.tb_glb
    fired_in = x.reshape(blocks, m.tb_glb, layer.C, -1).any(axis=(1, 3))    # [block, channel]
    fired_out = y.reshape(blocks, m.tb_glb, layer.M, -1).any(axis=(1, 3))
    h_glb = m.p_glb - 1 + layer.R   # stride 1; H already holds the padding
    bounds = {"t": blocks, "m": layer.M // m.m_glb, "p": layer.P // m.p_glb}
    reads, writes, spikes_at, weights_of, resident = [], [], None, None, set()
    for idx in itertools.product(*(range(bounds[r]) for r in m.dram_order)):
        at = dict(zip(m.dram_order, idx))
        if (at["t"], at["p"]) != spikes_at:
            spikes_at = (at["t"], at["p"])
            reads.append(fired_in[at["t"]].sum() * m.tb_glb * h_glb * layer.W)
        if at["m"] != weights_of:
            weights_of, resident = at["m"], set()
        new = set(np.flatnonzero(fired_in[at["t"]]).tolist()) - resident
        resident |= new
        reads.append(len(new) * m.m_glb * layer.R * layer.S * weight_bits)
        outputs = fired_out[at["t"], at["m"] * m.m_glb:(at["m"] + 1) * m.m_glb].sum()
        writes.append(outputs * m.p_glb * layer.Q * m.tb_glb)
    return whole_words(reads), whole_words(writes), sum(reads) / WIDTH, sum(writes) / WIDTH


def whole_words(transfers: list[int]) -> int:
    return sum(math.ceil(bits / WIDTH) for bits in transfers)


@pytest.mark.parametrize("order", ["tmp", "mtp"])   # weights refetched per time block / kept all run
def test_dram_words_whole_per_glb_tile(spikex_arch, order):
    """GLB tiles of one step and one output row move a few bits per channel (18 of spikes, 72
    of weights, 4 of outputs), so whole words per tile cost 1.3x to 8x the bits / 64; the
    model's counts follow the walk's whole words."""
    rng = np.random.default_rng(11)
    x = np.pad(population_trace(rng, CONV.T, (CONV.C, 4, 4), 60, 30), ((0, 0), (0, 0), (1, 1), (1, 1)))
    y = population_trace(rng, CONV.T, (CONV.M, CONV.P, CONV.Q), 50, 30)
    m = SpikeXMapping("spatial", 1, 1, 4, 4, 1, 1, 1, order)
    reads, writes, read_bits, write_bits = walked_dram_words(CONV, m, x, y, spikex_arch.weight_bits)
    assert reads > 1.3 * read_bits and writes > 5 * write_bits   # the rounding is what is tested
    d = ActualDataDensity(layer_stats_from_spikes(x[:, None, :, 1:-1, 1:-1]))
    out = ActualDataDensity(layer_stats_from_spikes(y[:, None]))
    model = evaluate_layer(CONV, m, spikex_arch, d, out).actions
    assert model[("DRAM", "read")] == pytest.approx(reads, rel=0.05)
    assert model[("DRAM", "write")] == pytest.approx(writes, rel=0.05)
    # The GLB takes the DRAM words in and, per output L1 tile (here one per GLB tile), the
    # array's output spikes as one word whenever its filter fired in the block.
    assert model[("GLB", "write")] == pytest.approx(reads + writes, rel=0.05)

