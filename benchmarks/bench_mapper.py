"""Mapper speed: whole bundled networks with actual-data statistics (bursty traces' curves).

Run: .venv/bin/python benchmarks/bench_mapper.py
Prints, per network, wall time of mapping every layer with 2 worker processes and with 1,
the ratio, and candidates evaluated. Target (issue 3): every network under 10 s.
"""

from __future__ import annotations

import time

from spikex_plugin.api import NetworkResult
from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.mapping.mapper import map_network
from spikex_plugin.sparsity.density import ActualDataDensity
from spikex_plugin.sparsity.stats import network_stats_from_rate
from spikex_plugin.workload.network import BUNDLED, load_network


def main() -> None:
    arch = load_arch("spikex")
    print(f"{'network':<12} {'layers':>6} {'T':>4} {'1 worker s':>11} {'2 workers s':>12} {'ratio':>6} {'candidates':>11} {'EDP J*s':>10}")
    for name in BUNDLED:
        net = load_network(name)
        stats = network_stats_from_rate(net, 0.005, correlation=0.5)
        dens = {n: ActualDataDensity(s) for n, s in stats.layers.items()}
        t0 = time.perf_counter()
        map_network(net.resolved, arch, dens, workers=1)
        t1 = time.perf_counter()
        choices = map_network(net.resolved, arch, dens, workers=2)
        t2 = time.perf_counter()
        res = NetworkResult(net, arch, [c.cost for c in choices], "bursty 0.5%")
        print(f"{name:<12} {len(net.resolved):>6} {net.T:>4} {t1 - t0:>11.2f} {t2 - t1:>12.2f} "
              f"{(t1 - t0) / (t2 - t1):>6.2f} {sum(c.candidates for c in choices):>11} {res.edp_js:>10.3g}")


if __name__ == "__main__":
    main()
