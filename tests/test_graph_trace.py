"""Tracing models with branches into the graph format, and statistics that pair with it."""

import json

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("spikingjelly")

from spikingjelly.activation_based import functional, layer, neuron  # noqa: E402
from spikingjelly.activation_based.model import sew_resnet, spiking_resnet  # noqa: E402

from spikex_plugin.cli import main  # noqa: E402
from spikex_plugin.errors import SpikeXInputError  # noqa: E402
from spikex_plugin.sparsity.stats import check_stats_match_network  # noqa: E402
from spikex_plugin.training.recorder import SpikeRecorder  # noqa: E402
from spikex_plugin.training.shapes import network_from_model, write_network_yaml  # noqa: E402
from spikex_plugin.workload.network import load_network, network_from_dict  # noqa: E402

T = 2


class Branchy(torch.nn.Module):
    """conv -> conv, a 1x1 shortcut, SEW IAND of the two convs, concat with the shortcut."""

    def __init__(self):
        super().__init__()
        self.conv1, self.sn1 = layer.Conv2d(2, 4, 3, padding=1), neuron.IFNode()
        self.conv2, self.sn2 = layer.Conv2d(4, 4, 3, padding=1), neuron.IFNode()
        self.down, self.sn3 = layer.Conv2d(2, 4, 1), neuron.IFNode()
        self.pool, self.flat, self.fc = layer.MaxPool2d(2), layer.Flatten(), layer.Linear(8 * 4 * 4, 3)

    def forward(self, x):
        a = self.sn1(self.conv1(x))
        b = self.sn2(self.conv2(a))
        s = self.sn3(self.down(x))
        z = torch.cat([a * (1.0 - b), s], dim=2)
        return self.fc(self.flat(self.pool(z)))


def multistep(m):
    functional.set_step_mode(m, "m")
    return m


def test_branches_traced_by_tensor_identity():
    spec = network_from_model(multistep(Branchy()), (2, 8, 8), T, "b")
    layers = {l["name"]: l for l in spec["layers"]}
    assert list(layers) == ["conv1", "conv2", "down", "iand1", "cat1", "pool", "flat", "fc"]
    assert layers["conv2"].get("inputs") is None and layers["conv2"]["fire"] is True  # reads conv1
    assert layers["down"]["inputs"] == ["input"]
    assert layers["iand1"]["type"] == "iand" and layers["iand1"]["inputs"] == ["conv1", "conv2"]
    assert layers["cat1"] == {"name": "cat1", "type": "concat", "inputs": ["iand1", "down"], "axis": 0}
    assert layers["fc"]["fire"] is False  # no neuron after the classifier: currents out
    net = network_from_dict(spec)
    assert net.graph["cat1"].shape == (8, 8, 8) and net.layer("fc").C == 8 * 4 * 4


def test_spiking_resnet_adds_before_the_neuron():
    spec = network_from_model(multistep(spiking_resnet.spiking_resnet18(spiking_neuron=neuron.IFNode)),
                              (3, 32, 32), T, "r", input_bits=8)
    layers = {l["name"]: l for l in spec["layers"]}
    assert layers["layer1_0_conv2"]["fire"] is False  # BN output goes to the add, not a neuron
    assert layers["layer1_0_add1"]["inputs"] == ["layer1_0_conv2", "maxpool"] and layers["layer1_0_add1"]["fire"]
    assert layers["layer2_0_add1"]["inputs"] == ["layer2_0_conv2", "layer2_0_downsample_0"]
    g = network_from_dict(spec).graph
    assert g["layer1_0_add1"].bits == 1 and g["layer1_0_conv2"].bits == 16


