"""Speed and memory of the mapper, the command line and the co-search, each against the
previous implementation measured in the same run.

Run: .venv/bin/python benchmarks/bench_speed.py [--previous-tree DIR] [--accelforge-timeout 900]
     [--cosearch-points 2000] [--networks dvsg-medium,dvsg-large]

Figures (issue 15's targets in brackets):
- whole-network mapping, every layer, all TWS and modes, one process: the vectorised mapper
  (`map_network(workers=1)`) in a fresh process with an empty cache ("cold": numba loaded,
  Monte Carlo drawn) and again with the cache it left ("warm"), against the per-candidate
  path (`evaluate_mapping` on every candidate, then `min`: the mapper before issue 15,
  kept here only as the baseline) [dvsg-medium < 0.3 s, dvsg-large < 1 s];
- AccelForge's mapper (FFM) on one layer against ours on the same layer (dvsg-medium conv3,
  T=16: `bench_mapper_vs_accelforge.py`'s child mode, so the invocation is that script's);
- `spikex map` default job (README) cold and warm cache, peak RSS [< 2 s warm, < 500 MB];
- a bad `--density` and a missing `--profile` file reported [< 0.5 s];
- co-search architecture points x dvsg-medium per minute, 2 workers, by `bench_cosearch.py`
  (fresh checkpoint; component prices from the disk cache a first 16-point run filled; the
  previous tree, which has no such cache, prices them with CACTI) [>= 10,000].
`--previous-tree DIR`: a checkout of the code before this work (e.g. `git archive 2418236 |
tar -x -C DIR`); the command-line and co-search figures are then also measured there. The
machine may be shared: CPU seconds are printed beside wall seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_JOB = ["map", "--network", "dvsg-medium", "--profile", "dvsg-medium-trained"]
PROFILED = {"dvsg-medium", "dvsg-large", "nmnist"}   # networks with a bundled trained profile

MAP_CHILD = """
import json, sys, time
from spikex_plugin.api import densities_for
from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.workload.network import load_network
sys.path.insert(0, {bench!r})
from bench_speed import map_per_candidate
net = load_network({network!r})
dens = densities_for(net, None, {profile!r})[0] if {profile!r} else densities_for(net, 0.005)[0]
arch = load_arch("spikex")
if {previous}:
    run = lambda: map_per_candidate(net.resolved, arch, dens)
else:
    from spikex_plugin.mapping.mapper import map_network
    run = lambda: map_network(net.resolved, arch, dens, workers=1)
t, c = time.perf_counter(), time.process_time()
choices = run()
print(json.dumps({{"wall": time.perf_counter() - t, "cpu": time.process_time() - c,
                  "edp": sum(ch.cost.energy_j for ch in choices) * sum(ch.cost.latency_s for ch in choices),
                  "candidates": sum(ch.candidates for ch in choices)}}))
