"""Speed of PTB pricing: whole-network mapping on PTB, against the tree before the compiled
first-fit Monte Carlo (`cost_model/stsap.py`), measured in the same run.

Run: .venv/bin/python benchmarks/bench_ptb_speed.py [--previous-rev 2f436b8] [--network dvsg-medium]
     [--profile dvsg-medium-trained] [--repeats 2]

Each figure is `map_network(workers=1)` on the PTB spec in a fresh process (the spec's
prices come from a disk cache filled first, so only the mapping is timed):
- previous: the tree at `--previous-rev` (numpy Monte Carlo, in-process cache only);
- cold: this tree with no first-fit results on disk (numba's compiled kernel cached, as
  after a first run);
- warm: this tree again, its first-fit results read from the disk cache.
The best of `--repeats` runs is printed (the machine may be shared; CPU seconds beside wall
seconds), with the ratios of `previous` to it and each run's EDP: the results must be identical.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, time
from spikex_plugin.api import densities_for
from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.mapping.mapper import map_network
from spikex_plugin.workload.network import load_network
net = load_network({network!r})
dens = densities_for(net, None, {profile!r})[0]
arch = load_arch("ptb")
t, c = time.perf_counter(), time.process_time()
choices = map_network(net.resolved, arch, dens, workers=1)
print(json.dumps({{"wall": time.perf_counter() - t, "cpu": time.process_time() - c,
                  "edp": sum(ch.cost.energy_j for ch in choices) * sum(ch.cost.latency_s for ch in choices)}}))
"""


def map_once(tree: Path, cache: Path, network: str, profile: str) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "SPIKEX_CACHE_DIR": str(cache)}
    out = subprocess.run([sys.executable, "-c", CHILD.format(network=network, profile=profile)], cwd=tree, env=env,
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def best_of(runs: list[dict]) -> dict:
    return min(runs, key=lambda r: r["wall"])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--previous-rev", default="2f436b8", help="git revision before the compiled first-fit")
    ap.add_argument("--network", default="dvsg-medium")
    ap.add_argument("--profile", default="dvsg-medium-trained")
    ap.add_argument("--repeats", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ptb-") as tmp:
        previous, cache = Path(tmp) / "previous", Path(tmp) / "cache"
        previous.mkdir()
        archive = subprocess.run(["git", "archive", args.previous_rev], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(previous)], input=archive.stdout, check=True)
        map_once(ROOT, cache, args.network, args.profile)   # prices the spec, compiles numba's kernel
        first_fit = cache / "stsap-first-fit"
        figures = {"previous": [], "cold": [], "warm": []}
        for _ in range(args.repeats):
            figures["previous"].append(map_once(previous, cache, args.network, args.profile))
            shutil.rmtree(first_fit, ignore_errors=True)
            figures["cold"].append(map_once(ROOT, cache, args.network, args.profile))
            figures["warm"].append(map_once(ROOT, cache, args.network, args.profile))
    base = best_of(figures["previous"])
    print(f"PTB map_network, {args.network} ({args.profile}), workers=1, best of {args.repeats}:")
    for name, runs in figures.items():
        r = best_of(runs)
        print(f"  {name:9s} wall {r['wall']:6.2f} s  cpu {r['cpu']:6.2f} s  "
              f"previous/this {base['wall'] / r['wall']:5.2f}x wall {base['cpu'] / r['cpu']:5.2f}x cpu  edp {r['edp']:.9e}")
    edps = {r["edp"] for runs in figures.values() for r in runs}
    print("identical results" if len(edps) == 1 else f"RESULTS DIFFER: {sorted(edps)}")


if __name__ == "__main__":
    main()
