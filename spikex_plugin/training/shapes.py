"""Network YAML from a SpikingJelly model: trace the recorded modules in forward order.

The layer names are the recorder's, so `spikex map --network shapes.yaml --profile
stats.json` pairs them without anything typed by hand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import yaml
from torch import nn

from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.sparsity.stats import LayerFiringStats
from spikex_plugin.training.recorder import as_time_major, recorded_modules
from spikex_plugin.workload.network import Layer, Network


def _pair(v, what: str, name: str) -> int:
    a, b = (v, v) if isinstance(v, int) else tuple(v)
    if a != b:
        raise SpikeXInputError(name, what, f"non-square {what} {tuple(v)} is not supported by the network format")
    return int(a)


def _spec(name: str, mod: nn.Module) -> dict:
    if isinstance(mod, nn.Linear):
        return {"name": name, "type": "fc", "out_features": mod.out_features}
    kernel = _pair(mod.kernel_size, "kernel", name)
    stride = _pair(mod.stride if mod.stride is not None else mod.kernel_size, "stride", name)
    padding = _pair(mod.padding, "padding", name) if not isinstance(mod.padding, str) else None
    if padding is None:
        raise SpikeXInputError(name, "padding", f"string padding '{mod.padding}' is not supported")
    if isinstance(mod, nn.Conv2d):
        if _pair(mod.dilation, "dilation", name) != 1 or mod.groups != 1:
            raise SpikeXInputError(name, "conv", "dilated or grouped convolutions are not supported")
        return {"name": name, "type": "conv", "out_channels": mod.out_channels, "kernel": kernel,
                "stride": stride, "padding": padding}
    if getattr(mod, "dilation", 1) not in (1, (1, 1)) or getattr(mod, "ceil_mode", False):
        raise SpikeXInputError(name, "pool", "dilated or ceil-mode pooling is not supported")
    return {"name": name, "type": "pool", "kernel": kernel, "stride": stride, "padding": padding}


def trace_layers(model: nn.Module, input_shape: tuple[int, int, int], T: int,
                 names: dict[str, str] | None = None) -> list[tuple[str, nn.Module, tuple[int, ...]]]:
    """(name, module, per-sample input shape) of each recorded module, in call order."""
    from spikingjelly.activation_based import functional

    mods = recorded_modules(model, names)
    seen: list = []
    hooks = [m.register_forward_pre_hook(
        lambda m, args, n=n: seen.append((n, m, tuple(as_time_major(args[0], m, T).shape[2:]))))
        for n, m in mods.items()]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            p = next(model.parameters(), None)
            model(torch.zeros(T, 1, *input_shape, device=p.device if p is not None else "cpu"))
    finally:
        for h in hooks:
            h.remove()
        functional.reset_net(model)
        model.train(was_training)
    if len({n for n, _, _ in seen}) != len(seen):
        raise SpikeXInputError(type(model).__name__, "forward", "a layer runs twice in one forward pass; "
                               "the network format has one entry per layer")
    return seen


def network_from_model(model: nn.Module, input_shape: tuple[int, int, int], T: int, name: str,
                       names: dict[str, str] | None = None) -> dict:
    """Network-YAML dict of `model` (multi-step, [T, N, C, H, W] input). Checks that the
    format's layer-to-layer shape inference reproduces every traced input shape (it cannot
    express branches, concatenation or pooling that drops a remainder)."""
    layers = trace_layers(model, input_shape, T, names)
    if not layers:
        raise SpikeXInputError(type(model).__name__, "layers", "no conv, linear or pooling module found")
    c, h, w = input_shape
    net = {"name": name, "T": int(T), "input": {"channels": int(c), "height": int(h), "width": int(w)},
           "layers": [_spec(n, m) for n, m, _ in layers]}
    try:
        resolved = Network(**net).resolved
    except (SpikeXInputError, ValueError) as e:
        raise SpikeXInputError(name, "layers", f"the model's shapes do not fit the network format: {e}") from None
    for layer, (n, _, shape) in zip(resolved, layers):
        if layer.input_shape != shape:
            raise SpikeXInputError(name, f"layers.{n}", f"the model feeds {list(shape)} but the network format "
                                   f"infers {list(layer.input_shape)} (branch or reshape between layers?)")
    return net


def write_network_yaml(net: dict, path: str | Path) -> None:
    Path(path).write_text(yaml.safe_dump(net, sort_keys=False))


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
