"""SpikingJelly integration: recorder, shapes, SynOp cross-check, hardware-aware loss, CLI."""

import json
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikingjelly.activation_based import functional, layer, neuron, surrogate  # noqa: E402
from torch import nn  # noqa: E402

from spikex_plugin.errors import SpikeXInputError  # noqa: E402
from spikex_plugin.sparsity.stats import (check_stats_match_network, layer_stats_from_spikes,  # noqa: E402
                                          load_stats)
from spikex_plugin.training.loss import HardwareLoss, PiecewiseLinear, window_occupancy  # noqa: E402
from spikex_plugin.training.recorder import SpikeRecorder  # noqa: E402
from spikex_plugin.training.shapes import (mean_fanout, network_from_model, synops_from_stats,  # noqa: E402
                                           write_network_yaml)
from spikex_plugin.workload.network import Network, load_network  # noqa: E402

pytestmark = pytest.mark.train
T = 6


class Net(nn.Module):
    """Padded conv, a SeqToANNContainer (tiling conv + BN), pooling and FC."""

    def __init__(self):
        super().__init__()
        lif = lambda: neuron.LIFNode(v_threshold=0.5, surrogate_function=surrogate.ATan())  # noqa: E731
        self.conv1, self.lif1 = layer.Conv2d(2, 8, 3, padding=1, bias=False), lif()
        self.seq = layer.SeqToANNContainer(nn.Conv2d(8, 8, 2, stride=2, bias=False), nn.BatchNorm2d(8))
        self.lif2 = lif()
        self.pool = layer.MaxPool2d(2)
        self.flat, self.fc = layer.Flatten(), layer.Linear(8 * 2 * 2, 3)
        functional.set_step_mode(self, "m")
        with torch.no_grad():  # dense enough firing everywhere
            self.conv1.weight.uniform_(-0.2, 0.6)
            self.seq[0].weight.uniform_(-0.2, 0.6)

    def forward(self, x):
        return self.fc(self.flat(self.pool(self.lif2(self.seq(self.lif1(self.conv1(x))))))).mean(0)


def batch(n, seed):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(T, n, 2, 8, 8, generator=g) < 0.3).float()


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return Net().eval()


def run(model, x):
    with torch.no_grad():
        out = model(x)
    functional.reset_net(model)
    return out


def brute_occupancy(trace, w):
    """Fraction of (line, sliding window) pairs with a spike, by enumeration."""
    a = trace.reshape(trace.shape[0], -1)
    return np.mean([a[s:s + w].any(axis=0) for s in range(a.shape[0] - w + 1)])


def test_stats_over_batches_equal_concatenated_trace(net):
    with SpikeRecorder(net, T, "stats") as st, SpikeRecorder(net, T, "trace") as tr:
        for seed, n in ((1, 3), (2, 5)):
            run(net, batch(n, seed))
    stats = st.to_stats("net")
    assert list(stats.layers) == ["conv1", "seq_0", "pool", "fc"]
    for name, s in stats.layers.items():
        trace = tr.trace(name)
        assert trace.shape[1] == 8 and 0 < trace.mean() < 1
        assert s == layer_stats_from_spikes(trace)          # streamed == whole trace, exactly
        for w in (1, 2, 4):                                 # and both match brute force
            assert s.window_occupancy[w - 1] == pytest.approx(brute_occupancy(trace, w), abs=1e-12)
        C = trace.shape[2]
        per_channel = trace.reshape(T, trace.shape[1], C, -1).any(axis=3)
        assert s.channel_block_occupancy[1][1] == pytest.approx(brute_occupancy(per_channel, 2), abs=1e-12)
    # Stats streamed from float32 views equal those of the bool trace.
    assert stats == tr.to_stats("net")


def test_every_records_one_pass_in_k(net):
    """every=2 over four batches gives exactly the statistics of batches 1 and 3."""
    with SpikeRecorder(net, T, every=2) as sampled:
        for seed in range(4):
            run(net, batch(2, seed))
    with SpikeRecorder(net, T) as chosen:
        for seed in (0, 2):
            run(net, batch(2, seed))
    assert sampled.to_stats() == chosen.to_stats()
    assert sampled.to_stats().layers["conv1"].samples == 4