"""

CLI_CHILD = """
import json, resource, sys
from spikex_plugin.cli import main
code = main({argv!r})
own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({{"code": code, "rss_mb": max(own.ru_maxrss, kids.ru_maxrss) / 1024}}), file=sys.stderr)
"""


def map_per_candidate(layers, arch, densities) -> list:
    """The mapper before issue 15: `evaluate_mapping` on every candidate, one after another,
    the first minimum of the EDP (kept only as this benchmark's baseline)."""
    from spikex_plugin.cost_model.elementwise import evaluate_unweighted, scaled, weighted_unit
    from spikex_plugin.cost_model.ptb import candidate_ptb_mappings
    from spikex_plugin.mapping.mapper import LayerChoice, evaluate_mapping
    from spikex_plugin.mapping.mapspace import candidate_mappings

    choices = []
    for layer in layers:
        if not layer.has_weights:
            choices.append(LayerChoice(evaluate_unweighted(layer, arch, densities[layer.name]), 1))
            continue
        unit, unit_arch, times = weighted_unit(layer, arch)
        cands = (candidate_ptb_mappings(unit, unit_arch) if arch.extras.model == "ptb"
                 else candidate_mappings(unit, unit_arch))
        costs = [evaluate_mapping(unit, m, unit_arch, densities[layer.name]) for m in cands]
        choices.append(LayerChoice(scaled(min(costs, key=lambda c: c.edp_js), times), len(cands)))
    return choices


def cpu_children() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def python_child(code: str, cache: Path, tree: Path = ROOT, timeout: float = 1800) -> tuple[dict, float, float, str]:
    """Run `code` in a fresh interpreter with `tree` first on the path and `cache` as the
    cache directory: (its JSON line, wall s, CPU s of it and its children, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "SPIKEX_CACHE_DIR": str(cache)}
    c0, t0 = cpu_children(), time.perf_counter()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tree,
                       timeout=timeout)
    wall, cpu = time.perf_counter() - t0, cpu_children() - c0
    lines = [l for l in (p.stdout + "\n" + p.stderr).splitlines() if l.startswith("{")]
    if p.returncode or not lines:
        raise RuntimeError(f"child failed ({p.returncode}): {p.stderr[-2000:]}")
    return json.loads(lines[-1]), wall, cpu, p.stderr


class Table:
    def __init__(self) -> None:
        print(f"{'figure':<58} {'wall s':>8} {'CPU s':>7} {'previous':>10} {'ratio':>8}  target")

    def row(self, name: str, wall: float, cpu: float | None = None, previous: float | None = None,
            target: str = "", unit: str = "") -> None:
        prev = f"{previous:10.3f}" if previous is not None else f"{'-':>10}"
        ratio = f"{previous / wall:7.1f}x" if previous else f"{'-':>8}"
        cpu_s = f"{cpu:7.3f}" if cpu is not None else f"{'-':>7}"
        print(f"{name:<58} {wall:8.3f} {cpu_s} {prev} {ratio}  {target}{unit}", flush=True)


def mapping_figures(table: Table, networks: list[str], work: Path) -> None:
    for network in networks:
        profile = f"{network}-trained" if network in PROFILED else None
        code = {previous: MAP_CHILD.format(bench=str(Path(__file__).parent), network=network, profile=profile,
                                           previous=previous) for previous in (True, False)}
        cache = work / f"map-{network}"
        before, _, _, _ = python_child(code[True], cache)
        cold, _, _, _ = python_child(code[False], cache)
        warm, _, _, _ = python_child(code[False], cache)
        if abs(cold["edp"] / before["edp"] - 1) > 1e-12:
            raise RuntimeError(f"{network}: the vectorised mapper's EDP {cold['edp']} differs from {before['edp']}")
        target = {"dvsg-medium": "< 0.3 s", "dvsg-large": "< 1 s"}.get(network, "")
        what = f"{network} ({profile or 'uniform 0.5 %'}, {cold['candidates']} cand.)"
        table.row(f"map network {what}, cold", cold["wall"], cold["cpu"], before["wall"], target)
        table.row(f"map network {network}, warm cache", warm["wall"], warm["cpu"], before["wall"], target)
        table.row(f"  per-candidate path (previous) {network}", before["wall"], before["cpu"])


def accelforge_figure(table: Table, timeout: float, work: Path) -> None:
    """AccelForge's FFM on the layer of bench_mapper_vs_accelforge.py (its child mode) vs ours."""
    code = ("import json, sys, time\nsys.path.insert(0, 'benchmarks')\n"
            "from bench_mapper_vs_accelforge import bench_layer\n"
            "from spikex_plugin.hardware.arch import load_arch\nfrom spikex_plugin.mapping.mapper import map_layer\n"
            "from spikex_plugin.sparsity.density import UniformDensity\n"
            "layer, arch = bench_layer(16), load_arch('spikex')\n"
            "t = time.perf_counter(); c = map_layer(layer, arch, UniformDensity(1.0), 'edp')\n"
            "print(json.dumps({'wall': time.perf_counter() - t, 'candidates': c.candidates}))")
    ours, _, _, _ = python_child(code, work / "map-dvsg-medium")
    out = work / "af.json"
    cmd = [sys.executable, str(Path(__file__).parent / "bench_mapper_vs_accelforge.py"), "--t", "16",
           "--accelforge-child", str(out)]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "SPIKEX_CACHE_DIR": str(work / "map-dvsg-medium")}
    child = subprocess.Popen(cmd, env=env, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        child.wait(timeout=timeout)
        af = json.loads(out.read_text())["seconds"] if out.is_file() else None
    except subprocess.TimeoutExpired:
        os.killpg(child.pid, 9)
        child.wait()
        af = None
    name = f"map one layer: dvsg-medium conv3 T=16 ({ours['candidates']} cand.) vs AccelForge"
    if af is None:
        print(f"{name}: AccelForge did not finish in {timeout:.0f} s: ratio >= {timeout / ours['wall']:.0f}x")
    else:
        table.row(name, ours["wall"], None, af, "AccelForge FFM as 'previous'")


def cli_figures(table: Table, previous_tree: Path | None, work: Path) -> None:
    def job(argv: list[str], cache: Path, tree: Path) -> tuple[float, float, float]:
        out = work / f"out-{time.monotonic_ns()}"
        code = CLI_CHILD.format(argv=[*argv, "--out", str(out)] if argv[0] == "map" and "--out" not in argv else argv)
        info, wall, cpu, _ = python_child(code, cache, tree)
        return wall, cpu, info["rss_mb"]

    trees = {"current": ROOT, **({"previous": previous_tree} if previous_tree else {})}
    results = {}
    for label, tree in trees.items():
        cache = work / f"cli-{label}"
        cold = job(DEFAULT_JOB, cache, tree)
        warm = [job(DEFAULT_JOB, cache, tree) for _ in range(3)]
        warm_best = min(warm, key=lambda r: r[0])
        bad = [job(["map", "--density", "1.5"], cache, tree) for _ in range(3)]
        missing = [job(["map", "--profile", str(work / "missing.json")], cache, tree) for _ in range(3)]
        results[label] = {"cold": cold, "warm": warm_best, "bad": min(bad), "missing": min(missing),
                          "rss": max(r[2] for r in [cold, *warm])}
    cur, prev = results["current"], results.get("previous")

    def p(key: str, i: int = 0):
        return prev[key][i] if prev else None

    table.row("spikex map default job, cold cache", cur["cold"][0], cur["cold"][1], p("cold"))
    table.row("spikex map default job, warm cache (best of 3)", cur["warm"][0], cur["warm"][1], p("warm"), "< 2 s")
    table.row("bad --density 1.5 reported (best of 3)", cur["bad"][0], cur["bad"][1], p("bad"), "< 0.5 s")
    table.row("missing --profile file reported (best of 3)", cur["missing"][0], cur["missing"][1], p("missing"),
              "< 0.5 s")
    print(f"{'peak RSS of the default map (MB, parent or worker)':<58} {cur['rss']:8.0f} {'':>7} "
          f"{(prev['rss'] if prev else float('nan')):10.0f} {'':>8}  < 500 MB")


def cosearch_figure(points: int, previous_tree: Path | None, previous_points: int, work: Path) -> None:
    """Points x dvsg-medium per minute by `bench_cosearch.py` (2 workers), in each tree."""
    rates = {}
    for label, tree, n in (("current", ROOT, points), ("previous", previous_tree, previous_points)):
        if tree is None:
            continue
        env = {**os.environ, "PYTHONPATH": str(tree), "SPIKEX_CACHE_DIR": str(work / "cosearch")}
        for count in ((16, n) if tree == ROOT else (n,)):  # a first short run fills the spec cache
            out = subprocess.run([sys.executable, str(tree / "benchmarks" / "bench_cosearch.py"), "--points",
                                  str(count), "--workers", "2"], capture_output=True, text=True, env=env, cwd=tree,
                                 timeout=3600)
        match = re.search(r"(\d+) points .* in ([\d.]+) s wall, ([\d.]+) s CPU", out.stdout)
        if not match:
            raise RuntimeError(f"bench_cosearch.py failed: {out.stdout[-500:]} {out.stderr[-1500:]}")
        done, wall, cpu = int(match[1]), float(match[2]), float(match[3])
        rates[label] = (done / wall * 60, done / cpu * 60, done)
    cur, prev = rates["current"], rates.get("previous")
    name = f"co-search points x dvsg-medium / min ({cur[2]} points, 2 workers)"
    print(f"{name:<58} {cur[0]:8.0f} {cur[1]:7.0f} {(prev[0] if prev else float('nan')):10.0f} "
          f"{(f'{cur[0] / prev[0]:7.1f}x' if prev else '-'):>8}  >= 10000 (per wall minute; CPU column: per "
          f"CPU minute{f'; previous: {prev[2]} points' if prev else ''})", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--previous-tree", type=Path, help="checkout of the previous implementation")
    ap.add_argument("--networks", default="dvsg-medium,dvsg-large,nmnist,vgg-cifar10,sew-resnet18-cifar10,"
                                          "spiking-vgg11-cifar10,spikformer-cifar10")
    ap.add_argument("--accelforge-timeout", type=float, default=900, help="0: skip AccelForge's mapper")
    ap.add_argument("--cosearch-points", type=int, default=2000)
    ap.add_argument("--previous-cosearch-points", type=int, default=200)
    args = ap.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start; "
          f"wall and CPU seconds of fresh processes (imports included for the command line)")
    table = Table()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        mapping_figures(table, args.networks.split(","), work)
        cli_figures(table, args.previous_tree, work)
        cosearch_figure(args.cosearch_points, args.previous_tree, args.previous_cosearch_points, work)
        if args.accelforge_timeout > 0:
            accelforge_figure(table, args.accelforge_timeout, work)
    print(f"load average {os.getloadavg()[0]:.1f} at the end")


if __name__ == "__main__":
    main()
