"""Cost of the tile pipeline term (recorded tile activity) when mapping whole networks.

Run: .venv/bin/python benchmarks/bench_tile_pipeline.py [--networks nmnist,dvsg-medium] [--rate 0.02]

Per network, each weighted layer's statistics come from a `local_blobs` trace of its input
(2 inferences); the whole network is mapped (`map_network`, one process, all TWS and modes)
with those statistics and with the same statistics less their `tile` entries (what a file
written before them holds: the model then prices no tile pipeline). Each is timed after one
untimed run that loads numba and the column-line tables, so the ratio is the new term's own
cost in the vectorised mapspace pricing.
"""

from __future__ import annotations

import argparse
import time

from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.mapping.mapper import map_network
from spikex_plugin.sim.traces import make_trace
from spikex_plugin.sparsity.density import ActualDataDensity
from spikex_plugin.sparsity.stats import layer_stats_from_spikes
from spikex_plugin.workload.network import load_network


def timed_map(layers, arch, densities) -> tuple[float, float]:
    """(seconds, summed EDP of the picks) of one whole-network mapping."""
    start = time.perf_counter()
    picks = map_network(layers, arch, densities, workers=1)
    return time.perf_counter() - start, sum(p.cost.edp_js for p in picks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--networks", default="nmnist,dvsg-medium")
    ap.add_argument("--rate", type=float, default=0.02)
    args = ap.parse_args()
    arch = load_arch("spikex")
    for name in args.networks.split(","):
        layers = load_network(name).weighted_layers
        stats = {l.name: layer_stats_from_spikes(make_trace("local_blobs", l.input_shape, l.T, args.rate, samples=2))
                 for l in layers}
        with_tiles = {n: ActualDataDensity(s) for n, s in stats.items()}
        without = {n: ActualDataDensity(s.model_copy(update={"coactivity": [c for c in s.coactivity if c.group != "tile"]}))
                   for n, s in stats.items()}
        timed_map(layers, arch, without)   # numba, column-line tables
        base, base_edp = timed_map(layers, arch, without)
        new, new_edp = timed_map(layers, arch, with_tiles)
        print(f"{name}: {len(layers)} layers mapped in {base:.2f} s without tile entries, {new:.2f} s with "
              f"(ratio {new / base:.2f}); summed EDP of the picks {new_edp / base_edp:.3f}x")


if __name__ == "__main__":
    main()
