"""Memory accounting of the SpikeX model: partial sums stay in Vmem, outputs leave per active
block, SRAM ports come from the spec. Expected values are hand-computed from the layer."""

from __future__ import annotations

from pathlib import Path

import pytest

from spikex_plugin.cost_model.dense import dense_actions
from spikex_plugin.cost_model.spikex import evaluate_layer, widths_of
from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.sparsity.density import UniformDensity
from spikex_plugin.workload.network import Layer

CONV = Layer(name="conv", type="conv", T=16, C=8, M=8, H=10, W=10, R=3, S=3, P=8, Q=8, padding=1)
# channels through L1 in 4 chunks of 2: AccelForge's refill rule spills partial sums 3 times
CHUNKED = SpikeXMapping("temporal", tws=4, rows=8, cols=4, c_l1=2, tb_glb=16, m_glb=8, p_glb=8)


def test_partial_sums_stay_in_vmem(spikex_arch):
    widths = widths_of(spikex_arch)
    out_words = CONV.T * CONV.M * CONV.P * CONV.Q / widths.bits_per_action["GLB"]  # 1-bit spikes, once
    kept = dense_actions(CONV, CHUNKED, widths, innermost_reuse=True)
    assert kept[("GLB", "Sout", "write")] == pytest.approx(out_words)
    assert kept[("GLB", "Sout", "read")] == pytest.approx(out_words)        # once, on to DRAM
    spilled = dense_actions(CONV, CHUNKED, widths)
    assert spilled[("GLB", "Sout", "write")] == pytest.approx(4 * out_words)   # every chunk writes
    assert spilled[("GLB", "Sout", "read")] == pytest.approx(3 * out_words + out_words)


def test_outputs_leave_per_active_block(spikex_arch):
    """DRAM writes = output words x P(the block of the output channel over the GLB time block
    is active); the layer's input occupancy stands in for the output's."""
    bpa = spikex_arch.bits_per_action["DRAM"]
    for rate in (0.3, 0.01, 0.0005):
        d = UniformDensity(rate, CONV.lines_per_channel)
        cost = evaluate_layer(CONV, CHUNKED, spikex_arch, d)
        active = 1 - (1 - rate) ** (CONV.lines_per_channel * CHUNKED.tb_glb)
        assert cost.actions[("DRAM", "write")] == pytest.approx(CONV.T * CONV.M * CONV.P * CONV.Q / bpa * active)


def test_read_and_write_ports_overlap(spikex_arch, tmp_path):
    """One read and one write port (double buffering, the default): the GLB needs
    max(reads, writes) cycles; a spec with one shared port needs their sum."""
    d = UniformDensity(0.05, CONV.lines_per_channel)
    two = evaluate_layer(CONV, CHUNKED, spikex_arch, d)
    reads, writes = two.actions[("GLB", "read")], two.actions[("GLB", "write")]
    assert two.cycle_parts["glb_port"] == pytest.approx(max(reads, writes))
    text = Path(spikex_arch.path).read_text()
    default_ports = "ports: {GLB: {read: 1, write: 1}, L1: {read: 1, write: 1}}"
    assert default_ports in text
    spec = tmp_path / "shared.yaml"
    spec.write_text(text.replace(default_ports, "ports: {GLB: {read: 0, write: 0, read_write: 1}}"))
    shared = evaluate_layer(CONV, CHUNKED, load_arch(spec), d)
    assert shared.cycle_parts["glb_port"] == pytest.approx(reads + writes)
    assert shared.cycle_parts["l1_port"] == pytest.approx(two.cycle_parts["l1_port"])  # L1 keeps its default


@pytest.mark.parametrize("order,p_glb,weight_reads,spike_reads", [
    ("mtp", 8, 1, 2),   # weights stationary: weights once, spikes once per weight tile (M / m_glb = 2)
    ("tpm", 8, 2, 1),   # spikes stationary: spikes once, weights once per spike tile (T/tb_glb x P/p_glb = 2)
    ("tmp", 4, 2, 2),   # weights kept across the 2 output-row tiles only
    ("tmp", 8, 2, 1),   # one output-row tile: that loop never advances, so spikes stay across the m tiles
])
def test_dram_loop_order_sets_what_the_glb_keeps(spikex_arch, order, p_glb, weight_reads, spike_reads):
    m = SpikeXMapping("temporal", tws=4, rows=4, cols=2, c_l1=2, tb_glb=8, m_glb=4, p_glb=p_glb, dram_order=order)
    layer = CONV  # T 16, M 8, P 8: t tiles 2, m tiles 2, p tiles P / p_glb
    m.check(layer)
    acts = dense_actions(layer, m, widths_of(spikex_arch), innermost_reuse=True)
    bpa = spikex_arch.bits_per_action["DRAM"]
    weight_bits = layer.M * layer.C * layer.R * layer.S * spikex_arch.weight_bits
    rows = layer.P // p_glb * ((p_glb - 1) * layer.stride + layer.R)  # padded input rows of the row tiles, halos twice
    spike_bits = layer.T * layer.C * rows * layer.W
    assert acts[("DRAM", "Wt", "read")] * bpa == pytest.approx(weight_reads * weight_bits)
    assert acts[("DRAM", "Sin", "read")] * bpa == pytest.approx(spike_reads * spike_bits)
