"""Hardware-search throughput: architecture points x a whole bundled network per minute.

Run: .venv/bin/python benchmarks/bench_cosearch.py [--network dvsg-medium] [--points 1000] [--workers 2]
Evaluates the first N points of the default 2,000-point grid from a cold start (fresh
checkpoint; the CACTI disk cache may be warm) with fixed statistics (uniform 0.5 %), no
baselines, and prints points/min and the ratio to the target (issue 5): 1000 points per
5 minutes = 200 points/min on this 2-core machine. Wall time includes pricing the
components; CPU time of this process and its workers is printed too, because the machine
may be shared.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time

from spikex_plugin.cosearch.search import SearchConfig, run_search

TARGET_PER_MIN = 1000 / 5


def cpu_s() -> float:
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--network", default="dvsg-medium")
    ap.add_argument("--points", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0, c0 = time.perf_counter(), cpu_s()
        res = run_search(SearchConfig(network=args.network, density=0.005, points=args.points,
                                      workers=args.workers, baselines=False), tmp, progress=False)
        wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    n = res.summary["evaluated"]
    rate = n / wall * 60
    print(f"{args.network}: {n} points ({res.summary['feasible']} feasible, front {res.summary['front_size']}) "
          f"in {wall:.1f} s wall, {cpu:.1f} s CPU, {args.workers} workers")
    print(f"throughput {rate:.0f} points/min; target {TARGET_PER_MIN:.0f} points/min; ratio {rate / TARGET_PER_MIN:.2f}x")


if __name__ == "__main__":
    main()
