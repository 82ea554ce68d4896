"""Record the spikes each conv / linear / pooling layer of a SpikingJelly model READS.

Forward pre-hooks see a layer's input, which is what SpikeX fetches (after pooling it is
denser than the neuron output). Multi-step models give [T, N, ...]; modules inside
`layer.SeqToANNContainer` give [T*N, ...], reshaped with the known T.
"""

from __future__ import annotations

import functools
import re
from typing import Literal

import numpy as np
import torch
from torch import nn

from spikex_plugin.sparsity.stats import FiringAccumulator, FiringStats, layer_stats_from_spikes

_WORDS_MAX_T = 64  # above, the per-spike numpy path (cost ~ spikes) beats packed words
RECORDED = (nn.Conv2d, nn.Linear, nn.MaxPool2d, nn.AvgPool2d)
_PER_SAMPLE_NDIM = {nn.Conv2d: 3, nn.Linear: 1, nn.MaxPool2d: 3, nn.AvgPool2d: 3}


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
    raise ValueError(f"cannot read {tuple(x.shape)} as [T={T}, N, ...] (is the model in multi-step mode?)")


WORD_BITS = 16  # time steps per packed word


@functools.cache
def _internal_runs_table() -> torch.Tensor:
    """[2^16, 15] float64: for each 16-bit word, its zero runs strictly between set bits,
    by length (gap g: bits p and p+g+1 set, none between)."""
    w = np.arange(1 << WORD_BITS, dtype=np.uint32)
    bits = ((w[:, None] >> np.arange(WORD_BITS)) & 1).astype(np.int64)
    cs = np.concatenate([np.zeros((w.size, 1), np.int64), np.cumsum(bits, axis=1)], axis=1)
    table = np.empty((w.size, WORD_BITS - 1))
    for g in range(WORD_BITS - 1):
        n = WORD_BITS - g - 1
        table[:, g] = (bits[:, :n] & bits[:, g + 1:] & (cs[:, g + 1:WORD_BITS] == cs[:, 1:n + 1])).sum(axis=1)
    return torch.from_numpy(table)


def pack_words(x: torch.Tensor) -> torch.Tensor:
    """0/1 trace [T, n] -> int32 words [ceil(T/16), n], bit b of word k = step 16k + b: one
    matmul with powers of two (exact in float32), multi-threaded, no bool copy."""
    T = x.shape[0]
    full, rest = divmod(T, WORD_BITS)
    if x.device.type != "cpu":  # TF32 matmuls on GPUs would round the words
        x = x.double()
    pow2 = 2.0 ** torch.arange(WORD_BITS, dtype=x.dtype, device=x.device)
    parts = [torch.matmul(pow2, x[: full * WORD_BITS].reshape(full, WORD_BITS, -1))] if full else []
    if rest:
        parts.append(torch.matmul(pow2[:rest], x[full * WORD_BITS:]).unsqueeze(0))
    return (torch.cat(parts) if len(parts) > 1 else parts[0]).to(torch.int32)


def word_runs(words: torch.Tensor, T: int, seg: torch.Tensor | None = None, nseg: int = 1) -> np.ndarray:
    """Zero-run histograms [nseg, T + 1] of lines given as words [nc, n]; line i belongs to
    segment seg[i]. Runs inside a word: a per-word table (one bincount). Runs across words:
    from the highest set bit of the previous nonzero word (or t = -1) to the lowest set bit
    of the next (or T), bits located by the float32 exponent. Work ~ T/16 x lines."""
    nc, n = words.shape
    dev = words.device
    seg = torch.zeros(n, dtype=torch.int64, device=dev) if seg is None else seg
    per_word = torch.bincount((words + seg * (1 << WORD_BITS)).reshape(-1), minlength=nseg << WORD_BITS).cpu()
    seen = per_word.nonzero().squeeze(1)  # the distinct (segment, word) pairs: few
    internal = torch.zeros(nseg, WORD_BITS - 1, dtype=torch.float64)
    internal.index_add_(0, seen >> WORD_BITS,
                        per_word[seen, None].double() * _internal_runs_table()[seen & ((1 << WORD_BITS) - 1)])

    def exponent(v):  # floor(log2 v) for 0 < v < 2^24
        return (v.float().view(torch.int32) >> 23) - 127

    nz = words != 0
    start = (torch.arange(nc, dtype=torch.int32, device=dev) * WORD_BITS)[:, None]
    last = (start + exponent(words) + 1) * nz - 1  # last spike in each word, -1 if none
    first = start + exponent(words & -words)
    prev = [torch.full((n,), -1, dtype=torch.int32, device=dev)]
    for k in range(1, nc):
        prev.append(torch.maximum(prev[-1], last[k - 1]))
    final = (T - 1) - torch.maximum(prev[-1], last[-1])
    gap = torch.where(nz, first - torch.stack(prev) - 1, T + 1)  # overflow bin: no run ends
    off = seg * (T + 2)
    hist = torch.bincount((gap + off).reshape(-1), minlength=nseg * (T + 2))
    hist += torch.bincount(final + off, minlength=nseg * (T + 2))
    hist = hist.view(nseg, T + 2)[:, : T + 1].cpu().numpy().copy()
    k = min(WORD_BITS - 1, T + 1)
    hist[:, :k] += np.rint(internal.numpy()[:, :k]).astype(np.int64)
    return hist


