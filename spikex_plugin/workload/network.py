"""Spiking network descriptions: a graph of layers with a time dimension T.

A network YAML lists layers; each names its input(s) (default: the layer above, or the
network `input` for the first), so a plain chain needs no names and branches name them:

    name: my-net
    T: 4
    input: {channels: 2, height: 64, width: 64}
    layers:
      - {name: conv1, type: conv, out_channels: 16, kernel: 3, padding: 1}
      - {name: conv2, type: conv, out_channels: 16, kernel: 3, padding: 1}
      - {name: res1, type: add, inputs: [conv1, conv2]}
      - {name: pool1, type: pool, kernel: 2}
      - {name: fc1, type: fc, out_features: 11}

Shapes are per sample and per time step, inferred with PyTorch's rules (floor division,
ceil_mode, padding, dilation, non-square kernels/strides). `docs/network-graph.md` lists
every kind, how it is priced, and what is refused.
"""

from __future__ import annotations

import math
from functools import cached_property
from graphlib import CycleError, TopologicalSorter
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from spikex_plugin.errors import SpikeXInputError, from_validation_error
from spikex_plugin.util import load_yaml_file

LayerType = Literal["conv", "fc", "pool", "adaptive_pool", "matmul", "add", "and", "iand", "concat",
                    "sum", "neuron", "gate", "flatten", "reshape", "permute", "slice"]
WEIGHTED = ("conv", "fc", "matmul")
JOINS = ("add", "and", "iand")
LAYOUT = ("flatten", "reshape", "permute", "slice")  # no data moves: not priced, not listed in `resolved`
ACC_BITS = 16  # bits of a membrane current that feeds a join without a neuron in between
INPUT = "input"
Pair = PositiveInt | tuple[PositiveInt, PositiveInt]


def pair(v: int | tuple[int, int] | None, default: int = 1) -> tuple[int, int]:
    if v is None:
        return default, default
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


class InputShape(BaseModel):
    model_config = ConfigDict(extra="forbid")
    channels: PositiveInt
    height: PositiveInt = 1
    width: PositiveInt = 1
    shape: list[PositiveInt] | None = Field(None, description="any per-sample shape (overrides the three above)")
    bits: PositiveInt = Field(1, description="bits per value: 1 = spikes, more = real-valued frames")

    @property
    def dims(self) -> tuple[int, ...]:
        return tuple(self.shape) if self.shape else (self.channels, self.height, self.width)


