"""`spikex train --network`: the model built from a network YAML, the compiled LIF neuron
(checked against SpikingJelly's own), checkpoints and resume, emulated tasks, bundled profiles."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikingjelly.activation_based import functional, neuron, surrogate  # noqa: E402

from spikex_plugin.training.lif import FastLIF  # noqa: E402

pytestmark = pytest.mark.train


@pytest.mark.parametrize("shape", [(40, 3, 5, 7), (40, 2, 64, 70)])   # one neuron block; several, the last partial
def test_fast_lif_matches_spikingjelly_spikes_and_gradients(shape):
    torch.manual_seed(0)
    x = (torch.randn(*shape) * 0.8 + 0.3).requires_grad_()
    w = torch.randn(*shape)
    ref = neuron.LIFNode(tau=2.0, v_threshold=0.5, surrogate_function=surrogate.ATan(), detach_reset=True,
                         step_mode="m")
    s_ref = ref(x)
    (s_ref * w).sum().backward()
    g_ref, x.grad = x.grad.clone(), None
    fast = FastLIF(2.0, 0.5)
    s = fast(x)
    (s * w).sum().backward()
    assert 0.05 < s_ref.mean() < 0.5 and torch.equal(s, s_ref)
    assert torch.allclose(x.grad, g_ref, atol=1e-5) and g_ref.abs().max() > 0.1
    # the membrane carries over between chunks; reset_net clears it
    fast.reset()
    chunked = torch.cat([fast(x[:17].detach()), fast(x[17:].detach())])
    assert torch.equal(chunked, s_ref)
    functional.reset_net(torch.nn.Sequential(fast))
    assert torch.equal(fast(x[:17].detach()), s_ref[:17])


@pytest.mark.parametrize("name", ["nmnist", "dvsg-medium", "dvsg-large"])
def test_network_model_has_the_bundled_layers(name):
    from spikex_plugin.training.model import NetworkSNN
    from spikex_plugin.training.shapes import network_from_model
    from spikex_plugin.workload.network import Network, load_network

    net = load_network(name)
    model = NetworkSNN(net)
    T = 2  # shapes do not depend on T
    traced = Network(**network_from_model(model, (net.input.channels, net.input.height, net.input.width), T, name))
    # bit widths too: the compiled LIF must be seen as a neuron, so hidden layers emit 1-bit
    # spikes (the readout fc has no neuron after it: the model reads its currents)
    def shape(layers):
        return [(l.name, l.type, l.input_shape, l.M, l.in_bits, l.out_bits) for l in layers]
    assert shape(traced.resolved)[:-1] == shape(net.resolved)[:-1]
    assert shape(traced.resolved)[-1][:5] == shape(net.resolved)[-1][:5]
    assert model.classes == net.resolved[-1].M


def test_emulated_tasks_shapes_and_determinism():
    from spikex_plugin.training.data import dvs_gesture_like, nmnist_like

    a, b = nmnist_like("test", n=6), nmnist_like("test", n=6)
    xa, ya = next(a.batches(6))
    assert xa.shape == (30, 6, 2, 34, 34) and torch.equal(xa, next(b.batches(6))[0])
    assert 0.005 < xa.mean() < 0.3 and xa[:, :, 0].sum() > 0 and xa[:, :, 1].sum() > 0
    g = dvs_gesture_like("train", T=20, n=11, size=32)
    xg, yg = next(g.batches(11))
    assert xg.shape == (20, 11, 2, 32, 32) and yg.tolist() == list(range(11)) and g.input_shape == (2, 32, 32)
    assert 0 < xg.mean() < 0.2


def test_train_network_resumes_from_checkpoints(tmp_path):
    from spikex_plugin.training.train import sweep_betas

    kw = dict(network="nmnist", train_samples=16, test_samples=8, batch_size=8, calib_samples=8, chunk=10)
    first = sweep_betas("nmnist", [0.0], (1, 0), tmp_path / "run", **kw)[0]
    ckpt = torch.load(tmp_path / "run/checkpoints/pretrain.pt", weights_only=True)
    assert len(ckpt["log"]) == 1
    (tmp_path / "run/beta_0/metrics.json").unlink()
    second = sweep_betas("nmnist", [0.0], (2, 0), tmp_path / "run", **kw)[0]
    assert [r["epoch"] for r in second["log"]] == [1, 2]
    assert second["log"][0] == first["log"][0]                      # resumed, not retrained
    stats = json.loads((tmp_path / "run/beta_0/stats.json").read_text())
    assert stats["network"] == "nmnist" and set(stats["layers"]) == {"conv1", "pool1", "conv2", "pool2", "fc1"}
    assert stats["layers"]["conv1"]["T"] == 30 and stats["layers"]["conv1"]["samples"] == 8


def test_bundled_profiles_load_by_name(tmp_path):
    from spikex_plugin.sparsity.stats import bundled_profiles, check_stats_match_network, load_stats
    from spikex_plugin.workload.network import load_network

    names = bundled_profiles()
    assert "nmnist-trained" in names
    for name in names:
        stats = load_stats(name)
        check_stats_match_network(stats, load_network(stats.network), name)
    from spikex_plugin.errors import SpikeXInputError
    with pytest.raises(SpikeXInputError, match="bundled profiles"):
        load_stats("no-such-profile")


def test_profile_structure_generates_loadable_statistics(tmp_path):
    from spikex_plugin.cli import main
    from spikex_plugin.sparsity.stats import load_stats

    out = tmp_path / "s.json"
    assert main(["profile", "--network", "nmnist", "--structure", "rate=0.02,burstiness=0.6", "--samples", "2",
                 "--out", str(out)]) == 0
    stats = load_stats(out)
    assert stats.layers["conv2"].rate == pytest.approx(0.02, rel=0.1)
    assert main(["profile", "--network", "nmnist", "--structure", "burstiness=1", "--out", str(out)]) == 2
    assert main(["profile", "--network", "nmnist", "--structure", "skew=1", "--out", str(out)]) == 2


def test_ctrl_c_prints_one_line_on_how_to_resume(tmp_path, monkeypatch, capsys):
    import spikex_plugin.training.train as train_module
    from spikex_plugin.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(train_module, "sweep_betas", interrupted)
    assert main(["train", "--network", "nmnist", "--beta", "0", "1", "--out", str(tmp_path / "run")]) == 130
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "rerun the same command to resume" in err[0] and str(tmp_path / "run") in err[0]
