"""The network graph format: shapes against PyTorch's own modules, named errors, pricing of
the graph kinds against brute force and against the same work written as plain layers."""

import math

import numpy as np
import pytest
import yaml

from spikex_plugin.api import run_map
from spikex_plugin.cli import main
from spikex_plugin.cost_model.elementwise import evaluate_elementwise
from spikex_plugin.sparsity.density import UniformDensity
from spikex_plugin.workload.network import load_network, network_from_dict

torch = pytest.importorskip("torch")


def net(layers, T=4, **inp):
    return {"name": "g", "T": T, "input": {"channels": 4, "height": 9, "width": 11, **inp}, "layers": layers}


# --- shapes: PyTorch is the oracle ---------------------------------------------------------
WINDOWS = [  # (kind, fields)
    ("conv", {"out_channels": 6, "kernel": 3}),
    ("conv", {"out_channels": 6, "kernel": [3, 2], "stride": [2, 1], "padding": [1, 0]}),
    ("conv", {"out_channels": 8, "kernel": 3, "stride": 2, "padding": 1, "groups": 4}),
    ("conv", {"out_channels": 4, "kernel": 3, "dilation": 2, "padding": 2, "groups": 4}),
    ("conv", {"out_channels": 6, "kernel": 7, "stride": 2, "padding": 3}),
    ("pool", {"kernel": 2}),
    ("pool", {"kernel": 3, "stride": 2, "padding": 1}),
    ("pool", {"kernel": 2, "ceil_mode": True}),
    ("pool", {"kernel": 3, "stride": 2, "ceil_mode": True, "padding": 1}),
    ("pool", {"kernel": [2, 3], "stride": [1, 2], "mode": "avg"}),
    ("adaptive_pool", {"output": [3, 4]}),
    ("adaptive_pool", {"output": 1, "mode": "avg"}),
]


def torch_module(kind, f):
    if kind == "conv":
        return torch.nn.Conv2d(4, f["out_channels"], f["kernel"], f.get("stride", 1), f.get("padding", 0),
                               f.get("dilation", 1), f.get("groups", 1))
    if kind == "pool":
        cls = torch.nn.AvgPool2d if f.get("mode") == "avg" else torch.nn.MaxPool2d
        return cls(f["kernel"], f.get("stride"), f.get("padding", 0), ceil_mode=f.get("ceil_mode", False))
    return torch.nn.AdaptiveMaxPool2d(f["output"])


@pytest.mark.parametrize("kind,fields", WINDOWS)
@pytest.mark.parametrize("hw", [(9, 11), (8, 8), (13, 6)])
def test_window_shapes_match_pytorch(kind, fields, hw):
    expected = tuple(torch_module(kind, fields)(torch.zeros(1, 4, *hw)).shape[1:])
    graph = network_from_dict(net([{"name": "x", "type": kind, **fields}], height=hw[0], width=hw[1])).graph
    assert graph["x"].shape == expected


def test_old_chain_yaml_resolves_as_before():
    """dvsg-medium by hand: 2x64x64 -> conv3x3 pad1 -> pool2 ... -> fc on 32x8x8."""
    n = load_network("dvsg-medium")
    conv1, pool1, fc1 = n.layer("conv1"), n.layer("pool1"), n.layer("fc1")
    assert (conv1.C, conv1.M, conv1.H, conv1.W, conv1.P, conv1.Q, conv1.padding) == (2, 16, 66, 66, 64, 64, 1)
    assert (pool1.C, pool1.H, pool1.P, pool1.R, pool1.stride) == (16, 64, 32, 2, 2)
    assert (fc1.C, fc1.M, fc1.input_shape) == (32 * 8 * 8, 256, (2048,))
    assert [l.name for l in n.resolved] == [s.name for s in n.layers]
    assert all(l.inputs == ((s,) if s else ("input",)) for l, s in zip(n.resolved, [None] + [x.name for x in n.layers]))


def test_residual_graph_shapes_and_bits():
    n = network_from_dict(net([
        {"name": "a", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1},
        {"name": "b", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1},
        {"name": "sew", "type": "add", "inputs": ["a", "b"]},
        {"name": "sew2", "type": "add", "inputs": ["sew", "input"]},
        {"name": "gate", "type": "iand", "inputs": ["a", "b"]},
        {"name": "cat", "type": "concat", "inputs": ["sew2", "gate"]},
        {"name": "f", "type": "flatten"},
        {"name": "fc", "type": "fc", "out_features": 3},
    ]))
    g = n.graph
    assert g["sew"].bits == 2 and g["sew2"].bits == 2 and g["sew2"].max_count == 3  # 0..3 fits 2 bits
    assert g["gate"].bits == 1 and g["cat"].shape == (8, 9, 11) and g["cat"].bits == 2
    assert n.layer("fc").C == 8 * 9 * 11 and n.layer("fc").in_bits == 2
    assert "f" not in [l.name for l in n.resolved]  # layout only: not priced