@pytest.mark.parametrize("shape,T", [((6, 5, 5), 20), ((12,), 37), ((3, 4, 4), 70)])
def test_recorder_paths_match_trace_statistics(shape, T):
    """Float32 batches streamed through the recorder equal the bool trace's statistics."""
    from spikex_plugin.sparsity.stats import sample_bursty_trace

    rec = SpikeRecorder(nn.Identity(), T)
    traces = [sample_bursty_trace(shape, T, 0.15, 0.6, samples=n, seed=n) for n in (3, 4)]
    for tr in traces:
        rec.record("x", torch.from_numpy(tr).float())
    assert rec.to_stats().layers["x"] == layer_stats_from_spikes(np.concatenate(traces, axis=1))


def test_seq_to_ann_container_shapes(net):
    with SpikeRecorder(net, T, "trace") as rec:
        run(net, batch(4, 3))
    shapes = {n: rec.trace(n).shape for n in rec.layer_names()}
    assert shapes == {"conv1": (T, 4, 2, 8, 8), "seq_0": (T, 4, 8, 8, 8), "pool": (T, 4, 8, 4, 4), "fc": (T, 4, 32)}


def test_network_from_model_round_trip(net, tmp_path):
    spec = network_from_model(net, (2, 8, 8), T, "net")
    write_network_yaml(spec, tmp_path / "net.yaml")
    loaded = load_network(tmp_path / "net.yaml")
    with SpikeRecorder(net, T) as rec:
        run(net, batch(2, 4))
    stats = rec.to_stats("net")
    assert [l.name for l in loaded.resolved] == list(stats.layers)
    check_stats_match_network(stats, loaded, "stats")
    assert [l.type for l in loaded.resolved] == ["conv", "conv", "pool", "fc"]
    assert loaded.layer("seq_0").stride == 2 and loaded.layer("conv1").padding == 1


def test_synops_from_stats_match_op_counter(net):
    from spikingjelly.activation_based.op_counter import DispatchCounterMode, SynOpCounter

    x = batch(3, 5)
    counter = SynOpCounter()
    with DispatchCounterMode([counter]):
        run(net, x)
    counts = {k.split(".", 1)[1]: sum(v.values()) for k, v in counter.get_counts().items() if "." in k}
    with SpikeRecorder(net, T, "trace") as rec:
        run(net, x)
    stats = rec.to_stats("net")
    network = Network(**network_from_model(net, (2, 8, 8), T, "net"))
    # Uniform fan-out (kernel == stride, FC): spikes x out_channels*k^2/stride^2, exactly.
    assert synops_from_stats(network.layer("seq_0"), stats.layers["seq_0"]) == counts["seq.0"]
    assert mean_fanout(network.layer("seq_0")) == 8
    assert synops_from_stats(network.layer("fc"), stats.layers["fc"]) == counts["fc"]
    # Padded 3x3 conv: exact per-position fan-out (a conv of ones) equals the counter; the
    # statistics (no positions) give the mean fan-out, off only at the borders.
    tr = torch.from_numpy(rec.trace("conv1")).float().flatten(0, 1)
    fanout = torch.nn.functional.conv_transpose2d(torch.ones(1, 1, 8, 8), torch.ones(1, 1, 3, 3), padding=1) * 8
    assert float((tr.sum(1, keepdim=True) * fanout).sum()) == counts["conv1"]
    assert synops_from_stats(network.layer("conv1"), stats.layers["conv1"]) == pytest.approx(counts["conv1"], rel=0.05)


def test_window_occupancy_value_and_gradient_sign():
    s = (torch.rand(10, 3, 4, 5, 5, generator=torch.Generator().manual_seed(0)) < 0.15).float().requires_grad_()
    occ = window_occupancy(s, 4)
    assert occ.item() == pytest.approx(layer_stats_from_spikes(s.detach().numpy()).window_occupancy[3], rel=1e-6)
    curve = PiecewiseLinear([0, 0.2, 1], [0, 1, 2])
    curve(occ).backward()
    assert torch.all(s.grad > 0)  # every spike pushed down, even in already-active windows


