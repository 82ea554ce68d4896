"""Dense action counts of our SpikeX model must equal AccelForge's evaluate_mapping exactly."""

import pytest

from spikex_plugin.cost_model.dense import dense_actions
from spikex_plugin.cost_model.spikex import evaluate_layer, widths_of
from spikex_plugin.hardware.arch import accelforge_spec
from spikex_plugin.mapping.mapping import SpikeXMapping, accelforge_mapping_yaml
from spikex_plugin.sparsity.density import UniformDensity
from spikex_plugin.util import third_party_notices_silenced
from spikex_plugin.workload.einsum import workload_yaml
from spikex_plugin.workload.network import Layer

CONV = Layer(name="conv", type="conv", T=8, C=4, M=8, H=6, W=6, R=3, S=3, P=4, Q=4)
CONV_S2 = Layer(name="convs2", type="conv", T=4, C=2, M=4, H=9, W=9, R=3, S=3, P=4, Q=4, stride=2)
FC = Layer(name="fc", type="fc", T=8, C=32, M=16, H=1, W=1, R=1, S=1, P=1, Q=1)
CASES = [
    (CONV, SpikeXMapping("temporal", 2, 4, 2, 2, 8, 8, 4)),   # channel chunks: partial sums spill
    (CONV, SpikeXMapping("temporal", 2, 4, 2, 4, 4, 8, 2)),
    (CONV, SpikeXMapping("spatial", 2, 2, 4, 2, 4, 4, 2)),
    (CONV_S2, SpikeXMapping("spatial", 2, 4, 2, 1, 4, 4, 2)),
    (FC, SpikeXMapping("temporal", 4, 8, 2, 8, 8, 16, 1)),
    (FC, SpikeXMapping("spatial", 2, 8, 1, 32, 4, 8, 1)),
]


def accelforge_actions(tmp_path, arch, layer, mapping):
    (tmp_path / "w.yaml").write_text(workload_yaml(layer, arch.weight_bits))
    (tmp_path / "m.yaml").write_text(accelforge_mapping_yaml(layer, mapping))
    spec = accelforge_spec(arch.path, dict(arch.params), str(tmp_path / "w.yaml"), str(tmp_path / "m.yaml"))
    with third_party_notices_silenced():
        return spec.evaluate_mapping().actions(per_component=True, per_tensor=True)


@pytest.mark.parametrize("layer,mapping", CASES, ids=[f"{l.name}-{m.mode}-{i}" for i, (l, m) in enumerate(CASES)])
def test_dense_counts_equal_accelforge(tmp_path, spikex_arch, layer, mapping):
    mapping.check(layer)
    theirs = accelforge_actions(tmp_path, spikex_arch, layer, mapping)
    ours = dense_actions(layer, mapping, widths_of(spikex_arch))
    keys = set(theirs) | set(ours)
    assert {k: ours.get(k, 0.0) for k in keys} == {k: float(theirs.get(k, 0.0)) for k in keys}


