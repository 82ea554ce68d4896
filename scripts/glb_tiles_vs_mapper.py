"""Does another GLB tile or DRAM order beat our mapper's pick, in our own model?

    python scripts/glb_tiles_vs_mapper.py [--networks nmnist dvsg-medium] [--densities 1 0.01 0.001]

Our mapspace keeps one GLB tile and DRAM order per (time block, rows): the one with the least
dense DRAM traffic (`mapping.mapspace.best_glb_tile`). Timeloop's mapper searches every GLB tile.
For each weighted layer this keeps our mapper's L1 and array choice and prices, with
`evaluate_layer`, every GLB tile (time steps, filters, output rows that tile the layer) and DRAM
order whose tiles fit the buffers, and prints the best EDP against our pick's.
"""

from __future__ import annotations

import argparse
import itertools
import sys
from dataclasses import replace

from spikex_plugin.cost_model.spikex import evaluate_layer
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.export.timeloop import check_exportable
from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.mapping.mapper import map_layer
from spikex_plugin.mapping.mapping import divisors
from spikex_plugin.mapping.mapspace import DRAM_ORDERS
from spikex_plugin.sparsity.density import UniformDensity
from spikex_plugin.workload.network import load_network


def fits(arch, layer, m) -> bool:
    try:
        check_exportable(arch, layer, m)  # perfect tiling, every tile fits its buffer (double-buffered)
        return True
    except SpikeXInputError:
        return False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--networks", nargs="+", default=["nmnist", "dvsg-medium"])
    ap.add_argument("--densities", nargs="+", type=float, default=[1.0, 0.01, 0.001])
    ap.add_argument("--arch", default="spikex")
    args = ap.parse_args()
    arch = load_arch(args.arch)
    print("| network | density | layer | our pick | EDP (J s) | best GLB tile / order | EDP | lower by | tried |")
    print("|---|---|---|---|---|---|---|---|---|")
    for net, density in itertools.product(args.networks, args.densities):
        for layer in (l for l in load_network(net).resolved if l.has_weights):
            d = UniformDensity(density, layer.lines_per_channel)
            ours = map_layer(layer, arch, d).cost
            best, tried = ours, 0
            for tb_glb, m_glb, p_glb, order in itertools.product(divisors(layer.T), divisors(layer.M),
                                                                 divisors(layer.P), DRAM_ORDERS):
                m = replace(ours.mapping, tb_glb=tb_glb, m_glb=m_glb, p_glb=p_glb, dram_order=order)
                if not fits(arch, layer, m):
                    continue
                tried += 1
                cost = evaluate_layer(layer, m, arch, d)
                if cost.edp_js < best.edp_js * (1 - 1e-9):
                    best = cost
            print(f"| {net} | {density:g} | {layer.name} | {ours.mapping.summary()} | {ours.edp_js:.4g} "
                  f"| {best.mapping.summary()} | {best.edp_js:.4g} | {1 - best.edp_js / ours.edp_js:.2%} | {tried} |",
                  flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
