"""Simulator speed: every conv layer of the bundled nmnist network (T = 30), one inference
each, for the slowest settings (TWS 1, firing rate 0.5, both dispatch modes, SpikeX and PTB).

Run: .venv/bin/python benchmarks/bench_sim.py
Target (issue 12): under 60 s per layer simulation on a 2-core machine. The first call
compiles the numba kernels; it is timed separately and reported beside the warm runs.
Baseline, measured in the same run: the analytic model's path from the same trace to an
estimate (firing statistics of the trace, then the cost of the same mapping).
"""

from __future__ import annotations

import time

from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.mapping.mapper import evaluate_mapping
from spikex_plugin.mapping.mapping import PTBMapping, SpikeXMapping, divisors
from spikex_plugin.sim.ptb import simulate_ptb_layer
from spikex_plugin.sim.spikex import simulate_layer
from spikex_plugin.sim.traces import make_trace
from spikex_plugin.sparsity.density import ActualDataDensity
from spikex_plugin.sparsity.stats import layer_stats_from_spikes
from spikex_plugin.workload.network import load_network

TARGET_S = 60.0


def mapping_for(layer, arch, mode: str, tws: int) -> SpikeXMapping | PTBMapping:
    """A fitting mapping with the most tiles (SpikeX: one channel per L1 tile, one output row
    per GLB tile; PTB: one window group per GLB tile, one output row)."""
    rows = max(d for d in divisors(layer.M) if d <= arch.rows)
    if arch.extras.model == "ptb":
        cols = min(arch.cols, -(-layer.T // tws))
        return PTBMapping(tws, rows, cols, 1, "weights-stationary", rows, 1, cols * tws)
    cols = max(d for d in (divisors(layer.T // tws) if mode == "temporal" else divisors(layer.Q)) if d <= arch.cols)
    tb = cols * tws if mode == "temporal" else tws
    return SpikeXMapping(mode, tws, rows, cols, c_l1=1, tb_glb=tb, m_glb=rows, p_glb=1)


def main() -> None:
    net = load_network("nmnist")
    warm = None
    print(f"{'layer':<6} {'arch':<6} {'mapping':<44} {'tiles':>9} {'sim s':>7} {'model s':>8} {'sim/model':>9}"
          f"  (target: sim < {TARGET_S:.0f} s)")
    for layer in [l for l in net.weighted_layers if l.type == "conv"]:
        trace = make_trace("moving_objects", layer.input_shape, layer.T, 0.5, seed=1)[:, 0]
        for arch_name, simulate, modes in (("spikex", simulate_layer, ("temporal", "spatial")),
                                           ("ptb", simulate_ptb_layer, ("temporal",))):
            arch = load_arch(arch_name)
            for mode in modes:
                m = mapping_for(layer, arch, mode, 1)
                if warm is None:
                    t = time.perf_counter()
                    simulate(layer, m, arch, trace)
                    warm = time.perf_counter() - t
                t = time.perf_counter()
                simulate(layer, m, arch, trace)
                elapsed = time.perf_counter() - t
                t = time.perf_counter()
                evaluate_mapping(layer, m, arch, ActualDataDensity(layer_stats_from_spikes(trace[:, None])))
                model = time.perf_counter() - t
                tiles = (layer.T // m.tb * layer.M // m.rows * layer.P * layer.Q // m.q_cols * layer.C // m.c_l1
                         if arch_name == "spikex" else -(-layer.T // m.t_glb) * layer.M // m.rows * layer.P * layer.Q)
                print(f"{layer.name:<6} {arch_name:<6} {m.summary():<44} {tiles:>9} {elapsed:>7.2f} {model:>8.3f} "
                      f"{elapsed / model:>8.1f}x  {elapsed / TARGET_S:.1%} of target", flush=True)
    print(f"first call (numba compile + run): {warm:.2f} s")


if __name__ == "__main__":
    main()