def test_model_that_needs_single_step_input_is_refused():
    class SingleStep(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(2, 4, 3)

        def forward(self, x):  # [N, C, H, W] only
            return self.conv(x)

    with pytest.raises(SpikeXInputError, match="multi-step"):
        network_from_model(SingleStep(), (2, 8, 8), T, "s")


def test_recorded_sew_resnet18_statistics_map_with_profile(tmp_path, capsys):
    """A real forward pass of sew_resnet18 (random weights, random frames): the recorder's
    statistics pair with the traced network by layer name and map with --profile."""
    torch.manual_seed(0)
    model = multistep(sew_resnet.sew_resnet18(spiking_neuron=neuron.IFNode, cnf="ADD", num_classes=10))
    spec = network_from_model(model, (3, 32, 32), T, "sew18", input_bits=8)
    write_network_yaml(spec, tmp_path / "sew18.yaml")
    network = load_network(tmp_path / "sew18.yaml")
    with SpikeRecorder(model, T) as rec, torch.no_grad():
        model(torch.rand(T, 3, 3, 32, 32))
    functional.reset_net(model)
    stats = rec.to_stats("sew18")
    stats.save(tmp_path / "stats.json")
    check_stats_match_network(stats, network, "stats")
    priced = {l.name for l in network.resolved if l.type in ("conv", "fc", "pool")}
    assert priced == set(stats.layers)  # every conv, pool and fc recorded, by the same name
    out = tmp_path / "out"
    assert main(["map", "--network", str(tmp_path / "sew18.yaml"), "--profile", str(tmp_path / "stats.json"),
                 "--out", str(out), "--workers", "1"]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["density"].startswith("profile:") and "8 unrecorded layers" in result["density"]
    assert [l["name"] for l in result["layers"]] == [l.name for l in network.resolved]
    assert "layer4_1_add1" in capsys.readouterr().out


def test_recorder_ops_records_every_graph_layer_by_name():
    """ops=True: the joins, concat and matmuls get statistics under the traced names; an op
    reading the same tensor as a module records the same statistics."""
    torch.manual_seed(1)
    model = multistep(Branchy())
    network = network_from_dict(network_from_model(model, (2, 8, 8), T, "b"))
    with SpikeRecorder(model, T, ops=True) as rec, torch.no_grad():
        model((torch.rand(T, 5, 2, 8, 8) < 0.5).float())
    stats = rec.to_stats("b", network=network)
    check_stats_match_network(stats, network, "stats")
    assert {l.name for l in network.resolved} <= set(stats.layers)
    assert stats.layers["iand1"] == stats.layers["conv2"]  # both read conv1's spikes
    assert stats.layers["iand1"].rate > 0


def test_recorder_ops_on_spiking_self_attention():
    from zoo_cases import CASES

    case = CASES["Spikformer"]
    model = case.build()
    network = network_from_dict(network_from_model(model, case.input_shape, T, "sf", input_bits=8))
    with SpikeRecorder(model, T, ops=True) as rec, torch.no_grad():
        model(torch.rand(T, 3, *case.input_shape))
    stats = rec.to_stats("sf", network=network)
    check_stats_match_network(stats, network, "stats")
    matmuls = [l for l in network.resolved if l.type == "matmul"]
    assert len(matmuls) == 2 and all(l.name in stats.layers for l in matmuls)
    assert {l.name for l in network.resolved} <= set(stats.layers)


def test_head_after_a_time_mean_runs_per_step_and_is_recorded_with_ops():
    """SDT's head reads x.mean(0): linear, so it is an fc over T steps of the spikes averaged;
    ops=True records those spikes (the same as the neuron output the mean reads)."""
    from zoo_cases import CASES

    case = CASES["SpikeDrivenTransformer"]
    model = case.build()
    spec = network_from_model(model, case.input_shape, T, "sdt", input_bits=8)
    network = network_from_dict(spec)
    head = network.layer("head")
    assert head.type == "fc" and head.T == T and head.C == 64
    with pytest.raises(ValueError, match="ops=True"), SpikeRecorder(model, T), torch.no_grad():
        model(torch.rand(T, 5, *case.input_shape))
    functional.reset_net(model)
    with SpikeRecorder(model, T, ops=True) as rec, torch.no_grad():
        model(torch.rand(T, 5, *case.input_shape))
    stats = rec.to_stats("sdt", network=network)
    check_stats_match_network(stats, network, "stats")
    assert {l.name for l in network.resolved} <= set(stats.layers)
    assert 0 < stats.layers["head"].rate < 1


def test_recorded_statistics_with_folded_modules_are_refused_unless_kept_to_the_network():
    """A neuron folded into its layer is recorded as a module of its own: such a file names a
    layer its network lacks and is refused (exit 2 material); to_stats(network=...) keeps the
    network's layers only."""
    torch.manual_seed(1)
    model = multistep(Branchy())
    network = network_from_dict(network_from_model(model, (2, 8, 8), T, "b"))
    with SpikeRecorder(model, T, ops=True) as rec, torch.no_grad():
        model((torch.rand(T, 5, 2, 8, 8) < 0.5).float())
    everything = rec.to_stats("b")
    extra = set(everything.layers) - {l.name for l in network.resolved}
    assert extra
    with pytest.raises(SpikeXInputError, match="has no layer"):
        check_stats_match_network(everything, network, "stats")
    kept = rec.to_stats("b", network=network)
    assert set(kept.layers) == set(everything.layers) - extra
