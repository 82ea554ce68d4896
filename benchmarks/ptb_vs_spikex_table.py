"""SpikeX (8x8, per-layer TWS) vs PTB (8x8 and 16x8, best global TW): energy, latency and
EDP on the bundled networks at a uniform 0.5 % rate and with bursty spikes (two-state
Markov lines, correlation 0.5), as `spikex report` maps them.

Run: .venv/bin/python benchmarks/ptb_vs_spikex_table.py [OUT.json]
"""

from __future__ import annotations

import json
import sys

from spikex_plugin.cosearch.fastmap import FastMapper
from spikex_plugin.cosearch.search import totals
from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.report.report import densities
from spikex_plugin.workload.network import load_network

RATE = 0.005


def main() -> None:
    archs = {"spikex": load_arch("spikex"), "ptb-8x8": load_arch("ptb", ROWS=8), "ptb-16x8": load_arch("ptb")}
    rows = []
    print("| network | statistics | baseline | SpikeX energy (µJ) | PTB energy (µJ) | SpikeX latency (ms) | "
          "PTB latency (ms) | energy gain | latency gain | EDP gain |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in ("dvsg-medium", "dvsg-large", "nmnist"):
        net = load_network(name)
        for stats in ("uniform", "bursty"):
            dens = densities(net, stats, RATE)
            row = {"network": name, "stats": stats}
            for key, arch in archs.items():
                fm = FastMapper(net.resolved, dens)
                if key == "spikex":
                    row[key] = totals(fm.map(arch), arch.clock_hz)
                else:
                    tws, picks = fm.map_global(arch)
                    row[key] = {**totals(picks, arch.clock_hz), "tws": tws}
            s = row["spikex"]
            for key in ("ptb-8x8", "ptb-16x8"):
                p = row[key]
                print(f"| {name} | {stats} | {key} (TW {p['tws']}) | {s['energy_j'] * 1e6:.4g} | {p['energy_j'] * 1e6:.4g} | "
                      f"{s['latency_s'] * 1e3:.4g} | {p['latency_s'] * 1e3:.4g} | {p['energy_j'] / s['energy_j']:.2f}x | "
                      f"{p['latency_s'] / s['latency_s']:.2f}x | {p['edp_js'] / s['edp_js']:.2f}x |", flush=True)
            rows.append(row)
    if len(sys.argv) > 1:
        with open(sys.argv[1], "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