@pytest.mark.parametrize("layer,mapping", CASES[:1] + CASES[4:5])
def test_sparse_model_at_density_one_is_dense(spikex_arch, layer, mapping):
    """At density 1 the SpikeX cost is the dense count with its reuse rule (tiles kept across
    innermost loops that do not index them: partial sums stay in Vmem), except that every
    transfer moves whole words: an L1 fill's spike bits and kernels, a GLB tile's spike bits,
    kernels and write-back, an output tile's spikes into the GLB, each one transfer (hand
    count below: the dense count's bits / width, rounded up per transfer)."""
    dense = dense_actions(layer, mapping, widths_of(spikex_arch), innermost_reuse=True)
    cost = evaluate_layer(layer, mapping, spikex_arch, UniformDensity(1.0))
    per_action = {}
    for (comp, _, action), n in dense.items():
        per_action[(comp, action)] = per_action.get((comp, action), 0.0) + n
    m, bpa = mapping, spikex_arch.bits_per_action
    tiles = layer.T // m.tb * layer.M // m.rows * layer.P * layer.Q // m.q_cols * layer.C // m.c_l1
    tile_bits = (m.c_l1 * m.tb * layer.R * ((m.q_cols - 1) * layer.stride + layer.S),
                 m.rows * m.c_l1 * layer.R * layer.S * spikex_arch.weight_bits)
    whole_words = {(comp, action): tiles * sum(waste(b, bpa[comp]) for b in tile_bits)
                   for comp, action in (("L1", "write"), ("GLB", "read"))}
    # Both cases hold the layer in one GLB tile: each tensor crosses DRAM <-> GLB once.
    assert (layer.T // m.tb_glb, layer.M // m.m_glb, layer.P // m.p_glb) == (1, 1, 1)
    glb_in = (m.tb_glb * layer.C * ((m.p_glb - 1) * layer.stride + layer.R) * layer.W,
              m.m_glb * layer.C * layer.R * layer.S * spikex_arch.weight_bits)
    glb_out = m.m_glb * m.p_glb * layer.Q * m.tb_glb
    out_tiles = layer.T // m.tb * layer.M // m.rows * layer.P * layer.Q // m.q_cols
    whole_words[("DRAM", "read")] = sum(waste(b, bpa["DRAM"]) for b in glb_in)
    whole_words[("GLB", "write")] = (sum(waste(b, bpa["GLB"]) for b in glb_in)
                                     + out_tiles * waste(m.rows * m.cols * m.tws, bpa["GLB"]))
    whole_words[("DRAM", "write")] = waste(glb_out, bpa["DRAM"])
    whole_words[("GLB", "read")] += waste(glb_out, bpa["GLB"])
    spikex_only_vmem = cost.actions[("Comparator", "compare")] * spikex_arch.vmem_bits / spikex_arch.bits_per_action["Vmem"]
    # The feeder reads whole L1 words per step, not bits / width (every step is issued).
    per_action[("L1", "read")] = tiles * feeder_reads_per_tile(layer, m, bpa["L1"], spikex_arch.weight_bits)
    for (comp, action), n in per_action.items():
        extra = spikex_only_vmem if comp == "Vmem" else whole_words.get((comp, action), 0.0)
        assert cost.actions[(comp, action)] == pytest.approx(n + extra, rel=1e-12)
    # Every neuron updates at every step when all inputs fire.
    assert cost.actions[("Comparator", "compare")] == pytest.approx(layer.T * layer.output_neurons)


def waste(bits: int, width: float) -> float:
    """Words a transfer of `bits` moves beyond bits / width (its last word's unused part)."""
    return -(-bits // width) - bits / width


def feeder_reads_per_tile(layer: Layer, m: SpikeXMapping, width: int, weight_bits: int) -> int:
    """L1 words the feeder reads for one tile with every step issued, counted step by step:
    L1 packs the tile's channels in order, weights as [c][r][s][row] and spikes as
    [c][r][pixel][time block]; a step reads the words holding its rows' weights and its
    columns' spike bits, less the word it still holds from the step before in that region."""
    temporal = m.mode == "temporal"
    tb = m.cols * m.tws if temporal else m.tws
    pixels = layer.S if temporal else (m.cols - 1) * layer.stride + layer.S
    spike_bits = tb if temporal else ((m.cols - 1) * layer.stride + 1) * m.tws
    reads, held = 0, [None, None]
    for c in range(m.c_l1):
        for r in range(layer.R):
            for s in range(layer.S):
                weights = (((c * layer.R + r) * layer.S + s) * m.rows * weight_bits, m.rows * weight_bits)
                spikes = (((c * layer.R + r) * pixels + s) * tb, spike_bits)
                for region, (first_bit, bits) in enumerate((weights, spikes)):
                    first, last = first_bit // width, (first_bit + bits - 1) // width
                    reads += last - first + 1 - (held[region] == first)
                    held[region] = last
    return reads
