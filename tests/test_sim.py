"""The trace-driven simulator (spikex_plugin/sim): it executes the layer (LIF outputs equal
SpikingJelly's), its counts match brute force over the trace and a hand-worked case, it
imports nothing from the analytic model, and its trace families hit their rates."""

import ast
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spikex_plugin.mapping.mapping import PTBMapping, SpikeXMapping
from spikex_plugin.sim.lif import LIFParams
from spikex_plugin.sim.spikex import simulate_layer
from spikex_plugin.sim.traces import FAMILIES, make_trace
from spikex_plugin.workload.network import Layer

CONV = Layer(name="conv", type="conv", T=8, C=4, M=8, H=10, W=10, R=3, S=3, P=8, Q=8, padding=1)
FC = Layer(name="fc", type="fc", T=8, C=24, M=6, H=1, W=1, R=1, S=1, P=1, Q=1)
SIM_DIR = Path(__file__).resolve().parents[1] / "spikex_plugin" / "sim"
FORBIDDEN = ("spikex_plugin.cost_model", "spikex_plugin.mapping.mapper", "spikex_plugin.cosearch",
             "spikex_plugin.sparsity.density")


def test_sim_sources_import_nothing_from_the_model():
    for path in SIM_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                assert not name.startswith(FORBIDDEN), f"{path.name} imports {name}"


