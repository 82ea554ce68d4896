"""Trace a SpikingJelly model into a network graph: modules by their forward hooks,
everything between them (residual adds, SEW AND/IAND, concat, attention matmuls, reshapes)
by a torch function mode, both tied together by tensor identity.

One forward pass on zeros [T, N, *input] (N = 2 or 3, not T, tells [T, N, ...] from [N, T, ...]
and [T*N, ...]) gives
every op in call order. Ops inside a leaf module (a conv's own reshapes, a neuron's
membrane arithmetic) are not traced. BatchNorm, dropout and scaling by constants are
folded (passthrough). A neuron after a layer whose only reader it is becomes that layer's
`fire`; any other neuron is a `neuron` layer. Layer names: the recorder's for modules
(`layer_name(qualified name)`), `<enclosing module>_<op><k>` for the ops between them.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.training.recorder import layer_name

_OPS = {  # torch function name -> graph op
    **dict.fromkeys(("add", "__add__", "__radd__", "__iadd__", "add_"), "add"),
    **dict.fromkeys(("mul", "__mul__", "__rmul__", "__imul__", "mul_", "multiply"), "mul"),
    **dict.fromkeys(("sub", "__sub__", "__rsub__", "__isub__", "sub_", "rsub"), "sub"),
    **dict.fromkeys(("matmul", "__matmul__", "bmm"), "matmul"),
    **dict.fromkeys(("cat", "concat", "concatenate"), "cat"),
    **dict.fromkeys(("sum", "mean"), "sum"),
    **dict.fromkeys(("permute", "transpose", "swapaxes", "t", "movedim"), "permute"),
    **dict.fromkeys(("chunk", "split", "unbind", "__getitem__", "narrow", "select", "tensor_split"), "slice"),
}
GATES = ("MultiDimensionalAttention", "TemporalWiseAttention")
RECORDED_KINDS = (nn.Conv1d, nn.Conv2d, nn.Linear)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d, nn.AvgPool2d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d)


def is_neuron(mod: nn.Module) -> bool:
    """SpikingJelly's neurons, and the compiled LIF `spikex train` builds on the CPU."""
    from spikingjelly.activation_based.neuron import BaseNode

    from spikex_plugin.training.lif import FastLIF
    return isinstance(mod, (BaseNode, FastLIF)) or type(mod).__name__.endswith("Node")


def is_gate(mod: nn.Module) -> bool:
    """SpikingJelly's attention gates: out = x * score(x), scores from statistics of the
    whole sequence (time, channel and spatial axes) through small MLPs."""
    return type(mod).__name__ in GATES


def is_leaf(mod: nn.Module) -> bool:
    return (next(mod.children(), None) is None or is_neuron(mod) or is_gate(mod)
            or isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)))


@dataclass
class Node:
    name: str
    type: str
    inputs: list[str]
    shape: tuple[int, ...]           # per-sample output shape, as traced
    fields: dict = field(default_factory=dict)


