"""A SpikingJelly model built from a network YAML (the `spikex train --network` model).

Each conv layer becomes conv (no bias) -> BatchNorm -> LIF, each pool a max-pool, each fc a
linear layer followed by LIF except the last, whose output averaged over time is the class
score. The LIF neuron is `lif.FastLIF` (compiled, CPU) or SpikingJelly's own LIFNode (for
a GPU); both compute the same neuron. Modules carry the YAML layer names, so the recorder's statistics and
`shapes.network_from_model` pair with the bundled network file without a name map.
"""

from __future__ import annotations

import math

import torch
from typing import Literal

from torch import nn

from spikex_plugin.training.lif import FastLIF
from spikex_plugin.workload.network import Network


class NetworkSNN(nn.Module):
    """Multi-step SNN ([T, N, C, H, W] in, [N, classes] out) with the layers of `network`."""

    def __init__(self, network: Network, v_threshold: float = 0.5, tau: float = 2.0,
                 neuron: Literal["fast", "spikingjelly"] = "fast"):
        super().__init__()
        from spikingjelly.activation_based import functional, layer
        from spikingjelly.activation_based import neuron as sj_neuron
        from spikingjelly.activation_based import surrogate

        def lif() -> nn.Module:
            if neuron == "fast":
                return FastLIF(tau=tau, v_threshold=v_threshold)
            return sj_neuron.LIFNode(tau=tau, v_threshold=v_threshold, surrogate_function=surrogate.ATan(),
                                     detach_reset=True)

        self.order: list[str] = []
        resolved = network.resolved
        for i, spec in enumerate(resolved):
            last = i == len(resolved) - 1
            if spec.type == "conv":
                self._add(spec.name, layer.Conv2d(spec.C, spec.M, spec.R, spec.stride, spec.padding, bias=False))
                self._add(f"{spec.name}_bn", layer.BatchNorm2d(spec.M))
                self._add(f"{spec.name}_lif", lif())
            elif spec.type == "pool":
                self._add(spec.name, layer.MaxPool2d(spec.R, spec.stride, spec.padding))
            else:
                if i == 0 or resolved[i - 1].type != "fc":
                    self._add(f"{spec.name}_flat", layer.Flatten())
                self._add(spec.name, layer.Linear(math.prod(spec.input_shape), spec.M))
                if not last:
                    self._add(f"{spec.name}_lif", lif())
        if resolved[-1].type != "fc":
            raise ValueError(f"network {network.name}: the last layer must be fc (the class readout)")
        self.classes = resolved[-1].M
        functional.set_step_mode(self, "m")

    def _add(self, name: str, module: nn.Module) -> None:
        self.add_module(name, module)
        self.order.append(name)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for name in self.order:
            x = getattr(self, name)(x)
        return x.mean(0)
