"""Spiking network descriptions: validated layer shapes with a time dimension T.

A network YAML lists layers in order; each layer's input shape is inferred from the
previous layer's output (or the network's `input`), so users type only what changes:

    name: my-net
    T: 300
    input: {channels: 2, height: 64, width: 64}
    layers:
      - {name: conv1, type: conv, out_channels: 16, kernel: 3, padding: 1}
      - {name: pool1, type: pool, kernel: 2}
      - {name: fc1, type: fc, out_features: 11}
"""

from __future__ import annotations

from functools import cached_property
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from spikex_plugin.errors import SpikeXInputError, from_validation_error
from spikex_plugin.util import load_yaml_file

LayerType = Literal["conv", "fc", "pool"]


class InputShape(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: PositiveInt
    height: PositiveInt = 1
    width: PositiveInt = 1


class LayerSpec(BaseModel):
    """One layer as written in the YAML (input shape inferred unless given)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    type: LayerType
    out_channels: PositiveInt | None = None
    out_features: PositiveInt | None = None
    kernel: PositiveInt = 1
    stride: PositiveInt | None = None
    padding: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _type_fields(self) -> "LayerSpec":
        if self.type == "conv" and self.out_channels is None:
            raise ValueError("conv layer needs out_channels")
        if self.type == "fc" and self.out_features is None:
            raise ValueError("fc layer needs out_features")
        return self


class Layer(BaseModel):
    """A layer with every dimension resolved. Conv/FC/pool share one iteration space:
    Sout[t, m, p, q] += Sin[t, c, stride*p + r, stride*q + s] * Wt[m, c, r, s]
    (FC: P = Q = R = S = 1; pool: no weights, M = C, each output ORs its own channel).
    H and W include padding, so they are the extent of the input tensor as stored."""

    model_config = ConfigDict(frozen=True)
    name: str
    type: LayerType
    T: PositiveInt
    C: PositiveInt
    M: PositiveInt
    H: PositiveInt
    W: PositiveInt
    R: PositiveInt
    S: PositiveInt
    P: PositiveInt
    Q: PositiveInt
    stride: PositiveInt = 1
    padding: int = 0

    @property
    def has_weights(self) -> bool:
        return self.type != "pool"

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-time-step shape of the spikes the layer reads (unpadded), as recorded."""
        if self.type == "fc":
            return (self.C,)
        return (self.C, self.H - 2 * self.padding, self.W - 2 * self.padding)

    @property
    def input_lines(self) -> int:
        """Number of 1-bit input lines (unpadded neurons) per time step."""
        n = 1
        for d in self.input_shape:
            n *= d
        return n

    @property
    def lines_per_channel(self) -> int:
        return self.input_lines // self.C

    @property
    def weights(self) -> int:
        return self.M * self.C * self.R * self.S if self.has_weights else 0

    @property
    def dense_synops(self) -> int:
        """Accumulations if every input spiked at every step (reduction over c, r, s)."""
        if not self.has_weights:
            return 0
        return self.T * self.M * self.P * self.Q * self.C * self.R * self.S

    @cached_property
    def valid_tap_fraction(self) -> float:
        """Share of (output position, kernel tap) pairs that read a real input line rather
        than zero padding (padding never spikes)."""
        def axis(size_out: int, k: int, extent: int) -> float:
            hits = sum(self.padding <= o * self.stride + r < extent - self.padding
                       for o in range(size_out) for r in range(k))
            return hits / (size_out * k)
        return axis(self.P, self.R, self.H) * axis(self.Q, self.S, self.W)

    @property
    def output_neurons(self) -> int:
        return self.M * self.P * self.Q


class Network(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    T: PositiveInt
    input: InputShape
    layers: list[LayerSpec] = Field(min_length=1)
    source: str = "<memory>"

    @model_validator(mode="after")
    def _unique_names(self) -> "Network":
        seen = set()
        for i, spec in enumerate(self.layers):
            if spec.name in seen:
                raise ValueError(f"layers.{i}.name: duplicate layer name '{spec.name}'")
            seen.add(spec.name)
        return self

    @cached_property
    def resolved(self) -> list[Layer]:
        return _resolve(self)

    def layer(self, name: str) -> Layer:
        for layer in self.resolved:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def weighted_layers(self) -> list[Layer]:
        return [l for l in self.resolved if l.has_weights]


def _resolve(net: Network) -> list[Layer]:
    c, h, w = net.input.channels, net.input.height, net.input.width
    out: list[Layer] = []
    for i, spec in enumerate(net.layers):
        where = f"layers.{i} ({spec.name})"
        if spec.type == "fc":
            layer = Layer(name=spec.name, type="fc", T=net.T, C=c * h * w, M=spec.out_features,
                          H=1, W=1, R=1, S=1, P=1, Q=1)
            c, h, w = spec.out_features, 1, 1
        else:
            k, pad = spec.kernel, spec.padding
            stride = spec.stride or (k if spec.type == "pool" else 1)
            hp, wp = h + 2 * pad, w + 2 * pad
            if hp < k or wp < k:
                raise SpikeXInputError(net.source, f"{where}.kernel",
                                       f"kernel {k} larger than padded input {hp}x{wp}")
            if (hp - k) % stride or (wp - k) % stride:
                raise SpikeXInputError(net.source, f"{where}.stride",
                                       f"input {hp}x{wp} with kernel {k} does not divide by stride {stride}")
            p, q = (hp - k) // stride + 1, (wp - k) // stride + 1
            m = spec.out_channels if spec.type == "conv" else c
            layer = Layer(name=spec.name, type=spec.type, T=net.T, C=c, M=m, H=hp, W=wp,
                          R=k, S=k, P=p, Q=q, stride=stride, padding=pad)
            c, h, w = m, p, q
        out.append(layer)
    return out


BUNDLED = ("dvsg-medium", "dvsg-large", "nmnist", "vgg-cifar10")


def bundled_network_path(name: str) -> Path:
    return Path(str(resources.files("spikex_plugin.workload") / "networks" / f"{name}.yaml"))


def load_network(name_or_path: str | Path) -> Network:
    """Load a bundled network by name (see BUNDLED) or a network YAML file."""
    path = Path(name_or_path)
    if not path.suffix and str(name_or_path) in BUNDLED:
        path = bundled_network_path(str(name_or_path))
    elif not path.exists() and not path.suffix:
        raise SpikeXInputError(name_or_path, "--network",
                               f"unknown network; bundled ones are {', '.join(BUNDLED)}")
    data = load_yaml_file(path)
    if not isinstance(data, dict):
        raise SpikeXInputError(path, "<root>", "a network file must be a mapping")
    if "source" in data:  # set by the loader: where the network came from
        raise SpikeXInputError(path, "source", "unknown field (a typo?)")
    try:
        net = Network.model_validate({**data, "source": str(path)})
    except ValidationError as e:
        raise from_validation_error(str(path), e, data) from None
    except ValueError as e:
        raise SpikeXInputError(path, "layers", str(e)) from None
    net.resolved  # validate shapes now, so errors surface at load time
    return net