class GraphTracer(TorchFunctionMode):
    def __init__(self, model: nn.Module, T: int, names: dict[str, str] | None, batch: int,
                 on_op: Callable[[str, str, list[torch.Tensor]], None] | None = None):
        """`on_op(name, kind, inputs)` sees the input tensors of every op between modules."""
        super().__init__()
        self.T, self.model, self.batch, self.on_op = T, model, batch, on_op
        self.qualified = {}
        for q, m in model.named_modules():
            self.qualified.setdefault(m, q)
        self.names = names or {}
        self.nodes: list[Node] = []
        self.node_of: dict[int, str] = {}   # id(tensor) -> node name
        self.negated: dict[int, str] = {}   # id(1 - x) -> node name of x
        self.time_means: set[int] = set()   # ids of [N, ...] means over T (a head reads them)
        self.spikes: set[int] = set()       # ids of neuron outputs and views of them
        self.before_mean: dict[int, torch.Tensor] = {}  # id(mean over T) -> the tensor averaged
        self.keep: list[torch.Tensor] = []  # keeps traced tensors alive, so ids stay unique
        self.scope: list[str] = []
        self.leaf_depth = 0
        self.calls: Counter = Counter()
        self.op_counts: Counter = Counter()

    def start(self, x: torch.Tensor, inside_root_call: bool = False) -> None:
        """Trace from here on, `x` being the model input (from the model's own forward
        pre-hook: `inside_root_call`, its scope is opened here)."""
        self.hooks = [nn.modules.module.register_module_forward_pre_hook(self.pre_hook),
                      nn.modules.module.register_module_forward_hook(self.post_hook)]
        self.bind(x, "input")
        if inside_root_call:
            self.scope.append(layer_name(self.qualified[self.model]))
        self.__enter__()

    def stop(self) -> None:
        self.__exit__(None, None, None)
        for h in self.hooks:
            h.remove()

    # --- shapes -----------------------------------------------------------------------
    def sample_shape(self, t: torch.Tensor) -> tuple[int, ...] | None:
        s, T, N = tuple(t.shape), self.T, self.batch
        if id(t) in self.time_means:
            return s[1:]
        if len(s) >= 2 and s[:2] in ((T, N), (N, T)):
            return s[2:]
        if s and s[0] == T * N:
            return s[1:]
        return None

    def time_major(self, t: torch.Tensor) -> torch.Tensor:
        """[T, N, *per-sample shape] view of a traced tensor."""
        if tuple(t.shape[:2]) == (self.T, self.batch):
            return t
        if tuple(t.shape[:2]) == (self.batch, self.T):
            return t.transpose(0, 1)
        return t.reshape(self.T, self.batch, *t.shape[1:])

    def bind(self, t: torch.Tensor, name: str) -> None:
        self.node_of[id(t)] = name
        self.keep.append(t)

    def source(self, t) -> str | None:
        return self.node_of.get(id(t)) if isinstance(t, torch.Tensor) else None

    def add_node(self, base: str, kind: str, inputs: list[str], out: torch.Tensor, **fields) -> str:
        self.calls[base] += 1
        name = base if self.calls[base] == 1 else f"{base}_call{self.calls[base]}"
        shape = fields.pop("_shape", None) or self.sample_shape(out)
        if shape is None:
            raise SpikeXInputError(type(self.model).__name__, name, f"cannot read {tuple(out.shape)} as "
                                   f"[T={self.T}, N, ...] (is the model in multi-step mode?)")
        self.nodes.append(Node(name, kind, inputs, shape, fields))
        self.bind(out, name)
        return name

    def op_name(self, op: str) -> str:
        scope = self.scope[-1] if self.scope else ""
        self.op_counts[(scope, op)] += 1
        k = self.op_counts[(scope, op)]
        return f"{scope}_{op}{k}" if scope else f"{op}{k}"

    # --- modules ----------------------------------------------------------------------
    def pre_hook(self, mod, args):
        if self.leaf_depth:
            self.leaf_depth += is_leaf(mod)
            return
        if is_leaf(mod):
            self.leaf_depth = 1
        else:
            self.scope.append(layer_name(self.qualified.get(mod, type(mod).__name__)))

    def post_hook(self, mod, args, out):
        if self.leaf_depth > 1 or (self.leaf_depth == 1 and not is_leaf(mod)):
            self.leaf_depth -= is_leaf(mod)
            return
        if not is_leaf(mod):
            self.scope.pop()
            return
        self.leaf_depth = 0
        x = args[0] if args else None
        src = self.source(x)
        if src is None and isinstance(mod, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            q = self.qualified.get(mod, type(mod).__name__)
            raise SpikeXInputError(type(self.model).__name__, self.names.get(q, layer_name(q)),
                                   "reads a tensor the trace lost (an op over the time or batch dims before it?)")
        if src is None or not isinstance(out, torch.Tensor):
            return  # not on the traced data path (e.g. a side input)
        if id(x) in self.time_means:
            self.mark_time_mean(out)
            if id(x) in self.before_mean and self.on_op is not None and isinstance(mod, RECORDED_KINDS):
                q = self.qualified.get(mod, type(mod).__name__)  # record what the per-step layer reads
                self.on_op(self.names.get(q, layer_name(q)), "time_mean", [self.before_mean[id(x)]])
            elif id(x) in self.before_mean and self.sample_shape(out) == self.sample_shape(x):
                self.before_mean[id(out)] = self.before_mean[id(x)]  # dropout and the like
        self.module_node(mod, src, x, out)

    def mark_time_mean(self, t: torch.Tensor) -> None:
        """`t` is [N, ...] without a time axis: a mean over T, or computed from one. A layer
        reading it is linear in it, so it runs per step and the mean moves to its output."""
        self.time_means.add(id(t))
        self.keep.append(t)

    def module_node(self, mod: nn.Module, src: str, x: torch.Tensor, out: torch.Tensor) -> None:
        q = self.qualified.get(mod, type(mod).__name__)
        name = self.names.get(q, layer_name(q))
        in_shape = self.sample_shape(x)
        if isinstance(mod, (nn.Conv1d, nn.Conv2d)):
            if isinstance(mod.padding, str):
                pad = [(k - 1) * d // 2 for k, d in zip(mod.kernel_size, mod.dilation)] if mod.padding == "same" else 0
            else:
                pad = list(mod.padding)
            extras = {"dilation": _ints(mod.dilation), "groups": mod.groups}
            self.add_node(name, "conv", [src], out, out_channels=mod.out_channels, kernel=_ints(mod.kernel_size),
                          stride=_ints(mod.stride), padding=_ints(pad),
                          **{k: v for k, v in extras.items() if v != 1})
        elif isinstance(mod, nn.Linear):
            per_position = in_shape is not None and len(in_shape) > 1
            self.add_node(name, "fc", [src], out, out_features=mod.out_features,
                          **({"per_position": True} if per_position else {}))
        elif isinstance(mod, _POOLS):
            avg = "Avg" in type(mod).__name__
            extras = {"padding": _ints(mod.padding), "ceil_mode": bool(mod.ceil_mode), "mode": "avg" if avg else "max",
                      "dilation": 1 if avg else _ints(mod.dilation)}
            defaults = {"padding": 0, "ceil_mode": False, "mode": "max", "dilation": 1}
            self.add_node(name, "pool", [src], out, kernel=_ints(mod.kernel_size),
                          stride=_ints(mod.stride or mod.kernel_size),
                          **{k: v for k, v in extras.items() if v != defaults[k]})
        elif isinstance(mod, _ADAPTIVE):
            shape = self.sample_shape(out)
            self.add_node(name, "adaptive_pool", [src], out, output=_ints(shape[1:]),
                          mode="avg" if "Avg" in type(mod).__name__ else "max")
        elif is_neuron(mod) or is_gate(mod):
            kind = "neuron" if is_neuron(mod) else "gate"
            name = self.add_node(name, kind, [src], out)
            if kind == "neuron":
                self.spikes.add(id(out))
            if self.on_op is not None:
                self.on_op(name, kind, [x])
        elif isinstance(mod, nn.Flatten):
            self.layout(src, x, out, name)
        elif self.sample_shape(out) == in_shape:
            self.bind(out, src)  # BatchNorm, dropout, scaling: folded
        elif any(True for _ in mod.parameters()):
            raise SpikeXInputError(type(self.model).__name__, name,
                                   f"module {type(mod).__name__} has weights the network format cannot express")
        else:
            self.layout(src, x, out, name)

    # --- functions between modules --------------------------------------------------------
    def __torch_function__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if self.leaf_depth:
            return out
        op = _OPS.get(getattr(func, "__name__", ""), "")
        flat = _tensors(args) + _tensors(list((kwargs or {}).values()))
        traced = [(t, self.source(t)) for t in flat if self.source(t) is not None]
        if not traced:
            return out
        self.function_node(op, getattr(func, "__name__", str(func)), args, kwargs or {}, traced, out)
        if id(traced[0][0]) in self.spikes and op in ("", "permute", "slice") and len(traced) == 1:
            self.spikes.update(id(o) for o in _tensors(out if isinstance(out, (tuple, list)) else [out]))
        return out

    def function_node(self, op: str, fname: str, args, kwargs: dict, traced, out) -> None:
        outs = _tensors(out if isinstance(out, (tuple, list)) else [out])
        if not outs:
            return
        x, src = traced[0]
        if id(x) in self.time_means:
            for o in outs:
                if o.dim() and o.shape[0] == self.batch:
                    self.mark_time_mean(o)
        negated = [self.negated[id(t)] for t in _tensors(args) if id(t) in self.negated]
        if op == "sub" and len(traced) == 1 and (fname in ("__rsub__", "rsub") or args[0] is not x):
            self.negated[id(out)] = src  # 1 - x: half of SEW's IAND
            self.keep.append(out)
            return
        if op == "mul" and negated and len(traced) == 1:
            self.named_op("iand", [src, negated[0]], out, "iand", [x])
            return
        if op in ("add", "mul", "sub") and len({s for _, s in traced}) >= 2 or op == "matmul" or op == "cat":
            kind = {"add": "add", "mul": "and", "sub": "add", "matmul": "matmul", "cat": "concat"}[op]
            fields = {}
            if op == "cat":
                dim = _dim_arg(args, kwargs, 1, 0)
                fields["axis"] = self.sample_axis(traced[0][0], dim)
            self.named_op(kind, [s for _, s in traced], out, op, [t for t, _ in traced], **fields)
            return
        if op == "sum":
            dim = _dim_arg(args, kwargs, 1, None)
            dims = dim if isinstance(dim, (tuple, list)) else [dim]
            lead = tuple(x.shape[:2])
            time_dim = [] if id(x) in self.time_means else [0] if lead == (self.T, self.batch) else \
                [1] if lead == (self.batch, self.T) else []
            if dim is not None and [d % x.dim() for d in dims] == time_dim and not kwargs.get("keepdim"):
                self.mark_time_mean(out)  # a mean over T before a head: the head runs per step
                self.before_mean[id(out)] = x
                self.bind(out, src)
                return
            if dim is None or any(self.sample_axis(x, d) < 0 for d in dims):
                return  # a reduction over time or batch: the read-out, not traced further
            if len(dims) > 1:
                raise SpikeXInputError(type(self.model).__name__, self.op_name("sum"), "a sum over several dims")
            axis = self.sample_axis(x, dim if not isinstance(dim, (tuple, list)) else dim[0])
            kept = list(self.sample_shape(x))
            kept[axis] = 1
            name = self.named_op("sum", [src], out, "sum", [x], axis=axis, _shape=tuple(kept))
            if self.sample_shape(out) != tuple(kept):  # keepdim=False: drop the summed dim
                self.add_node(self.op_name("reshape"), "reshape", [name], out, shape=list(self.sample_shape(out)))
            return
        for o in outs:
            shape = self.sample_shape(o)
            if shape == self.sample_shape(x) and op != "permute":
                self.bind(o, src)  # folded: constants, element-wise unary ops, T/N-only reshapes
            else:
                self.layout(src, x, o, self.op_name(op or "reshape"), fname, args)

    def sample_axis(self, t: torch.Tensor, dim: int) -> int:
        lead = t.dim() - len(self.sample_shape(t))
        return (dim % t.dim()) - lead

    def named_op(self, kind: str, inputs: list[str], out, op: str, tensors: list[torch.Tensor], **fields) -> str:
        name = self.add_node(self.op_name(op), kind, inputs, out, **fields)
        if self.on_op is not None:
            self.on_op(name, kind, tensors)
        return name

    def layout(self, src: str, x: torch.Tensor, out: torch.Tensor, name: str, fname: str = "", args=()) -> None:
        """A reshape, permute or slice between traced layers (per-sample shapes)."""
        a, b = self.sample_shape(x), self.sample_shape(out)
        if b is None or a is None:
            raise SpikeXInputError(type(self.model).__name__, name, f"{fname or 'an op'} mixes the time or batch "
                                   f"dims into {tuple(out.shape)}")
        if b == a and _OPS.get(fname) != "permute":
            self.bind(out, src)
        elif _OPS.get(fname) == "permute":
            self.add_node(name, "permute", [src], out, dims=self.sample_permutation(x, fname, args, name))
        elif math.prod(b) == math.prod(a):
            self.add_node(name, "reshape", [src], out, shape=list(b))
        elif math.prod(b) < math.prod(a):
            self.add_node(name, "slice", [src], out, shape=list(b))
        else:
            raise SpikeXInputError(type(self.model).__name__, name, f"{fname} grows {list(a)} into {list(b)}")

    def sample_permutation(self, x: torch.Tensor, fname: str, args, name: str) -> list[int]:
        n = x.dim()
        perm = list(range(n))
        if fname == "permute":
            perm = [d % n for d in (args[1] if isinstance(args[1], (tuple, list)) else args[1:])]
        elif fname in ("transpose", "swapaxes"):
            i, j = args[1] % n, args[2] % n
            perm[i], perm[j] = perm[j], perm[i]
        elif fname == "t":
            perm[-1], perm[-2] = perm[-2], perm[-1]
        else:
            raise SpikeXInputError(type(self.model).__name__, name, f"{fname} is not traced")
        lead = n - len(self.sample_shape(x))
        if perm[:lead] != list(range(lead)):
            raise SpikeXInputError(type(self.model).__name__, name, "a permute moves the time or batch dims")
        return [p - lead for p in perm[lead:]]


def _tensors(xs) -> list[torch.Tensor]:
    out = []
    for x in xs:
        if isinstance(x, torch.Tensor):
            out.append(x)
        elif isinstance(x, (tuple, list)):
            out.extend(_tensors(x))
    return out


def _dim_arg(args, kwargs, index: int, default):
    if "dim" in kwargs:
        return kwargs["dim"]
    return args[index] if len(args) > index and not isinstance(args[index], torch.Tensor) else default


def _ints(v) -> int | list[int]:
    """A size as the YAML writes it: one int when every axis has the same."""
    if isinstance(v, int):
        return v
    values = [int(i) for i in v]
    return values[0] if len(set(values)) == 1 else values


def trace_graph(model: nn.Module, input_shape: tuple[int, ...], T: int,
                names: dict[str, str] | None = None) -> list[Node]:
    """Every traced op of one forward pass (eval mode, no grad), in call order."""
    from spikingjelly.activation_based import functional

    tracer = GraphTracer(model, T, names, batch=3 if T != 3 else 2)  # N != T tells the two apart
    was_training = model.training
    p = next(model.parameters(), None)
    x = torch.zeros(T, tracer.batch, *input_shape, device=p.device if p is not None else "cpu")
    model.eval()
    tracer.start(x)
    try:
        with torch.no_grad():
            model(x)
    except SpikeXInputError:
        raise
    except (RuntimeError, ValueError, TypeError, AssertionError) as e:
        raise SpikeXInputError(type(model).__name__, "forward", f"the model does not run on a multi-step input "
                               f"[T={T}, N, {', '.join(map(str, input_shape))}]: {e}") from None
    finally:
        tracer.stop()
        functional.reset_net(model)
        model.train(was_training)
    return tracer.nodes