def test_piecewise_linear():
    f = PiecewiseLinear([0.0, 0.5, 1.0], [1.0, 2.0, 6.0])
    u = torch.tensor([0.25, 0.5, 0.75, 1.5], requires_grad=True)
    y = f(u)
    y.sum().backward()
    assert y.tolist() == pytest.approx([1.5, 2.0, 4.0, 10.0])  # linear beyond the last knot
    assert u.grad.tolist() == pytest.approx([2.0, 2.0, 8.0, 8.0])
    with pytest.raises(ValueError):
        PiecewiseLinear([0, 0], [1, 2])


def test_hardware_loss_is_exact_and_reaches_weights(net):
    model = Net().train()
    curves = {"seq_0": PiecewiseLinear.linear(2.0), "pool": PiecewiseLinear.linear(1.0)}
    x = batch(4, 6)
    with HardwareLoss(model, T, curves, window=4) as hw, SpikeRecorder(model, T, "trace") as rec:
        model(x)
        exact = {n: layer_stats_from_spikes(rec.trace(n)).window_occupancy[3] for n in curves}
        hw.calibrate({n: 0.5 for n in curves})
        loss = hw()
    assert loss.item() == pytest.approx((2 * exact["seq_0"] + exact["pool"]) / 1.5, rel=1e-6)
    loss.backward()
    assert model.conv1.weight.grad.abs().sum() > 0 and model.seq[0].weight.grad.abs().sum() > 0
    functional.reset_net(model)


class Residual(nn.Module):
    """conv1 -> conv2 and a residual join a + b (an element-wise layer, no module), pool, fc."""

    def __init__(self):
        super().__init__()
        lif = lambda: neuron.LIFNode(v_threshold=0.5, surrogate_function=surrogate.ATan(), detach_reset=True)  # noqa: E731
        self.conv1, self.sn1 = layer.Conv2d(2, 4, 3, padding=1, bias=False), lif()
        self.conv2, self.sn2 = layer.Conv2d(4, 4, 3, padding=1, bias=False), lif()
        self.pool, self.flat, self.fc = layer.MaxPool2d(2), layer.Flatten(), layer.Linear(4 * 4 * 4, 3)
        functional.set_step_mode(self, "m")
        with torch.no_grad():
            self.conv1.weight.uniform_(-0.2, 0.6)
            self.conv2.weight.uniform_(-0.3, 0.3)

    def branches(self, x):
        a = self.sn1(self.conv1(x))
        return a, self.sn2(self.conv2(a))

    def forward(self, x):
        a, b = self.branches(x)
        return self.fc(self.flat(self.pool(a + b))).mean(0)


def brute_force_occupancy(spikes: np.ndarray, w: int) -> float:
    """Share of (line, window start) pairs with a spike in the window, by explicit loops."""
    steps = spikes.shape[0]
    lines = spikes.reshape(steps, -1)
    hits = sum(bool(lines[t0:t0 + w, j].any()) for j in range(lines.shape[1]) for t0 in range(steps - w + 1))
    return hits / (lines.shape[1] * (steps - w + 1))