class LayerSpec(BaseModel):
    """One layer as written in the YAML (shapes inferred)."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1)
    type: LayerType
    inputs: list[str] | None = Field(None, min_length=1)
    out_channels: PositiveInt | None = None
    out_features: PositiveInt | None = None
    kernel: Pair = 1
    stride: Pair | None = None
    padding: int | tuple[int, int] = 0
    dilation: Pair = 1
    groups: PositiveInt = 1
    ceil_mode: bool = False
    mode: Literal["max", "avg"] = "max"
    output: Pair | None = None               # adaptive_pool output size
    per_position: bool = False               # fc on the last dim of each position ([N, D] tokens)
    fire: bool | None = None                 # a spiking neuron follows (output is 1-bit spikes)
    start: int = 0                           # flatten: first per-sample dim folded
    shape: list[int] | None = None           # reshape target (one -1 allowed); slice: the part kept
    dims: list[int] | None = None            # permute order
    axis: int = 0                            # concat / sum axis

    @model_validator(mode="after")
    def _type_fields(self) -> "LayerSpec":
        if self.name == INPUT:
            raise ValueError(f"'{INPUT}' names the network input; pick another layer name")
        if self.type == "conv" and self.out_channels is None:
            raise ValueError("conv layer needs out_channels")
        if self.type == "fc" and self.out_features is None:
            raise ValueError("fc layer needs out_features")
        if self.type == "adaptive_pool" and self.output is None:
            raise ValueError("adaptive_pool layer needs output")
        if self.type in ("reshape", "slice") and self.shape is None:
            raise ValueError(f"{self.type} layer needs shape")
        if self.type == "permute" and self.dims is None:
            raise ValueError("permute layer needs dims")
        if min(pair(self.padding, 0)) < 0:
            raise ValueError("padding must be >= 0")
        return self


class Layer(BaseModel):
    """A layer with every dimension resolved. Conv/FC/pool share one iteration space:
    Sout[t, m, p, q] += Sin[t, c, stride*p + r, stride*q + s] * Wt[m, c, r, s]
    (FC: P = Q = R = S = 1; pool: no weights, M = C, each output ORs its own channel).
    H and W include padding, so they are the extent of the input tensor as stored.

    Graph kinds keep these fields meaningful: a grouped conv has `groups` independent
    convs of C/groups -> M/groups channels; a matmul A[n, k] @ B[k, m] (per batch of
    `groups`) is a 1x1 conv with C = k, M = m, Q = n and B as the weights; element-wise
    kinds have C = M = first dim, P*Q = H*W = the rest. `in_bits` > 1: the input is not
    spikes (real-valued frames, SEW ADD integers)."""

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
    groups: PositiveInt = 1
    in_bits: PositiveInt = 1
    out_bits: PositiveInt = 1
    weight_bits: PositiveInt | None = None   # matmul: bits of the operand streamed as weights
    inputs: tuple[str, ...] = ()
    in_shape: tuple[int, ...] | None = None  # per-step shape read, when not (C, H-2p, W-2p)
    in_elements: int | None = None           # element-wise kinds: values read over all inputs
    refused: str | None = None               # why SpikeX cannot run this layer (priced nothing)

    @property
    def has_weights(self) -> bool:
        return self.type in WEIGHTED

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-time-step shape of the spikes the layer reads (unpadded), as recorded."""
        if self.in_shape is not None:
            return self.in_shape
        if self.type == "fc":
            return (self.C,)
        return (self.C, self.H - 2 * self.padding, self.W - 2 * self.padding)

    @property
    def input_lines(self) -> int:
        """Number of 1-bit input lines (unpadded neurons) per time step."""
        return math.prod(self.input_shape)

    @property
    def lines_per_channel(self) -> int:
        """Input lines per channel (SP-MB) of the work: an fc's lines are its channels (the
        copies of a folded upsampling are one line); a per-position fc or a matmul has its
        channels last, so count by C, not by the first dim of what it reads."""
        if self.type == "fc":
            return 1
        return max(1, self.input_lines // (self.C if self.has_weights else self.input_shape[0]))

    @property
    def weights(self) -> int:
        return self.M * (self.C // self.groups) * self.R * self.S if self.has_weights else 0

    @property
    def dense_synops(self) -> int:
        """Accumulations if every input spiked at every step (reduction over c, r, s)."""
        if not self.has_weights:
            return 0
        return self.T * self.M * self.P * self.Q * (self.C // self.groups) * self.R * self.S

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
    def graph(self) -> dict[str, "Tensor"]:
        """Every layer's output tensor (shape, bits), in dataflow order, plus `input`."""
        return resolve_graph(self)[1]

    @cached_property
    def resolved(self) -> list[Layer]:
        """The priced layers in dataflow order (layout-only kinds left out)."""
        return resolve_graph(self)[0]

    def layer(self, name: str) -> Layer:
        for layer in self.resolved:
            if layer.name == name:
                return layer
        raise KeyError(name)

    @property
    def weighted_layers(self) -> list[Layer]:
        return [l for l in self.resolved if l.has_weights]


class Tensor(BaseModel):
    shape: tuple[int, ...]
    bits: int = 1
    replicated: int = 1  # each value held this many times (an upsampling adaptive pool)
    max_count: int | None = None  # largest value of an integer count (spikes: 1; SEW ADD sums)

    @property
    def count_max(self) -> int:
        return self.max_count if self.max_count is not None else 2 ** self.bits - 1


def _inputs_of(net: Network) -> dict[str, list[str]]:
    out, prev = {}, INPUT
    for spec in net.layers:
        out[spec.name] = list(spec.inputs) if spec.inputs else [prev]
        prev = spec.name
    return out


def dataflow_order(net: Network) -> list[int]:
    """Layer indices in an order where every input comes first (file order where possible).
    Dangling inputs and cycles are refused naming the layer's `inputs` field."""
    inputs = _inputs_of(net)
    index = {s.name: i for i, s in enumerate(net.layers)}
    for i, spec in enumerate(net.layers):
        for src in inputs[spec.name]:
            if src != INPUT and src not in index:
                raise SpikeXInputError(net.source, f"layers.{i}.inputs",
                                       f"layer '{spec.name}' reads '{src}', which is no layer of the network")
    sorter = TopologicalSorter({s.name: [x for x in inputs[s.name] if x != INPUT] for s in net.layers})
    try:
        sorter.prepare()
    except CycleError as e:
        cycle = e.args[1]
        raise SpikeXInputError(net.source, f"layers.{index[cycle[0]]}.inputs",
                               f"the layers {' -> '.join(cycle)} form a cycle") from None
    order = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready(), key=index.__getitem__)
        order.extend(index[n] for n in ready)
        sorter.done(*ready)
    return order


def resolve_graph(net: Network) -> tuple[list[Layer], dict[str, Tensor]]:
    tensors = {INPUT: Tensor(shape=net.input.dims, bits=net.input.bits)}
    inputs = _inputs_of(net)
    layers: list[Layer] = []
    for i in dataflow_order(net):
        spec = net.layers[i]
        ins = [tensors[n] for n in inputs[spec.name]]
        where = f"layers.{i}"
        try:
            layer, out = _resolve_layer(spec, ins, net.T)
        except ShapeError as e:
            raise SpikeXInputError(net.source, f"{where}.{e.field}", f"layer '{spec.name}': {e}") from None
        tensors[spec.name] = out
        if layer is not None:
            layers.append(layer.model_copy(update={"inputs": tuple(inputs[spec.name])}))
    return layers, tensors


class ShapeError(ValueError):
    def __init__(self, field: str, message: str):
        self.field = field
        super().__init__(message)


def conv_out(n: int, k: int, stride: int, pad: int, dilation: int = 1, ceil_mode: bool = False) -> int:
    """PyTorch's output length of a conv / pool axis (ceil_mode: a last window may start
    in the padding-free part only)."""
    span = n + 2 * pad - dilation * (k - 1) - 1
    if span < 0:
        raise ShapeError("kernel", f"kernel {k} (dilation {dilation}) is larger than the padded input {n + 2 * pad}")
    out = (span + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= n + pad:
        out -= 1
    return out


def _one_input(spec: LayerSpec, ins: list[Tensor]) -> Tensor:
    if len(ins) != 1:
        raise ShapeError("inputs", f"a {spec.type} layer reads one input, not {len(ins)}")
    return ins[0]


def _spatial(x: Tensor, spec: LayerSpec) -> tuple[int, int, int]:
    """(C, H, W) of a [C, H, W] or [C, L] (1-D: H = 1) input."""
    if len(x.shape) == 3:
        return x.shape
    if len(x.shape) == 2:
        return x.shape[0], 1, x.shape[1]
    raise ShapeError("inputs", f"a {spec.type} layer reads [C, H, W] or [C, L], not {list(x.shape)}")


def _axis_params(spec: LayerSpec, one_d: bool) -> tuple:
    k, s, d = pair(spec.kernel), pair(spec.stride, 0), pair(spec.dilation)
    p = pair(spec.padding, 0)
    if one_d:  # a 1-D layer's single values act along L (W); H stays 1
        k, s, d, p = (1, k[0]), (1, s[0]), (1, d[0]), (0, p[0])
    return k, s, d, p


def _resolve_layer(spec: LayerSpec, ins: list[Tensor], T: int) -> tuple[Layer | None, Tensor]:
    kind = spec.type
    if kind in ("conv", "pool"):
        return _resolve_window(spec, _one_input(spec, ins), T)
    if kind == "adaptive_pool":
        return _resolve_adaptive(spec, _one_input(spec, ins), T)
    if kind == "fc":
        return _resolve_fc(spec, _one_input(spec, ins), T)
    if kind == "matmul":
        return _resolve_matmul(spec, ins, T)
    if kind in JOINS or kind == "concat":
        return _resolve_join(spec, ins, T)
    x = _one_input(spec, ins)
    if kind == "sum":
        return _resolve_sum(spec, x, T)
    if kind == "gate":  # x * score(x): attention scores from the whole sequence of x
        bits = _out_bits(spec, ACC_BITS)
        return _elementwise_layer(spec, x.shape, x.bits, bits, T, math.prod(x.shape), x.shape), \
            Tensor(shape=x.shape, bits=bits)
    if kind == "neuron":
        return _elementwise_layer(spec, x.shape, x.bits, 1, T, math.prod(x.shape), x.shape), Tensor(shape=x.shape)
    shape = _layout_shape(spec, x.shape)
    return None, Tensor(shape=shape, bits=x.bits, replicated=x.replicated if spec.type != "slice" else 1,
                        max_count=x.max_count)


def count_bits(bits: int, n: int) -> int:
    """Bits of a sum (or mean) of n values of `bits` bits; membrane currents stay currents."""
    return min(ACC_BITS, bits + math.ceil(math.log2(n))) if bits < ACC_BITS else bits


def _out_bits(spec: LayerSpec, natural: int) -> int:
    return 1 if spec.fire else natural


def _resolve_window(spec: LayerSpec, x: Tensor, T: int) -> tuple[Layer, Tensor]:
    one_d = len(x.shape) == 2
    c, h, w = _spatial(x, spec)
    (kh, kw), (sh, sw), (dh, dw), (ph, pw) = _axis_params(spec, one_d)
    if kind_is_pool := spec.type == "pool":
        sh, sw = sh or kh, sw or kw
    else:
        sh, sw = sh or 1, sw or 1
    ceil = spec.ceil_mode and kind_is_pool
    p, q = conv_out(h, kh, sh, ph, dh, ceil), conv_out(w, kw, sw, pw, dw, ceil)
    if kind_is_pool:
        m, bits = c, x.bits if spec.mode == "max" else count_bits(x.bits, kh * kw)
        bits = _out_bits(spec, bits)
    else:
        m = spec.out_channels
        if c % spec.groups or m % spec.groups:
            raise ShapeError("groups", f"{spec.groups} groups do not divide {c} input and {m} output channels")
        bits = 1 if spec.fire is not False else ACC_BITS
    refused = None
    if (dh, dw) != (1, 1):
        refused = "dilated windows: the SpikeX L1 tile holds contiguous input rows only"
    elif (sh, ph) != (sw, pw) and not one_d and not kind_is_pool:  # pooling prices extents only
        refused = f"stride {sh}x{sw} / padding {ph}x{pw}: the SpikeX template takes one stride and padding for both axes"
    elif one_d and pw and not kind_is_pool:
        refused = f"a 1-D conv with padding {pw}: the SpikeX template pads both axes alike"
    layer = Layer(name=spec.name, type=spec.type, T=T, C=c, M=m, H=h + 2 * ph, W=w + 2 * pw, R=kh, S=kw,
                  P=p, Q=q, stride=sw, padding=pw, groups=spec.groups, in_bits=x.bits, out_bits=bits,
                  in_shape=x.shape, refused=refused)
    return layer, Tensor(shape=(m, q) if one_d else (m, p, q), bits=bits)


def _resolve_adaptive(spec: LayerSpec, x: Tensor, T: int) -> tuple[Layer, Tensor]:
    """Adaptive pooling with even windows (input a multiple of the output) is a pool with
    kernel = stride = input/output; other sizes are resampled (priced as traffic)."""
    one_d = len(x.shape) == 2
    c, h, w = _spatial(x, spec)
    oh, ow = (1, pair(spec.output)[0]) if one_d else pair(spec.output)
    bits = _out_bits(spec, x.bits if spec.mode == "max" else count_bits(x.bits, max(1, h * w // (oh * ow))))
    upsampled = oh % h == 0 and ow % w == 0 and oh * ow > h * w  # each input copied to whole windows
    out = Tensor(shape=(c, ow) if one_d else (c, oh, ow), bits=x.bits if upsampled else bits,
                 replicated=oh * ow // (h * w) if upsampled else 1)
    if h % oh == 0 and w % ow == 0:
        kh, kw = h // oh, w // ow
        layer = Layer(name=spec.name, type="pool", T=T, C=c, M=c, H=h, W=w, R=kh, S=kw, P=oh, Q=ow,
                      stride=kw, in_bits=x.bits, out_bits=bits, in_shape=x.shape)
    else:
        layer = Layer(name=spec.name, type="adaptive_pool", T=T, C=c, M=c, H=h, W=w, R=1, S=1, P=oh, Q=ow,
                      in_bits=x.bits, out_bits=bits, in_shape=x.shape, in_elements=c * h * w)
    return layer, out


def _resolve_fc(spec: LayerSpec, x: Tensor, T: int) -> tuple[Layer, Tensor]:
    bits = 1 if spec.fire is not False else ACC_BITS
    if spec.per_position:  # Linear on the last dim: a 1x1 conv over the leading positions
        positions = math.prod(x.shape[:-1])
        layer = Layer(name=spec.name, type="conv", T=T, C=x.shape[-1], M=spec.out_features, H=1, W=positions,
                      R=1, S=1, P=1, Q=positions, in_bits=x.bits, out_bits=bits, in_shape=x.shape)
        return layer, Tensor(shape=(*x.shape[:-1], spec.out_features), bits=bits)
    n = math.prod(x.shape)  # a chain's fc flattens what it reads
    # An fc after an upsampling adaptive pool sums the copies of one input: its weights fold
    # (like BatchNorm) into one per distinct input.
    layer = Layer(name=spec.name, type="fc", T=T, C=n // x.replicated, M=spec.out_features, H=1, W=1, R=1, S=1,
                  P=1, Q=1, in_bits=x.bits, out_bits=bits, in_shape=(n,))
    return layer, Tensor(shape=(spec.out_features,), bits=bits)


def _resolve_matmul(spec: LayerSpec, ins: list[Tensor], T: int) -> tuple[Layer, Tensor]:
    """A[..., n, k] @ B[..., k, m]: the binary operand drives the work (the input), the other
    is streamed as weights; if only B is binary, (B^T A^T)^T swaps them."""
    if len(ins) != 2:
        raise ShapeError("inputs", f"a matmul reads two inputs, not {len(ins)}")
    a, b = ins
    if len(a.shape) < 2 or len(b.shape) < 2 or a.shape[:-2] != b.shape[:-2] or a.shape[-1] != b.shape[-2]:
        raise ShapeError("inputs", f"cannot multiply {list(a.shape)} by {list(b.shape)} "
                                   "(need [..., n, k] @ [..., k, m] with equal leading dims)")
    batch, (n, k), m = math.prod(a.shape[:-2]), a.shape[-2:], b.shape[-1]
    bits = 1 if spec.fire else math.ceil(math.log2(k + 1)) + (a.bits - 1) + (b.bits - 1)
    spikes, weights, rows, cols = (a, b, n, m) if a.bits == 1 or b.bits > 1 else (b, a, m, n)
    layer = Layer(name=spec.name, type="matmul", T=T, C=k * batch, M=cols * batch, H=1, W=rows, R=1, S=1,
                  P=1, Q=rows, groups=batch, in_bits=spikes.bits, out_bits=bits, weight_bits=weights.bits,
                  in_shape=spikes.shape)
    return layer, Tensor(shape=(*a.shape[:-2], n, m), bits=bits)


def broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...] | None:
    rank = max(len(s) for s in shapes)
    out = []
    for dims in zip(*[(1,) * (rank - len(s)) + s for s in shapes]):
        sizes = {d for d in dims if d != 1}
        if len(sizes) > 1:
            return None
        out.append(sizes.pop() if sizes else 1)
    return tuple(out)


def _elementwise_layer(spec: LayerSpec, shape: tuple[int, ...], in_bits: int, out_bits: int, T: int,
                       in_elements: int, in_shape: tuple[int, ...]) -> Layer:
    c = shape[0] if shape else 1
    rest = math.prod(shape[1:]) if len(shape) > 1 else 1
    return Layer(name=spec.name, type=spec.type, T=T, C=c, M=c, H=1, W=rest, R=1, S=1, P=1, Q=rest,
                 in_bits=in_bits, out_bits=out_bits, in_shape=in_shape, in_elements=in_elements)


def _resolve_join(spec: LayerSpec, ins: list[Tensor], T: int) -> tuple[Layer, Tensor]:
    if len(ins) < 2 or (spec.type in ("and", "iand") and len(ins) != 2):
        raise ShapeError("inputs", f"a {spec.type} layer joins {'two' if spec.type != 'add' else 'two or more'} "
                                   f"inputs, not {len(ins)}")
    shapes = [x.shape for x in ins]
    if spec.type == "concat":
        axis = _axis(spec, shapes[0])
        rest = {s[:axis] + s[axis + 1:] for s in shapes}
        if len({len(s) for s in shapes}) > 1 or len(rest) > 1:
            raise ShapeError("inputs", f"cannot concatenate {[list(s) for s in shapes]} along axis {spec.axis}")
        out = shapes[0][:axis] + (sum(s[axis] for s in shapes),) + shapes[0][axis + 1:]
        bits = max(x.bits for x in ins)
    else:
        out = broadcast(shapes)
        if out is None:
            raise ShapeError("inputs", f"input shapes {[list(s) for s in shapes]} do not match")
        count = None
        if spec.type == "add":  # an integer count up to the sum of the inputs' largest values
            real = any(x.bits >= ACC_BITS for x in ins)  # membrane currents, not counts
            count = None if spec.fire or real else sum(x.count_max for x in ins)
            bits = 1 if spec.fire else ACC_BITS if real else math.ceil(math.log2(count + 1))
        else:
            bits = 1
    elements = sum(math.prod(s) for s in shapes)
    layer = _elementwise_layer(spec, out, max(x.bits for x in ins), bits, T, elements, shapes[0])
    return layer, Tensor(shape=out, bits=bits, max_count=count if spec.type == "add" else None)


def _axis(spec: LayerSpec, shape: tuple[int, ...]) -> int:
    if not -len(shape) <= spec.axis < len(shape):
        raise ShapeError("axis", f"axis {spec.axis} is outside the {len(shape)} dims of {list(shape)}")
    return spec.axis % len(shape)


def _resolve_sum(spec: LayerSpec, x: Tensor, T: int) -> tuple[Layer, Tensor]:
    axis = _axis(spec, x.shape)
    out = x.shape[:axis] + (1,) + x.shape[axis + 1:]
    bits = _out_bits(spec, count_bits(x.bits, x.shape[axis]))
    return _elementwise_layer(spec, out, x.bits, bits, T, math.prod(x.shape), x.shape), Tensor(shape=out, bits=bits)


def _layout_shape(spec: LayerSpec, shape: tuple[int, ...]) -> tuple[int, ...]:
    if spec.type == "flatten":
        if not -len(shape) <= spec.start < len(shape):
            raise ShapeError("start", f"dim {spec.start} is outside the {len(shape)} dims of {list(shape)}")
        start = spec.start % len(shape)
        return shape[:start] + (math.prod(shape[start:]),)
    if spec.type == "permute":
        if sorted(spec.dims) != list(range(len(shape))):
            raise ShapeError("dims", f"{spec.dims} is no order of the {len(shape)} dims of {list(shape)}")
        return tuple(shape[d] for d in spec.dims)
    if spec.type == "slice":  # a part of the input (chunk, split, indexing): addressing only
        if math.prod(spec.shape) > math.prod(shape) or min(spec.shape) < 1:
            raise ShapeError("shape", f"{spec.shape} is no part of {list(shape)}")
        return tuple(spec.shape)
    target, n = list(spec.shape), math.prod(shape)
    if target.count(-1) == 1:
        known = -math.prod(target)
        if known <= 0 or n % known:
            raise ShapeError("shape", f"cannot reshape {list(shape)} into {spec.shape}")
        target[target.index(-1)] = n // known
    if math.prod(target) != n or min(target) < 1:
        raise ShapeError("shape", f"cannot reshape {list(shape)} ({n} values) into {spec.shape}")
    return tuple(target)


BUNDLED = ("dvsg-medium", "dvsg-large", "nmnist", "vgg-cifar10",
           "sew-resnet18-cifar10", "spiking-vgg11-cifar10", "spikformer-cifar10")


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
    return network_from_dict(data, str(path))


def network_from_dict(data: dict, source: str = "<memory>") -> Network:
    """Validate a network mapping and resolve its shapes (errors name `source` and the field)."""
    if "source" in data:  # set by the loader: where the network came from
        raise SpikeXInputError(source, "source", "unknown field (a typo?)")
    try:
        net = Network.model_validate({**data, "source": source})
    except ValidationError as e:
        raise from_validation_error(source, e, data) from None
    except ValueError as e:
        raise SpikeXInputError(source, "layers", str(e)) from None
    net.resolved  # validate shapes now, so errors surface at load time
    return net