def test_matmul_shapes_and_work():
    """Spiking self-attention Q.K^T per head: T*heads*N*N*d accumulations, K^T as 1-bit weights."""
    heads, n_tok, d, T = 4, 16, 8, 2
    g = network_from_dict({"name": "a", "T": T, "input": {"channels": 1, "shape": [heads, n_tok, d]}, "layers": [
        {"name": "kt", "type": "permute", "dims": [0, 2, 1]},
        {"name": "qk", "type": "matmul", "inputs": ["input", "kt"]},
        {"name": "qkv", "type": "matmul", "inputs": ["qk", "input"], "fire": True},
    ]})
    qk, qkv = g.layer("qk"), g.layer("qkv")
    assert g.graph["qk"].shape == (heads, n_tok, n_tok) and g.graph["qkv"].shape == (heads, n_tok, d)
    assert qk.dense_synops == T * heads * n_tok * n_tok * d and qk.weight_bits == 1 and qk.in_bits == 1
    assert g.graph["qk"].bits == math.ceil(math.log2(d + 1))
    # (QK^T)V: the integer scores are the weights, the binary V drives the work
    assert qkv.in_bits == 1 and qkv.weight_bits == g.graph["qk"].bits
    assert qkv.dense_synops == T * heads * n_tok * n_tok * d


def test_upsampling_adaptive_pool_folds_into_fc():
    """VGG's AdaptiveAvgPool2d((7, 7)) on a 1x1 map copies each value 49 times; the fc after it
    sums copies with distinct weights, which fold into one weight per channel."""
    n = network_from_dict({"name": "v", "T": 2, "input": {"channels": 512, "height": 1, "width": 1}, "layers": [
        {"name": "up", "type": "adaptive_pool", "output": 7, "mode": "avg"},
        {"name": "flat", "type": "flatten"},
        {"name": "fc", "type": "fc", "out_features": 4096}]})
    fc = n.layer("fc")
    assert fc.C == 512 and fc.input_shape == (512 * 49,)


# --- malformed graphs: exit 2, file and field named, nothing written -----------------------------
BAD = [
    ([{"name": "a", "type": "conv", "out_channels": 4}, {"name": "b", "type": "add", "inputs": ["a", "zz"]}],
     "layers.1.inputs", "zz"),
    ([{"name": "a", "type": "conv", "out_channels": 4, "inputs": ["b"]},
      {"name": "b", "type": "conv", "out_channels": 4}], "inputs", "cycle"),
    ([{"name": "a", "type": "conv", "out_channels": 4, "kernel": 3},
      {"name": "b", "type": "add", "inputs": ["a", "input"]}], "layers.1.inputs", "do not match"),
    ([{"name": "a", "type": "conv", "out_channels": 6, "groups": 4}], "layers.0.groups", "groups"),
    ([{"name": "a", "type": "concat", "inputs": ["input"]}], "layers.0.inputs", "concat"),
    ([{"name": "a", "type": "pool", "kernel": 3},
      {"name": "b", "type": "concat", "inputs": ["a", "input"]}], "layers.1.inputs", "concatenate"),
    ([{"name": "m", "type": "matmul", "inputs": ["input", "input"]}], "layers.0.inputs", "multiply"),
    ([{"name": "r", "type": "reshape", "shape": [5, -1]}], "layers.0.shape", "reshape"),
    ([{"name": "c", "type": "concat", "inputs": ["input", "input"], "axis": 3}], "layers.0.axis", "outside"),
    ([{"name": "c", "type": "conv", "out_channels": 4, "inputs": ["c"]}], "layers.0.inputs", "cycle"),
    ([{"name": "input", "type": "pool", "kernel": 2}], "layers.input", "network input"),  # named by the layer
]


