"""Record the spikes each conv / linear / (adaptive) pooling layer of a SpikingJelly model READS.

Forward pre-hooks see a layer's input, which is what SpikeX fetches (after pooling it is
denser than the neuron output). Multi-step models give [T, N, ...]; modules inside
`layer.SeqToANNContainer` give [T*N, ...], reshaped with the known T.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Literal

import numpy as np
import torch
from torch import nn

from spikex_plugin.sparsity.stats import FiringAccumulator, FiringStats, layer_stats_from_spikes

if TYPE_CHECKING:
    from spikex_plugin.workload.network import Network

_PER_SAMPLE_NDIM = {nn.Conv2d: 3, nn.Conv1d: 2, nn.Linear: 1, nn.MaxPool2d: 3, nn.AvgPool2d: 3, nn.MaxPool1d: 2,
                    nn.AvgPool1d: 2, nn.AdaptiveAvgPool2d: 3, nn.AdaptiveMaxPool2d: 3, nn.AdaptiveAvgPool1d: 2,
                    nn.AdaptiveMaxPool1d: 2}
RECORDED = tuple(_PER_SAMPLE_NDIM)


def layer_name(qualified: str) -> str:
    """Network-YAML name of a module: its qualified name with dots (and other symbols) as '_'."""
    return re.sub(r"[^0-9A-Za-z_-]", "_", qualified)


def recorded_modules(model: nn.Module, names: dict[str, str] | None = None) -> dict[str, nn.Module]:
    """{layer name: module} for every recorded module, in registration order."""
    out = {}
    for qualified, mod in model.named_modules():
        if isinstance(mod, RECORDED):
            name = (names or {}).get(qualified, layer_name(qualified))
            if name in out:
                raise ValueError(f"two modules map to layer name '{name}'; pass a name map")
            out[name] = mod
    return out


def per_sample_ndim(mod: nn.Module) -> int:
    return next(n for cls, n in _PER_SAMPLE_NDIM.items() if isinstance(mod, cls))


def as_time_major(x: torch.Tensor, mod: nn.Module, T: int) -> torch.Tensor:
    """[T, N, *shape] view of a layer input given as [T, N, ...] or [T*N, ...]."""
    nd = per_sample_ndim(mod)
    if x.dim() == nd + 2:
        if x.shape[0] != T:
            raise ValueError(f"input {tuple(x.shape)} does not start with T={T}")
        return x
    if x.dim() == nd + 1 and x.shape[0] % T == 0:
        return x.reshape(T, x.shape[0] // T, *x.shape[1:])
    if isinstance(mod, nn.Linear) and x.dim() > 3:  # per-position linear on tokens [.., L, D]
        return x if x.shape[0] == T else x.reshape(T, x.shape[0] // T, *x.shape[1:])
    raise ValueError(f"cannot read {tuple(x.shape)} as [T={T}, N, ...] (is the model in multi-step mode?)")


class SpikeRecorder:
    """Context manager recording the input spikes of every conv / linear / pool layer.

    mode="stats" streams `FiringAccumulator`s (constant memory over any number of batches);
    mode="trace" keeps bool traces [T, samples, *shape] in `traces`. Any nonzero input value
    counts as a spike. Disable temporarily with `enabled = False` (e.g. for a warm-up pass).
    `every=k` records one forward pass of the model in k (all layers of that pass): the
    statistics are then those of a 1/k sample of the batches, for 1/k of the cost
    (benchmarks/bench_stats.py measures the cost per training step). `ops=True` also
    records the inputs of the ops between modules (residual joins, concat, attention
    matmuls, neurons and gates) under their `network_from_model` names, tracing every op
    of a recorded pass (slower). `coactivity_every=k` records the co-activity histograms
    (about two more passes over each trace) from every k-th sample only, 0 not at all.
    """

    def __init__(self, model: nn.Module, T: int, mode: Literal["stats", "trace"] = "stats",
                 names: dict[str, str] | None = None, every: int = 1, ops: bool = False,
                 coactivity_every: int = 1):
        if mode not in ("stats", "trace"):
            raise ValueError(f"mode must be 'stats' or 'trace', not {mode!r}")
        if every < 1:
            raise ValueError(f"every must be a positive number of forward passes, not {every}")
        self.model, self.T, self.mode, self.every, self.ops = model, int(T), mode, int(every), ops
        self.coactivity_every = int(coactivity_every)
        self.names, self._tracer = names, None
        self._passes = 0
        self.modules = recorded_modules(model, names)
        self.accumulators: dict[str, FiringAccumulator] = {}
        self.traces: dict[str, list[np.ndarray]] = {}
        self.enabled = True
        self._handles: list = []

    def __enter__(self) -> "SpikeRecorder":
        self._handles.append(self.model.register_forward_pre_hook(self._count_pass))
        if self.ops:
            self._handles += [self.model.register_forward_pre_hook(self._start_ops),
                              self.model.register_forward_hook(self._stop_ops)]
        for name, mod in self.modules.items():
            self._handles.append(mod.register_forward_pre_hook(self._hook(name, mod)))
        return self

    def __exit__(self, *exc) -> None:
        self._stop_ops()
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _count_pass(self, _model, _args) -> None:
        self._passes += 1

    def _recording(self) -> bool:
        return self.enabled and (self._passes - 1) % self.every == 0

    def _hook(self, name: str, mod: nn.Module):
        def hook(_mod, args):
            if not self._recording():
                return
            if self._tracer is not None and id(args[0]) in self._tracer.time_means:
                return  # a layer after a mean over T: the tracer records what it averaged
            try:
                x = as_time_major(args[0], mod, self.T)
            except ValueError as e:
                raise ValueError(f"layer {name}: {e}; a layer after a mean over T (a transformer's head) "
                                 "is recorded with ops=True") from None
            self.record(name, x)
        return hook

    def _start_ops(self, model, args) -> None:
        """ops=True: trace this pass's ops between modules (`graph_trace`, the same names as
        `network_from_model`) and record what each reads."""
        from spikex_plugin.training.graph_trace import GraphTracer

        if self._recording():
            x = args[0]
            self._tracer = GraphTracer(model, self.T, self.names, batch=x.shape[1], on_op=self._record_op)
            self._tracer.start(x, inside_root_call=True)

    def _stop_ops(self, *_args) -> None:
        if self._tracer is not None:
            self._tracer.stop()
            self._tracer = None

    def _record_op(self, name: str, kind: str, inputs: list[torch.Tensor]) -> None:
        x = inputs[0]  # a join's inputs share a shape; a matmul's spike operand drives the work
        if kind == "matmul" and id(x) not in self._tracer.spikes and id(inputs[1]) in self._tracer.spikes:
            x = inputs[1]
        self.record(name, self._tracer.time_major(x))

    def record(self, name: str, x: torch.Tensor) -> None:
        """Add a time-major batch [T, N, *shape] for layer `name`."""
        x = x.detach()  # nothing below is recorded by autograd
        if self.mode == "trace":
            self.traces.setdefault(name, []).append(x.ne(0).cpu().numpy())
            return
        acc = self.accumulators.get(name)
        if acc is None:
            acc = self.accumulators[name] = FiringAccumulator(tuple(x.shape[2:]), self.T, self.coactivity_every)
        # The scan reads float32 in place (nonzero = spike); anything else becomes bool first.
        cpu_float = x.device.type == "cpu" and x.dtype == torch.float32
        acc.add(x.contiguous().numpy() if cpu_float else x.ne(0).cpu().numpy())

    def trace(self, name: str) -> np.ndarray:
        """All recorded batches of a layer as one bool trace [T, samples, *shape]."""
        return np.concatenate(self.traces[name], axis=1)

    def layer_names(self) -> list[str]:
        return list(self.accumulators or self.traces)

    def to_stats(self, network_name: str | None = None, network: Network | None = None) -> FiringStats:
        """The firing-statistics file content (`FiringStats.save` writes it). With `network`,
        only its layers are kept: the recorder also sees modules the network folds away
        (a neuron into its layer, a copying pool into the fc after it), and a statistics file
        naming layers its network lacks is refused when mapped."""
        if self.mode == "trace":
            layers = {n: layer_stats_from_spikes(self.trace(n)) for n in self.traces}
        else:
            layers = {n: acc.result() for n, acc in self.accumulators.items()}
        if network is not None:
            names = {layer.name for layer in network.resolved}
            layers = {n: s for n, s in layers.items() if n in names}
        if not layers:
            raise ValueError("nothing recorded: run the model on data inside the recorder")
        return FiringStats(network=network_name, layers=layers)
