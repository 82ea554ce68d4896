"""Hardware-aware loss L = L_acc + beta * L_hw (SpikeX co-optimization, stage 2).

L_hw = sum_l c_l(occ_l) / E_ref, where occ_l is the time-window occupancy (window w,
default 4, sliding over every start as in the firing-statistics file) of the spikes layer l
READS, for every recorded layer after the first (the first reads fixed input data); c_l is
layer l's EDP as a function of occupancy (piecewise linear, fitted from the SpikeX cost
model) and E_ref the network's EDP at beta = 0, so beta is dimensionless.

Occupancy estimator (straight-through). Forward: the exact value, the fraction of
(line, window) pairs whose max over the window is 1. Backward: the gradient of the
window MEAN, i.e. every spike gets d occ / d s[t] = (#windows covering t) / (w * windows *
lines) > 0. Why not the exact max or the product form 1 - prod(1 - s)? Their derivative
w.r.t. a spike is prod_{j != i}(1 - s_j): zero for every spike that shares its window with
another, so only lone spikes are penalised and the cheapest way down the loss is to move
spikes into windows that already fire, which can raise the spike count (observed: density
went up). The mean never vanishes, so the estimator always pushes every spike count down
(an upper bound argument: occupancy <= w * rate), and it is exact in the forward pass.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from spikex_plugin.training.recorder import as_time_major, recorded_modules


class _WindowOccupancy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, s: torch.Tensor, w: int) -> torch.Tensor:
        T = s.shape[0]
        w = min(w, T)
        windows = s.unfold(0, w, 1).amax(dim=-1)          # [T - w + 1, N, ...]
        ctx.w, ctx.shape, ctx.dtype = w, s.shape, s.dtype
        return ((windows != 0).sum() / windows.numel()).to(s.dtype)  # counted exactly, then cast

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        T, w = ctx.shape[0], ctx.w
        t = torch.arange(T, device=grad.device)
        cover = (t.clamp(max=T - w) - (t - w + 1).clamp(min=0) + 1).to(ctx.dtype)  # windows holding t
        n = (T - w + 1) * w * (torch.Size(ctx.shape[1:]).numel())
        g = (grad * cover / n).reshape(T, *([1] * (len(ctx.shape) - 1))).expand(ctx.shape)
        return g, None


def window_occupancy(spikes: torch.Tensor, w: int = 4) -> torch.Tensor:
    """Exact sliding-window occupancy of [T, N, ...] spikes; straight-through mean gradient."""
    return _WindowOccupancy.apply(spikes, int(w))


class PiecewiseLinear(nn.Module):
    """y(u) through the points (knots, values), linear beyond the ends; differentiable in u
    (the slope of the segment u falls in)."""

    def __init__(self, knots: Sequence[float], values: Sequence[float]):
        super().__init__()
        x = torch.as_tensor(np.asarray(knots, dtype=np.float64), dtype=torch.float32)
        y = torch.as_tensor(np.asarray(values, dtype=np.float64), dtype=torch.float32)
        if x.dim() != 1 or x.numel() < 2 or x.shape != y.shape:
            raise ValueError("need at least two knots and one value per knot")
        if not torch.all(x[1:] > x[:-1]):
            raise ValueError("knots must increase")
        if not (torch.isfinite(x).all() and torch.isfinite(y).all()):
            raise ValueError("knots and values must be finite")
        self.register_buffer("x", x)
        self.register_buffer("y", y)

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        i = torch.clamp(torch.searchsorted(self.x, u.detach().reshape(-1).to(self.x.dtype)), 1,
                        self.x.numel() - 1).reshape(u.shape)
        x0, x1, y0, y1 = self.x[i - 1], self.x[i], self.y[i - 1], self.y[i]
        return y0 + (u - x0) * (y1 - y0) / (x1 - x0)

    @classmethod
    def linear(cls, slope: float) -> "PiecewiseLinear":
        return cls([0.0, 1.0], [0.0, float(slope)])


class InputOccupancyHooks(nn.Module):
    """Context manager: stores `self.measure(x)` of each hooked layer's input x ([T, N, ...])
    in `self.occupancy[name]` on every forward pass. Layers that are modules (conv, linear,
    pool) are hooked directly. Element-wise layers between modules (residual joins, concat,
    gates) have no module: with `_ops` naming some, each pass's ops are traced (graph_trace,
    under the names `network_from_model` gives them) and such a layer's input read as the
    recorder reads it (the first input; a matmul's spike operand), so the loss prices the
    same statistics the cost model is given."""

    _mods: dict[str, nn.Module]
    _ops: frozenset[str] = frozenset()
    _model: nn.Module | None = None
    _names: dict[str, str] | None = None
    _tracer = None
    T: int

    def __enter__(self):
        for name, mod in self._mods.items():
            def hook(m, args, name=name):
                self.occupancy[name] = self.measure(as_time_major(args[0], m, self.T))
            self._handles.append(mod.register_forward_pre_hook(hook))
        if self._ops:
            self._handles += [self._model.register_forward_pre_hook(self._start_ops),
                              self._model.register_forward_hook(self._stop_ops)]
        return self

    def __exit__(self, *exc) -> None:
        self._stop_ops()
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _start_ops(self, model: nn.Module, args) -> None:
        from spikex_plugin.training.graph_trace import GraphTracer

        self._tracer = GraphTracer(model, self.T, self._names, batch=args[0].shape[1], on_op=self._measure_op)
        self._tracer.start(args[0], inside_root_call=True)

    def _stop_ops(self, *_args) -> None:
        if self._tracer is not None:
            self._tracer.stop()
            self._tracer = None

    def _measure_op(self, name: str, kind: str, inputs: list[torch.Tensor]) -> None:
        if name not in self._ops:
            return
        x = inputs[0]
        if kind == "matmul" and id(x) not in self._tracer.spikes and id(inputs[1]) in self._tracer.spikes:
            x = inputs[1]
        self.occupancy[name] = self.measure(self._tracer.time_major(x))

    def measure(self, x: torch.Tensor):
        raise NotImplementedError


class HardwareLoss(InputOccupancyHooks):
    """Collects, during each forward of `model`, the window occupancy of the inputs of the
    layers in `curves` (a {layer name: c_l} map; names as the recorder's) and returns
    L_hw = sum_l c_l(occ_l) / reference. Use as a context manager around training."""

    def __init__(self, model: nn.Module, T: int, curves: dict[str, nn.Module], window: int = 4,
                 reference: float | None = None, names: dict[str, str] | None = None):
        super().__init__()
        mods = recorded_modules(model, names)
        self.curves = nn.ModuleDict(curves)
        self.T, self.window, self.reference = int(T), int(window), reference
        self._mods = {n: mods[n] for n in curves if n in mods}
        self._ops, self._names = frozenset(curves) - set(mods), names   # element-wise layers: traced
        object.__setattr__(self, "_model", model)   # not a submodule: the loss must not own the model's weights
        self._handles: list = []
        self.occupancy: dict[str, torch.Tensor] = {}

    def measure(self, x: torch.Tensor) -> torch.Tensor:
        return window_occupancy(x, self.window)

    def edp(self, occupancy: dict[str, torch.Tensor | float] | None = None) -> torch.Tensor:
        """sum_l c_l(occ_l) for the last forward (or given occupancies)."""
        occ = self.occupancy if occupancy is None else occupancy
        missing = sorted(set(self.curves) - set(occ))
        if missing:
            raise RuntimeError(f"no occupancy of layers {missing}: run a forward pass of the model inside the "
                               "loss context first (and name layers as network_from_model does)")
        return sum(self.curves[n](torch.as_tensor(o, dtype=torch.float32)) for n, o in occ.items())

    def calibrate(self, occupancy: dict[str, float]) -> float:
        """Set the reference EDP (normally the beta = 0 network's) so beta is dimensionless."""
        self.reference = float(self.edp(occupancy))
        if not self.reference > 0:
            raise ValueError("reference EDP must be positive")
        return self.reference

    def forward(self) -> torch.Tensor:
        value = self.edp() / (self.reference or 1.0)
        self.occupancy = {}
        return value


def hardware_weights_from_cost_model(network, arch, tws: int | dict[str, int],
                                     knots: Sequence[float] = (0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0),
                                     skip_input_layers: bool = True) -> dict[str, PiecewiseLinear]:
    """c_l for every priced layer (element-wise ones too) except, with `skip_input_layers`,
    those reading the network input (fixed data: nothing to train): the SpikeX cost model's
    EDP of the layer at each knot occupancy, joined linearly (`cost_model.sensitivity.edp_curve`)."""
    from spikex_plugin.cost_model.sensitivity import edp_curve

    knots = np.asarray(knots, dtype=float)
    fixed = input_layers(network) if skip_input_layers else set()
    out = {}
    for layer in network.resolved:
        if layer.name in fixed:
            continue
        t = tws[layer.name] if isinstance(tws, dict) else tws
        out[layer.name] = PiecewiseLinear(knots, edp_curve(layer, arch, knots, t))
    return out


def input_layers(network) -> set[str]:
    """Names of the layers that read the network input, directly or through layout-only
    ops (flatten, reshape, ...)."""
    from spikex_plugin.workload.network import INPUT, LAYOUT

    data, readers, prev = {INPUT}, set(), INPUT
    for spec in network.layers:
        if all(i in data for i in spec.inputs or [prev]):
            (data if spec.type in LAYOUT else readers).add(spec.name)
        prev = spec.name
    return readers