@pytest.mark.parametrize("layers,field,words", BAD)
def test_malformed_graph_exits_2(tmp_path, capsys, layers, field, words):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(net(layers)))
    out = tmp_path / "out"
    assert main(["map", "--network", str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert str(path) in err and field in err and words in err and "Traceback" not in err
    assert not out.exists()


def test_refused_layer_names_itself(tmp_path, capsys):
    path = tmp_path / "dil.yaml"
    path.write_text(yaml.safe_dump(net([{"name": "wide", "type": "conv", "out_channels": 4, "kernel": 3,
                                          "dilation": 2, "padding": 2}])))
    assert main(["map", "--network", str(path), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "layers.wide" in err and "dilated" in err and str(path) in err


# --- pricing ---------------------------------------------------------------------------------
def cost(layers, T=4, density=0.02, **inp):
    return run_map("spikex", network_from_dict(net(layers, T, **inp)), density=density, workers=1)


def test_grouped_conv_costs_its_groups_one_after_another():
    """A conv with 4 groups costs exactly four 1-channel convs on their own channel."""
    grouped = cost([{"name": "g", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1, "groups": 4}])
    one = cost([{"name": "g", "type": "conv", "out_channels": 1, "kernel": 3, "padding": 1}], channels=1)
    assert grouped.energy_j == pytest.approx(4 * one.energy_j, rel=1e-9)
    assert grouped.cycles == pytest.approx(4 * one.cycles, rel=1e-9)


def test_multibit_input_costs_one_pass_per_bit_plane():
    conv = [{"name": "c", "type": "conv", "out_channels": 8, "kernel": 3}]
    frames, spikes = cost(conv, bits=8), cost(conv, bits=1)
    assert frames.energy_j == pytest.approx(8 * spikes.energy_j, rel=1e-9)
    assert frames.layers[0].actions[("Accumulator", "compute")] == \
        pytest.approx(8 * spikes.layers[0].actions[("Accumulator", "compute")], rel=1e-9)


def test_sew_add_traffic_matches_brute_force_over_a_trace(spikex_arch):
    """GLB bits read by an ADD of two spike maps (inactive channel blocks skipped) and the
    accumulations (one per input spike), counted on sampled Bernoulli traces."""
    T, C, H, W, rate = 4, 16, 3, 3, 0.02
    n = network_from_dict({"name": "s", "T": T, "input": {"channels": C, "height": H, "width": W}, "layers": [
        {"name": "b", "type": "pool", "kernel": 1},
        {"name": "add", "type": "add", "inputs": ["b", "input"]}]})
    layer = n.layer("add")
    c = evaluate_elementwise(layer, spikex_arch, UniformDensity(rate, H * W))
    rng = np.random.default_rng(3)
    spikes = rng.random((4000, 2, T, C, H, W)) < rate
    active_blocks = spikes.any(axis=(2, 4, 5))  # a channel's block over all T has a spike
    bits_read = active_blocks.sum(axis=(1, 2)).mean() * T * H * W
    bpa = spikex_arch.bits_per_action["GLB"]
    assert c.actions[("GLB", "read")] * bpa == pytest.approx(bits_read, rel=0.03)
    assert c.actions[("Accumulator", "compute")] == pytest.approx(spikes.sum(axis=(1, 2, 3, 4, 5)).mean(), rel=0.03)
    assert c.actions[("GLB", "write")] * bpa == T * C * H * W * 2  # 2-bit sums, all written


def test_graph_network_total_is_the_sum_of_its_layers():
    r = run_map("spikex", "sew-resnet18-cifar10", density=0.005, workers=1)
    assert r.energy_j == pytest.approx(sum(l.energy_j for l in r.layers))
    assert r.latency_s == pytest.approx(sum(l.latency_s for l in r.layers))
    kinds = {l.name: r.network.layer(l.name).type for l in r.layers}
    assert sum(k == "add" for k in kinds.values()) == 8 and sum(k == "conv" for k in kinds.values()) == 20


def test_fast_mapper_agrees_with_the_mapper_on_graph_kinds(spikex_arch):
    """The co-search's table mapper prices the lowered kinds as `spikex map` does."""
    from spikex_plugin.api import densities_for
    from spikex_plugin.cosearch.fastmap import FastMapper

    n = network_from_dict({"name": "k", "T": 4, "input": {"channels": 8, "height": 8, "width": 8, "bits": 8},
                           "layers": [
        {"name": "dw", "type": "conv", "out_channels": 8, "kernel": 3, "padding": 1, "groups": 8},
        {"name": "pw", "type": "conv", "out_channels": 8, "kernel": 1},
        {"name": "sew", "type": "add", "inputs": ["dw", "pw"]},
        {"name": "tok", "type": "reshape", "shape": [2, 4, 64]},
        {"name": "kt", "type": "permute", "dims": [0, 2, 1]},
        {"name": "qk", "type": "matmul", "inputs": ["tok", "kt"]}]})
    dens = densities_for(n, 0.03)[0]
    slow = run_map(spikex_arch, n, density=0.03, workers=1)
    fast = FastMapper(n.resolved, dens).map(spikex_arch)
    assert [p.name for p in fast] == ["dw", "pw", "sew", "qk"]
    for pick, cost in zip(fast, slow.layers):
        assert pick.energy_j == pytest.approx(cost.energy_j, rel=1e-9)
        assert pick.cycles == pytest.approx(cost.cycles, rel=1e-9)
