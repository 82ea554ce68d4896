"""Effect of each difference between the public PTB re-implementation (Prosperity,
`simulator/baselines.py::run_PTB_convfc`) and the PTB paper as this project models it.

Run: .venv/bin/python benchmarks/ptb_vs_prosperity.py
Traces: the issue's layers (conv 16->32 3x3 pad 1 on 16x16, FC 256->128), Bernoulli and
bursty (lag-1 correlation 0.8) at 5 % and 0.5 %, one seeded inference each. Each row of the
first table switches one choice and prints (reference choice) / (paper choice) of the cycles
it moves. The second table puts the paper model's compute cycles on each of the issue's 16
points (both layers, TW 4 and 8, T = 32) beside the reference's: the count on the trace
(`trace_compute_cycles`, fill per pass) and the expected-value model the mapper prices
(`evaluate_ptb_layer` on the trace's own statistics, 16 x 8 array, fill once per layer).
The reference counts come from the brute-force re-derivation in tests/test_ptb.py.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_ptb import CONV, FC, prosperity_compute_cycles, trace  # noqa: E402

from spikex_plugin.cost_model.ptb import evaluate_ptb_layer, pass_shape, trace_compute_cycles  # noqa: E402
from spikex_plugin.hardware.arch import load_arch  # noqa: E402
from spikex_plugin.mapping.mapping import PTBMapping  # noqa: E402
from spikex_plugin.sparsity.density import ActualDataDensity  # noqa: E402
from spikex_plugin.sparsity.stats import layer_stats_from_spikes  # noqa: E402

KINDS = [(rate, bursty) for rate in (0.05, 0.005) for bursty in (False, True)]


def total(c: dict) -> int:
    return c["accumulate"] + c["fill_drain"]


def ratios(fn) -> str:
    return " | ".join(f"{fn(rate, bursty):.2f}" for rate, bursty in KINDS)


def tw_fixed_4(rate, bursty):
    """Reference TW 4 against the paper's best TW (2..16) on the same trace."""
    s = trace(CONV, rate, bursty, 1)
    best = min(total(trace_compute_cycles(CONV, s, tw)) for tw in (2, 4, 8, 16))
    return total(trace_compute_cycles(CONV, s, 4)) / best


def fc_one_window_group(rate, bursty):
    """FC at T = 300, TW 4 (75 windows, 10 groups): the reference charges one slot per live line."""
    layer = FC.model_copy(update={"T": 300})
    s = trace(layer, rate, bursty, 2)
    ours = trace_compute_cycles(layer, s, 4, packing="none", fill="per_position")
    return prosperity_compute_cycles(layer, s, 4) / total(ours)


def pairs_only(rate, bursty):
    s = trace(CONV, rate, bursty, 3)
    return trace_compute_cycles(CONV, s, 4, packing="pairs")["accumulate"] / trace_compute_cycles(CONV, s, 4)["accumulate"]


def fc_no_packing(rate, bursty):
    s = trace(FC, rate, bursty, 4)
    return trace_compute_cycles(FC, s, 4, packing="none")["accumulate"] / max(1, trace_compute_cycles(FC, s, 4)["accumulate"])


def cold_start(rate, bursty):
    s = trace(CONV, rate, bursty, 5)
    return total(trace_compute_cycles(CONV, s, 4, fill="per_position")) / total(trace_compute_cycles(CONV, s, 4))


def pow2_padding(rate, bursty):
    """Conv at T = 300, TW 4: the reference pads T to 512 and strides its window groups."""
    layer = CONV.model_copy(update={"T": 300})
    s = trace(layer, rate, bursty, 6)
    ours = trace_compute_cycles(layer, s, 4, packing="pairs", fill="per_position")
    return prosperity_compute_cycles(layer, s, 4) / total(ours)


def lif_cycles(rate, bursty):
    """Membrane updates: the reference's LIF operator (3 cycles per neuron-step, 16 at a
    time) against the model's (1 per step, a row per neuron, T padded to whole windows)."""
    layer = CONV.model_copy(update={"T": 300})
    shape = pass_shape(layer, 8, 16, 8)
    ours = shape.channel_groups * shape.positions * shape.windows * 8
    return layer.output_neurons * layer.T * 3 / 16 / ours


ROWS = [
    ("TW hard-coded to 4 (paper: best global TW)", tw_fixed_4),
    ("FC ignores the window count (one slot per live line for all windows)", fc_one_window_group),
    ("stSAP packs pairs only (paper: any number, first fit)", pairs_only),
    ("FC lines never packed", fc_no_packing),
    ("cold start 2 x 16 cycles per output position (model: rows + cols - 1 per pass)", cold_start),
    ("T padded to a power of two, strided window groups (conv, T = 300)", pow2_padding),
    ("LIF: 3 cycles per neuron-step / 16 (model: 1 per step per row)", lif_cycles),
]


def against_reference(layer, tw: int, rate: float, bursty: bool) -> tuple[int, float, float, float]:
    """(reference cycles, paper model on the trace / reference, expected-value model /
    reference, expected-value accumulate / the trace's accumulate) on one of the 16 points,
    the trace of tests/test_ptb.py's exact check."""
    spikes = trace(layer, rate, bursty, seed=int(rate * 1e4) + tw + bursty)
    reference = prosperity_compute_cycles(layer, spikes, tw)
    on_trace = trace_compute_cycles(layer, spikes, tw)
    windows = layer.T // tw
    fold = max(1, min(8 // windows, layer.P * layer.Q))
    m = PTBMapping(tw, 16, min(8, windows * fold), fold, "weights-stationary", layer.M, layer.P, layer.T)
    expected = evaluate_ptb_layer(layer, m, load_arch("ptb"), ActualDataDensity(layer_stats_from_spikes(spikes[:, None])))
    parts = expected.cycle_parts
    return (reference, total(on_trace) / reference, (parts["accumulate"] + parts["fill_drain"]) / reference,
            parts["accumulate"] / max(on_trace["accumulate"], 1))


def main() -> None:
    head = " | ".join(f"{r * 100:g} % {'bursty' if b else 'Bernoulli'}" for r, b in KINDS)
    print(f"| difference | {head} |")
    print("|---|" + "---|" * len(KINDS))
    for name, fn in ROWS:
        print(f"| {name} | {ratios(fn)} |")
    print("\n| layer | TW | trace | reference cycles | paper model on the trace / reference | expected-value model "
          "/ reference | expected / trace accumulate |\n|---|---|---|---|---|---|---|")
    for layer in (CONV, FC):
        for tw in (4, 8):
            for rate, bursty in KINDS:
                ref, on_trace, expected, accumulate = against_reference(layer, tw, rate, bursty)
                print(f"| {layer.type} | {tw} | {rate * 100:g} % {'bursty' if bursty else 'Bernoulli'} | {ref} | "
                      f"{on_trace:.2f} | {expected:.2f} | {accumulate:.2f} |")


if __name__ == "__main__":
    main()
