"""Network YAML from a SpikingJelly model: its traced graph (`graph_trace`).

The layer names are the recorder's, so `spikex map --network shapes.yaml --profile
stats.json` pairs them without anything typed by hand.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from torch import nn

from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.sparsity.stats import LayerFiringStats
from spikex_plugin.training.graph_trace import Node, trace_graph
from spikex_plugin.workload.network import Layer, network_from_dict


FIRES = ("conv", "fc", "matmul", "add", "gate")  # kinds whose output a following neuron turns into spikes


def graph_layers(nodes: list[Node]) -> list[dict]:
    """Network-YAML layers of a traced graph: a neuron that is the only reader of a conv,
    fc, matmul or add becomes that layer's `fire`; every other neuron stays a layer."""
    readers = Counter(src for n in nodes for src in n.inputs)
    by_name = {n.name: n for n in nodes}
    alias: dict[str, str] = {}
    fired: set[str] = set()
    kept = []
    for n in nodes:
        inputs = [alias.get(s, s) for s in n.inputs]
        if n.type == "neuron" and inputs[0] in by_name and by_name[inputs[0]].type in FIRES \
                and readers[n.inputs[0]] == 1 and inputs[0] not in fired:
            fired.add(inputs[0])
            alias[n.name] = inputs[0]
            continue
        kept.append((n, inputs))
    layers, prev = [], "input"
    for n, inputs in kept:
        spec = {"name": n.name, "type": n.type}
        if inputs != [prev]:
            spec["inputs"] = inputs
        spec.update(n.fields)
        if n.type in FIRES:
            spec["fire"] = n.name in fired
        layers.append(spec)
        prev = n.name
    return layers


def network_from_model(model: nn.Module, input_shape: tuple[int, ...], T: int, name: str,
                       names: dict[str, str] | None = None, input_bits: int = 1,
                       trace_T: int | None = None) -> dict:
    """Network-YAML dict of `model` (multi-step, [T, N, *input_shape] input), traced as a
    graph (`graph_trace`). Checks that the format's shape inference reproduces every
    traced shape. `input_bits`: 1 for spike/event inputs, e.g. 8 for image frames.
    `trace_T`: trace a forward pass of this many steps instead of T, for models whose
    shapes do not depend on T (a full pass of a 128x128, T = 300 model costs seconds)."""
    nodes = trace_graph(model, tuple(input_shape), trace_T or T, names)
    if not any(n.type in ("conv", "fc", "matmul") for n in nodes):
        raise SpikeXInputError(type(model).__name__, "layers", "no conv, linear or matmul found")
    net = {"name": name, "T": int(T), "input": {"channels": int(input_shape[0]), "bits": int(input_bits)},
           "layers": graph_layers(nodes)}
    if len(input_shape) == 3:
        net["input"].update(height=int(input_shape[1]), width=int(input_shape[2]))
    else:
        net["input"]["shape"] = [int(d) for d in input_shape]
    try:
        graph = network_from_dict(net, name).graph
    except SpikeXInputError as e:
        raise SpikeXInputError(name, e.field, f"the model's graph does not fit the network format: {e.message}") from None
    for n in nodes:
        if n.name in graph and graph[n.name].shape != n.shape:
            raise SpikeXInputError(name, f"layers.{n.name}", f"the model gives {list(n.shape)} but the network "
                                   f"format infers {list(graph[n.name].shape)}")
    return net


def network_yaml(net: dict, header: str = "") -> str:
    """The network as YAML, one line per layer (as the bundled files are written)."""
    head = {k: v for k, v in net.items() if k != "layers"}
    lines = [f"# {line}".rstrip() for line in header.splitlines()]
    lines.append(yaml.safe_dump(head, sort_keys=False, default_flow_style=None).rstrip())
    lines.append("layers:")
    lines += [f"  - {yaml.safe_dump(l, sort_keys=False, default_flow_style=True, width=10**6).strip()}"
              for l in net["layers"]]
    return "\n".join(lines) + "\n"


def write_network_yaml(net: dict, path: str | Path, header: str = "") -> None:
    Path(path).write_text(network_yaml(net, header))


def mean_fanout(layer: Layer) -> float:
    """Synaptic operations per input spike, averaged over the input positions: out_channels
    x the number of output positions whose window covers the position (fewer at padded
    borders); exactly out_channels*kernel^2/stride^2 in the interior of a tiling layer."""
    if not layer.has_weights:
        return 0.0
    if layer.type == "fc":
        return float(layer.M)
    h, w = layer.input_shape[1:]

    def covered(n: int, out: int) -> int:  # (output, kernel tap) pairs that land on real inputs
        taps = np.arange(out)[:, None] * layer.stride + np.arange(layer.R)[None, :] - layer.padding
        return int(((taps >= 0) & (taps < n)).sum())

    return layer.M * covered(h, layer.P) * covered(w, layer.Q) / (h * w)


def synops_from_stats(layer: Layer, stats: LayerFiringStats) -> float:
    """Total SynOps over the recorded samples implied by the statistics: spikes x mean
    fan-out. Exact when every input position has the same fan-out (FC, 1x1, kernel ==
    stride without padding) or spikes are spread evenly; padded borders make it approximate."""
    spikes = round(float(np.sum(stats.spikes_per_step)) * stats.samples)  # an integer count, stored as means
    return spikes * mean_fanout(layer)
