"""AccelForge's mapper (FFM) vs the SpikeX mapper on one dvsg-sized conv layer.

Run: .venv/bin/python benchmarks/bench_mapper_vs_accelforge.py [--t 16] [--objective edp] [--timeout 3600]
     [--constraints FILE]

Layer: dvsg-medium conv3 (32 -> 32 channels, 16x16 outputs, 3x3 kernel) with T cut from 300
to 16 by default, so that AccelForge finishes in minutes rather than hours. Both mappers
search the SpikeX mapspace: ours its template, AccelForge's FFM the same template's loop
nests with double-buffered GLB and L1 (mappings/spikex_constraints.yaml, which says what
differs; `--constraints` takes another overlay, e.g. one with `loop_nest: free` for FFM's
own, wider space). Ours runs at density 1 (`UniformDensity(1.0)`, i.e. dense). Both choices are
then evaluated by the same dense model, AccelForge's `evaluate_mapping`, and the script
prints each search time, their ratio and each choice's AccelForge energy, latency and EDP,
plus the lowest dynamic energy anywhere in the SpikeX template by AccelForge's per-action
energies, which shows whether a gap comes from the spaces or from the models' rankings.
AccelForge runs in a child process (its own process group) that `--timeout` kills.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from spikex_plugin.cost_model.dense import dense_actions
from spikex_plugin.cost_model.spikex import LayerCost, evaluate_layer, widths_of
from spikex_plugin.engines.accelforge_engine import DEFAULT_CONSTRAINTS, accelforge_choice, accelforge_cost
from spikex_plugin.hardware.arch import SpikeXArch, load_arch
from spikex_plugin.mapping.mapper import map_layer
from spikex_plugin.mapping.mapspace import candidate_mappings
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.sparsity.density import UniformDensity
from spikex_plugin.workload.network import Layer, load_network


def bench_layer(t: int) -> Layer:
    return load_network("dvsg-medium").layer("conv3").model_copy(update={"T": t})


def run_accelforge(t: int, objective: str, constraints: str, out: str) -> None:
    """Child process: AccelForge's search and its evaluation of the choice, as JSON."""
    layer, arch = bench_layer(t), load_arch("spikex")
    start = time.perf_counter()
    chosen = accelforge_choice(layer, arch, objective, constraints)
    seconds = time.perf_counter() - start
    cost = accelforge_cost(layer, arch, chosen)
    Path(out).write_text(json.dumps({
        "seconds": seconds, "mapping": chosen.compact_str(), "energy_j": cost.energy_j, "latency_s": cost.latency_s,
        "dynamic_j": sum(n * arch.energy[key] for key, n in cost.actions.items()),
        "template": cost.mapping.to_dict() if cost.mapping else None}))


def best_template_energy(layer: Layer, arch: SpikeXArch) -> tuple[float, SpikeXMapping, int]:
    """Lowest dynamic energy over the whole SpikeX template by AccelForge's own per-action
    energies (our dense counts equal AccelForge's, tests/test_dense_vs_accelforge.py): it
    tells a gap from the mapspaces apart from a gap in how the two models rank mappings."""
    widths, cands = widths_of(arch), list(candidate_mappings(layer, arch))
    def dynamic(m: SpikeXMapping) -> float:
        return sum(n * arch.energy[(comp, action)] for (comp, _, action), n in dense_actions(layer, m, widths).items())
    best = min(cands, key=dynamic)
    return dynamic(best), best, len(cands)


def _edp_row(name: str, seconds: float, energy: float, latency: float, mapping: str) -> None:
    print(f"{name:<11} {seconds:10.2f} {energy * 1e6:12.4f} {latency * 1e6:12.4f} {energy * latency:12.4e}  {mapping}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--t", type=int, default=16, help="time steps of the layer (dvsg-medium has 300)")
    ap.add_argument("--objective", choices=["edp", "energy", "latency"], default="edp")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds AccelForge's mapper may take")
    ap.add_argument("--constraints", default=str(DEFAULT_CONSTRAINTS),
                    help="constraint overlay for AccelForge's mapper (default: the SpikeX template)")
    ap.add_argument("--accelforge-child", metavar="OUT", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.accelforge_child:
        run_accelforge(args.t, args.objective, args.constraints, args.accelforge_child)
        return

    layer, arch = bench_layer(args.t), load_arch("spikex")
    print(f"layer {layer.name}: T={layer.T} C={layer.C} M={layer.M} P={layer.P} Q={layer.Q} "
          f"R={layer.R} S={layer.S}; arch spikex {arch.rows}x{arch.cols}; objective {args.objective}; "
          f"{os.cpu_count()} cores")
    ours_times = []
    for _ in range(5):  # a fraction of a second, so take the median of a few runs
        start = time.perf_counter()
        ours = map_layer(layer, arch, UniformDensity(1.0), args.objective)
        ours_times.append(time.perf_counter() - start)
    ours_s = statistics.median(ours_times)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "af.json"
        cmd = [sys.executable, __file__, "--t", str(args.t), "--objective", args.objective,
               "--constraints", args.constraints, "--accelforge-child", str(out)]
        child = subprocess.Popen(cmd, start_new_session=True)
        try:
            if child.wait(timeout=args.timeout):
                sys.exit(f"AccelForge's mapper failed (exit {child.returncode})")
            af = json.loads(out.read_text())
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the child and its joblib workers
            child.wait()
            af = None

    ours_af: LayerCost = accelforge_cost(layer, arch, ours.cost.mapping)
    print(f"\n{'mapper':<11} {'search s':>10} {'energy uJ':>12} {'latency us':>12} {'EDP J*s':>12}  "
          f"mapping (each evaluated by AccelForge evaluate_mapping)")
    _edp_row("SpikeX", ours_s, ours_af.energy_j, ours_af.latency_s,
             f"{ours.cost.mapping.summary()} ({ours.candidates} candidates)")
    if af is None:
        print(f"AccelForge  did not finish within --timeout {args.timeout:.0f} s: "
              f"time ratio >= {args.timeout / ours_s:.0f}x")
        return
    _edp_row("AccelForge", af["seconds"], af["energy_j"], af["latency_s"], af["mapping"])
    ratio = (ours_af.energy_j * ours_af.latency_s) / (af["energy_j"] * af["latency_s"])
    print(f"\ntime ratio AccelForge / SpikeX: {af['seconds'] / ours_s:.0f}x")
    print(f"EDP ratio SpikeX choice / AccelForge choice (AccelForge's dense model): {ratio:.4f} "
          f"-> ours {'no worse' if ratio <= 1 + 1e-9 else 'WORSE'}")
    lowest, best, n = best_template_energy(layer, arch)
    print(f"dynamic energy by AccelForge's per-action energies: AccelForge's choice {af['dynamic_j'] * 1e6:.4f} uJ; "
          f"lowest in the SpikeX template ({n} mappings) {lowest * 1e6:.4f} uJ for {best.summary()}")
    if af["template"]:
        theirs = evaluate_layer(layer, SpikeXMapping(**af["template"]), arch, UniformDensity(1.0))
        print(f"AccelForge's choice is a SpikeX template mapping; SpikeX model at density 1: "
              f"EDP {theirs.edp_js:.4e} vs ours {ours.cost.edp_js:.4e}")
    else:
        print("AccelForge's choice lies outside the SpikeX template (its space is wider), "
              "so the SpikeX model cannot price it")


if __name__ == "__main__":
    main()