def test_hardware_loss_prices_element_wise_layers():
    """A residual join has no module to hook: the loss traces it under the name the network
    file gives it and prices the input the recorder records (its first operand)."""
    from spikex_plugin.hardware.arch import load_arch
    from spikex_plugin.training.loss import hardware_weights_from_cost_model, input_layers

    torch.manual_seed(1)
    model = Residual().train()
    net = Network(**network_from_model(model, (2, 8, 8), T, "res"))
    assert [(l.name, l.type) for l in net.resolved] == [("conv1", "conv"), ("conv2", "conv"), ("add1", "add"),
                                                        ("pool", "pool"), ("fc", "fc")]
    assert list(hardware_weights_from_cost_model(net, load_arch(), 2, knots=(0.0, 1.0))) == ["conv2", "add1", "pool", "fc"]
    # skewed input: one corner of the frame fires in bursts, the rest is silent
    x = torch.zeros(T, 3, 2, 8, 8)
    x[1:4, :, :, :4, :4] = (torch.rand(3, 3, 2, 4, 4, generator=torch.Generator().manual_seed(2)) < 0.7).float()
    with torch.no_grad():
        a, b = model.branches(x)
    functional.reset_net(model)
    assert 0 < a.mean() < 1 and 0 < b.mean() < 1
    pooled = torch.nn.functional.max_pool2d((a + b).flatten(0, 1), 2).reshape(T, 3, 4, 4, 4)
    expected = {"conv2": brute_force_occupancy(a.numpy(), 4), "add1": brute_force_occupancy(a.numpy(), 4),
                "pool": brute_force_occupancy((a + b).numpy(), 4), "fc": brute_force_occupancy(pooled.numpy(), 4)}
    slopes = {"conv2": 1.0, "add1": 3.0, "pool": 5.0, "fc": 7.0}
    with HardwareLoss(model, T, {n: PiecewiseLinear.linear(k) for n, k in slopes.items()}) as hw:
        model(x)
        loss = hw()
    functional.reset_net(model)
    assert loss.item() == pytest.approx(sum(slopes[n] * expected[n] for n in slopes), rel=1e-6)
    # the join's own term reaches the weights that make its input (conv1), not conv2
    with HardwareLoss(model, T, {"add1": PiecewiseLinear.linear(1.0)}) as hw:
        model(x)
        hw().backward()
    functional.reset_net(model)
    assert model.conv1.weight.grad.abs().sum() > 0 and model.conv2.weight.grad is None
    spec = {"name": "n", "T": 4, "input": {"channels": 2, "height": 4, "width": 4}, "layers": [
        {"name": "c1", "type": "conv", "out_channels": 2, "kernel": 3, "padding": 1},
        {"name": "c2", "type": "conv", "out_channels": 2, "kernel": 1, "inputs": ["input"]},
        {"name": "j", "type": "add", "inputs": ["c1", "c2"]},
        {"name": "f0", "type": "flatten", "inputs": ["input"]}, {"name": "fc0", "type": "fc", "out_features": 3},
        {"name": "f1", "type": "flatten", "inputs": ["j"]}, {"name": "fc1", "type": "fc", "out_features": 3}]}
    assert input_layers(Network(**spec)) == {"c1", "c2", "fc0"}


def test_data_deterministic_and_shaped():
    from spikex_plugin.training.data import digits, load_task, moving_bars

    a, b = moving_bars(16, T=12, seed=3), moving_bars(16, T=12, seed=3)
    assert torch.equal(a.x, b.x) and a.x.shape == (12, 16, 2, 16, 16) and set(a.y.tolist()) <= {0, 1, 2, 3}
    d = digits(8, "latency", "test")
    assert d.x.shape[0] == 8 and d.x.shape[2:] == (1, 8, 8) and d.x.sum(0).max() == 1
    assert len(digits(8, split="train")) + len(d) == 1797
    with pytest.raises(SpikeXInputError):
        load_task("cifar", "train")


def test_core_import_does_not_import_torch():
    code = ("import sys, spikex_plugin, spikex_plugin.api, spikex_plugin.cli; spikex_plugin.cli.build_parser(); "
            "assert 'torch' not in sys.modules and 'spikingjelly' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_train_profile_map_end_to_end(tmp_path):
    from spikex_plugin.cli import main
    from spikex_plugin.training.train import train

    m = train("digits", 0.5, (1, 1), tmp_path / "run", T=8, channels=(4, 8))
    assert 0 < m["accuracy"] <= 1 and set(m["occupancy"]) == {"conv1", "pool1", "conv2", "pool2", "fc"}
    assert main(["profile", "--model", str(tmp_path / "run/model.pt"), "--data", "digits",
                 "--out", str(tmp_path / "stats.json")]) == 0
    assert load_stats(tmp_path / "stats.json") == load_stats(tmp_path / "run/stats.json")
    assert main(["map", "--network", str(tmp_path / "run/network.yaml"), "--profile", str(tmp_path / "stats.json"),
                 "--out", str(tmp_path / "map"), "--workers", "1"]) == 0
    assert json.loads((tmp_path / "map/result.json").read_text())["total"]["edp_js"] > 0
    # Bad inputs are user errors naming the field.
    assert main(["profile", "--model", str(tmp_path / "nope.pt"), "--data", "digits", "--out", str(tmp_path / "x.json")]) == 2
    assert main(["profile", "--model", str(tmp_path / "run/model.pt"), "--data", "events",
                 "--out", str(tmp_path / "x.json")]) == 2
    with pytest.raises(SpikeXInputError):
        train("digits", -1.0, (0, 0), tmp_path / "bad")