def batch_counts(x: torch.Tensor, channels: int, group_sizes: list[int]) -> tuple:
    """`FiringAccumulator.add_counts` arguments of a 0/1 batch [T, S, *shape], from a few
    torch passes: per-step and per-line sums, each channel's per-step max, 16-step words."""
    T, S = x.shape[:2]
    xv = x.reshape(T, -1)
    per_channel = xv.shape[1] // (S * channels)
    steps = xv.sum(1, dtype=torch.float64 if xv.shape[1] >= 1 << 24 else None)  # exact float32 sums below 2^24
    steps = steps.round().long().cpu().numpy()
    count = torch.bincount(xv.sum(0).round().long(), minlength=T + 1).cpu().numpy()
    line_runs = word_runs(pack_words(xv), T)[0]
    block = xv.view(T, S * channels, per_channel).amax(2) if per_channel > 1 else xv
    block, levels = block.view(T, S, channels), []
    for g in group_sizes:
        if g > 1:  # OR channel pairs of the previous level (groups truncate as C // g)
            groups = channels // g
            block = torch.maximum(block[:, :, 0:2 * groups:2], block[:, :, 1:2 * groups:2])
        if g > 1 or per_channel > 1:
            levels.append((g, block.reshape(T, -1)))
    block_runs = {1: line_runs} if per_channel == 1 else {}
    if levels:  # all levels in one pass, one segment of lines per level
        seg = torch.cat([torch.full((b.shape[1],), i, dtype=torch.int64) for i, (_, b) in enumerate(levels)])
        hist = word_runs(pack_words(torch.cat([b for _, b in levels], dim=1)), T, seg.to(x.device), len(levels))
        block_runs.update({g: h for (g, _), h in zip(levels, hist)})
    return S, steps, line_runs, count, block_runs


class SpikeRecorder:
    """Context manager recording the input spikes of every conv / linear / pool layer.

    mode="stats" streams `FiringAccumulator`s (constant memory over any number of batches);
    mode="trace" keeps bool traces [T, samples, *shape] in `traces`. Any nonzero input value
    counts as a spike. Disable temporarily with `enabled = False` (e.g. for a warm-up pass).
    """

    def __init__(self, model: nn.Module, T: int, mode: Literal["stats", "trace"] = "stats",
                 names: dict[str, str] | None = None):
        if mode not in ("stats", "trace"):
            raise ValueError(f"mode must be 'stats' or 'trace', not {mode!r}")
        self.model, self.T, self.mode = model, int(T), mode
        self.modules = recorded_modules(model, names)
        self.accumulators: dict[str, FiringAccumulator] = {}
        self.traces: dict[str, list[np.ndarray]] = {}
        self.enabled = True
        self._handles: list = []
        self._binary: dict[str, bool] = {}

    def __enter__(self) -> "SpikeRecorder":
        for name, mod in self.modules.items():
            self._handles.append(mod.register_forward_pre_hook(self._hook(name, mod)))
        return self

    def __exit__(self, *exc) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def _hook(self, name: str, mod: nn.Module):
        def hook(_mod, args):
            if self.enabled:
                self.record(name, as_time_major(args[0], mod, self.T))
        return hook

    def record(self, name: str, x: torch.Tensor) -> None:
        """Add a time-major batch [T, N, *shape] for layer `name`."""
        with torch.inference_mode():  # less dispatch overhead per op
            self._record(name, x.detach())

    def _record(self, name: str, x: torch.Tensor) -> None:
        if self.mode == "trace":
            self.traces.setdefault(name, []).append(x.ne(0).cpu().numpy())
            return
        acc = self.accumulators.get(name)
        if acc is None:
            acc = self.accumulators[name] = FiringAccumulator(tuple(x.shape[2:]), self.T)
            # Packing by matmul needs 0/1 values; a layer reading other values (analog input,
            # average pooling) is thresholded at != 0 first. Checked once per layer.
            self._binary[name] = bool(((x == 0) | (x == 1)).all())
        if not self._binary[name]:
            x = x.ne(0).float()
        if self.T > _WORDS_MAX_T:  # long runs: the per-spike path is cheaper when sparse
            acc.add(x.numpy() if x.device.type == "cpu" else x.ne(0).cpu().numpy())
        else:
            acc.add_counts(*batch_counts(x.float(), acc.channels, list(acc.block_runs)))

    def trace(self, name: str) -> np.ndarray:
        """All recorded batches of a layer as one bool trace [T, samples, *shape]."""
        return np.concatenate(self.traces[name], axis=1)

    def layer_names(self) -> list[str]:
        return list(self.accumulators or self.traces)

    def to_stats(self, network_name: str | None = None) -> FiringStats:
        """The firing-statistics file content (`FiringStats.save` writes it)."""
        if self.mode == "trace":
            layers = {n: layer_stats_from_spikes(self.trace(n)) for n in self.traces}
        else:
            layers = {n: acc.result() for n, acc in self.accumulators.items()}
        if not layers:
            raise ValueError("nothing recorded: run the model on data inside the recorder")
        return FiringStats(network=network_name, layers=layers)