def test_importing_the_simulator_loads_no_model_module():
    code = ("import sys, spikex_plugin.sim.spikex, spikex_plugin.sim.ptb, spikex_plugin.sim.traces;"
            f"print([m for m in sys.modules if m.startswith({FORBIDDEN!r})])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def _spikingjelly_outputs(layer: Layer, x: np.ndarray, w: np.ndarray, lif: LIFParams) -> np.ndarray:
    torch = pytest.importorskip("torch")
    neuron = pytest.importorskip("spikingjelly.activation_based.neuron")
    xt = torch.tensor(x, dtype=torch.float64)
    wt = torch.tensor(w, dtype=torch.float64)
    if layer.type == "fc":
        cur = xt @ wt.T                                                # [T, M]
    else:
        cur = torch.nn.functional.conv2d(xt, wt, stride=layer.stride, padding=layer.padding)  # [T, M, P, Q]
    node = neuron.LIFNode(tau=lif.tau, decay_input=lif.decay_input, v_threshold=lif.v_threshold,
                          v_reset=lif.v_reset, step_mode="m").to(torch.float64)
    return node(cur.unsqueeze(1)).squeeze(1).numpy().astype(bool)


@pytest.mark.parametrize("lif", [LIFParams(), LIFParams(decay_input=False), LIFParams(v_reset=None),
                                 LIFParams(tau=4.0, v_threshold=0.5, v_reset=None, decay_input=False)],
                         ids=["hard-decay_input", "hard-no_decay_input", "soft-decay_input", "soft-no_decay_input"])
@pytest.mark.parametrize("layer", [CONV, FC], ids=["conv", "fc"])
def test_lif_outputs_equal_spikingjelly(layer, lif, spikex_arch):
    rng = np.random.default_rng(3)
    x = make_trace("local_blobs", layer.input_shape, layer.T, 0.3, seed=5)[:, 0]
    # 8-bit weights on a power-of-two scale: sums are exact, so equality is not luck of rounding.
    w = rng.integers(-128, 128, (layer.M, layer.C, layer.R, layer.S)) / 64.0
    m = SpikeXMapping("temporal", tws=2, rows=2, cols=2, c_l1=layer.C // 2, tb_glb=8, m_glb=layer.M, p_glb=1)
    out = simulate_layer(layer, m, spikex_arch, x, weights=w, lif=lif).output_spikes
    ref = _spikingjelly_outputs(layer, x.astype(np.float64), w.reshape(layer.M, layer.C, layer.R, layer.S)
                                if layer.type != "fc" else w.reshape(layer.M, layer.C), lif)
    assert out.any() and not out.all()
    np.testing.assert_array_equal(out, ref)


def test_hand_worked_fc(spikex_arch):
    """2 inputs, 1 neuron, T = 4, TWS 2, 2 columns (windows), 64-bit ports, 8-bit weights;
    line 0 spikes at t = 0, 1 and line 1 at t = 3. Cycle by cycle:
    0-1  DRAM -> GLB: spike word, weight word (one SP-MB: both lines are one FC tag group)
    2-4  GLB -> L1: two words read at 2, 3, written at 3, 4 -> tile ready at 5
    5-6  feeder reads step line 0 (weight word + spike word); column 0 takes it at 7 and
         accumulates 2 spikes (7-8); column 1 (window empty) takes it at 8, holds till 9
    7    step line 1: its weight and spike bits lie in the words the feeder holds (no read);
         column 0 takes it at 9 (nothing to add), column 1 at 10 and accumulates 1 spike
    9-10 column 0 membrane: 2 steps (its window's receptive field fired); 11-12 column 1
         (chained after column 0)
    13   output word to GLB; 14 written back to DRAM -> 15 cycles."""
    layer = Layer(name="tiny", type="fc", T=4, C=2, M=1, H=1, W=1, R=1, S=1, P=1, Q=1)
    trace = np.zeros((4, 2), dtype=bool)
    trace[[0, 1], 0] = True
    trace[3, 1] = True
    m = SpikeXMapping("temporal", tws=2, rows=1, cols=2, c_l1=2, tb_glb=4, m_glb=1, p_glb=1)
    r = simulate_layer(layer, m, spikex_arch, trace)
    expected = {("Accumulator", "compute"): 3, ("WReg", "write"): 2, ("WReg", "read"): 3,
                ("Comparator", "compare"): 4, ("Vmem", "read"): 7, ("L1", "read"): 2, ("L1", "write"): 2,
                ("GLB", "read"): 3, ("GLB", "write"): 3, ("DRAM", "read"): 2, ("DRAM", "write"): 1,
                ("PEController", "dispatch"): 2, ("TagLogic", "check"): 4}
    assert {k: r.actions[k] for k in expected} == expected
    assert r.cycles == 15


def _torch_conv_sum(layer: Layer, x: np.ndarray) -> np.ndarray:
    """Per (step or window, p, q): sum over the receptive field of x [T, C, H, W], by torch."""
    torch = pytest.importorskip("torch")
    xt = torch.tensor(x.reshape(x.shape[0], layer.C, *(x.shape[2:] or (1, 1))), dtype=torch.float64)
    ones = torch.ones(1, layer.C, layer.R, layer.S, dtype=torch.float64)
    return torch.nn.functional.conv2d(xt, ones, stride=layer.stride, padding=layer.padding)[:, 0].numpy()


@pytest.mark.parametrize("family", ["moving_objects", "channel_skewed"])
@pytest.mark.parametrize("mode", ["temporal", "spatial"])
def test_counts_match_brute_force(spikex_arch, family, mode):
    """Accumulations = spikes x taps reading them x filters; weight loads = (tap, window)
    pairs that fired x filters; membrane steps = tws per window whose receptive field fired,
    else 1; all counted here by torch convolutions, not by the simulator's code."""
    layer, tws = CONV, 2
    x = make_trace(family, layer.input_shape, layer.T, 0.05, seed=2)[:, 0]
    cols = 2 if mode == "temporal" else 4
    m = SpikeXMapping(mode, tws=tws, rows=4, cols=cols, c_l1=2, tb_glb=8, m_glb=8, p_glb=4)
    r = simulate_layer(layer, m, spikex_arch, x)
    xf = x.astype(np.float64)
    windows = xf.reshape(layer.T // tws, tws, *layer.input_shape).sum(axis=1)
    assert r.actions[("Accumulator", "compute")] == _torch_conv_sum(layer, xf).sum() * layer.M
    # weight loads: per (window, output, tap) with a spike; the conv of the indicator counts taps
    assert r.actions[("WReg", "write")] == _torch_conv_sum(layer, (windows > 0).astype(float)).sum() * layer.M
    rf = _torch_conv_sum(layer, windows) > 0
    assert r.actions[("Comparator", "compare")] == np.where(rf, tws, 1).sum() * layer.M
    assert r.cycles >= r.cycle_parts["accumulate"] / 1 > 0


@pytest.mark.parametrize("family", sorted(FAMILIES))
@pytest.mark.parametrize("rate", [1e-3, 0.05, 0.5])
def test_trace_families_hit_their_rate(family, rate):
    x = make_trace(family, (4, 12, 12), 32, rate, samples=6, seed=1)
    assert x.dtype == bool and x.shape == (32, 6, 4, 12, 12)
    assert x.mean() == pytest.approx(rate, rel=0.25 if rate > 1e-3 else 0.6)


def test_skewed_and_correlated_families_are_not_independent_lines():
    """The held-out families break the density model's independent-identical-lines assumption."""
    skew = make_trace("channel_skewed", (8, 8, 8), 64, 0.05, seed=1)[:, 0]
    per_channel = np.sort(skew.mean(axis=(0, 2, 3)))[::-1]
    assert per_channel[:2].sum() > 0.5 * per_channel.sum()         # two of 8 channels: most spikes
    burst = make_trace("bursty", (64,), 200, 0.05, seed=1)[:, 0]
    per_step = burst.mean(axis=1)
    assert per_step.std() > 3 * np.sqrt(0.05 * 0.95 / 64)          # steps co-fire far beyond Bernoulli


def test_stsap_packs_non_overlapping_lines():
    """Taps x columns (windows): a slot serves one tap per column, first fit in tap order."""
    from spikex_plugin.sim.ptb import stsap_slots
    active = np.zeros((4, 6), dtype=bool)
    active[0, [0, 1]] = True      # A
    active[1, 2] = True           # B: fits beside A
    active[2, 1] = True           # C: overlaps A in window 1 -> new slot
    #                               D: silent in every window -> no slot
    assert stsap_slots(active).tolist() == [0, 0, 1, -1]


def _ptb_fc(T: int, C: int) -> Layer:
    return Layer(name="tiny", type="fc", T=T, C=C, M=1, H=1, W=1, R=1, S=1, P=1, Q=1)


def test_ptb_hand_worked_fc():
    """PTB, FC, T = 4, TW 2, 2 columns (windows), 1 neuron; lines A (t 0, 1), B (t 2),
    C (t 1), D silent -> stSAP slots {A (window 0), B (window 1)}, {C (window 0)}. Each
    column spends TW = 2 cycles per slot: 4 busy cycles; 4 accumulations (one per spike);
    weight loads per (line, window) that fired: 3; membrane: every step of both windows."""
    from spikex_plugin.hardware.arch import load_arch
    from spikex_plugin.sim.ptb import simulate_ptb_layer
    layer = _ptb_fc(4, 4)
    trace = np.zeros((4, 4), dtype=bool)
    trace[[0, 1], 0] = True
    trace[2, 1] = True
    trace[1, 2] = True
    m = PTBMapping(tws=2, rows=1, cols=2, fold=1, order="weights-stationary", m_glb=1, p_glb=1, t_glb=4)
    r = simulate_ptb_layer(layer, m, load_arch("ptb"), trace)
    assert r.cycle_parts["accumulate"] == 4
    assert r.actions[("Accumulator", "compute")] == 4
    assert r.actions[("WReg", "write")] == 3
    assert r.actions[("Comparator", "compare")] == 4
    assert ("TagLogic", "check") not in r.actions


def test_ptb_pads_the_last_window():
    """T = 5, TW 2: three windows, the last padded with a silent step. A spike at t = 4
    (window 2) is one slot of TW = 2 cycles; the membrane walks all 6 steps; 5 output bits
    (1 DRAM word) leave; stSAP fetches only the one live line (1 weight byte, 5 spike bits)."""
    from spikex_plugin.hardware.arch import load_arch
    from spikex_plugin.sim.ptb import simulate_ptb_layer
    trace = np.zeros((5, 16), dtype=bool)
    trace[4, 3] = True
    m = PTBMapping(tws=2, rows=1, cols=3, fold=1, order="weights-stationary", m_glb=1, p_glb=1, t_glb=6)
    r = simulate_ptb_layer(_ptb_fc(5, 16), m, load_arch("ptb"), trace)
    assert r.cycle_parts["accumulate"] == 2
    assert r.actions[("Comparator", "compare")] == 6
    assert r.actions[("Accumulator", "compute")] == 1
    assert r.actions[("DRAM", "write")] == 1
    assert r.actions[("DRAM", "read")] == 2      # one word of weights, one of spike bits


@pytest.mark.parametrize("order,weight_tiles,spike_tiles", [("mtp", 2, 4), ("tpm", 4, 2), ("tmp", 4, 2)])
def test_dram_order_sets_what_the_glb_reloads(spikex_arch, order, weight_tiles, spike_tiles):
    """All lines fire, so every tile moves in full. 2 time tiles x 2 filter tiles x 1 row
    tile: the GLB reloads a tensor's tile only when its indices change (mtp: weights once;
    tpm: spikes once; tmp: weights every tile, spikes per time tile)."""
    layer = CONV
    m = SpikeXMapping("temporal", tws=2, rows=4, cols=2, c_l1=layer.C, tb_glb=4, m_glb=4, p_glb=layer.P,
                      dram_order=order)
    r = simulate_layer(layer, m, spikex_arch, np.ones((layer.T, *layer.input_shape), dtype=bool))
    w_words = -(-4 * layer.C * 9 * spikex_arch.weight_bits // 64)
    s_words = -(-4 * layer.C * layer.H * layer.W // 64)
    assert r.actions[("DRAM", "read")] == weight_tiles * w_words + spike_tiles * s_words


def test_shared_sram_port_serialises_reads_and_writes(spikex_arch, tmp_path):
    """One shared GLB port (read_write: 1) cannot overlap the next tile's DRAM fill with the
    L1 fills, so the layer takes longer than with 1 read + 1 write port; counts are equal."""
    from spikex_plugin.hardware.arch import load_arch
    text = Path(spikex_arch.path).read_text()
    default = "ports: {GLB: {read: 1, write: 1}, L1: {read: 1, write: 1}}"
    assert default in text
    spec = tmp_path / "shared.yaml"
    spec.write_text(text.replace(default, "ports: {GLB: {read: 0, write: 0, read_write: 1}}"))
    layer = CONV
    x = make_trace("bernoulli", layer.input_shape, layer.T, 0.3, seed=4)[:, 0]
    m = SpikeXMapping("temporal", tws=1, rows=8, cols=8, c_l1=1, tb_glb=8, m_glb=8, p_glb=1, dram_order="tpm")
    two = simulate_layer(layer, m, spikex_arch, x)
    one = simulate_layer(layer, m, load_arch(spec), x)
    assert one.actions == two.actions
    assert one.cycles > two.cycles
