"""Run a real Timeloop on every exported layer and compare it with our cost model.

    python scripts/compare_timeloop.py --timeloop-bin /work/tools/src/timeloop/build \
        --tl /work/tools/tlvenv/bin/tl --out /tmp/tlcmp \
        [--networks nmnist dvsg-medium] [--densities 1 0.01 0.001]

For each network and uniform firing rate it runs `spikex export-timeloop`, then in every layer
directory the documented command

    tl model arch.yaml problem.yaml sparse_optimizations.yaml mapping.yaml ../ERT.yaml ../ART.yaml -o model

(`tl` from a timeloopfe + Accelergy environment, `timeloop-model` from --timeloop-bin), checks
that it exits 0, reads model/timeloop-model.stats.txt and prints, per layer, Timeloop's energy
and cycles beside ours (index.yaml) with their ratio, the level that sets Timeloop's pace and
the latencies the export adds to it (see "Cycles" in docs/timeloop-export.md), then per component (Timeloop's levels summed per
SpikeX component: GLB = GLB + GLB_outputs + GLB_weights, Vmem = Vmem + Vmem_membrane, ...), and
names every sparse run that Timeloop finds slower than the layer's dense run (with density 1
among --densities). The tables are also written to <out>/compare.md. Not run in CI: Timeloop is built from source (see
docs/timeloop-export.md).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path


from spikex_plugin.export.timeloop import export_timeloop, spikex_component

RUN = ["arch.yaml", "problem.yaml", "sparse_optimizations.yaml", "mapping.yaml", "../ERT.yaml", "../ART.yaml",
       "-o", "model"]  # the documented command (README of each export)


def parse_stats(path: Path) -> dict:
    """Cycles, energy (J), per-component energy (J) and the slowest level (name, cycles) from a
    timeloop-model.stats.txt (per-component lines are fJ per algorithmic compute, as timeloopfe
    reads them; the total cycles are the slowest level's plus the networks' latencies)."""
    text = path.read_text()
    summary = text[text.rindex("Summary Stats"):]
    levels = re.findall(r"^=== (\S+) ===\n(?:.*\n)*?\s+Cycles\s+: (\d+)$", text[:text.rindex("Summary Stats")], re.M)
    slowest = max(levels, key=lambda level: int(level[1]))
    cycles = int(re.search(r"^Cycles: (\d+)", summary, re.M).group(1))
    energy_uj = float(re.search(r"^Energy: ([\d.eE+-]+) uJ", summary, re.M).group(1))
    computes = int(re.search(r"^Algorithmic Computes = (\d+)", summary, re.M).group(1))
    per_compute = summary[summary.index("fJ/Algorithmic-Compute"):].split("\n\n")[0]
    parts: dict[str, float] = {}
    for name, fj in re.findall(r"^\s+(\S+)\s+= ([\d.eE+-]+)$", per_compute, re.M):
        if name != "Total":
            comp = spikex_component(name)
            parts[comp] = parts.get(comp, 0.0) + float(fj) * computes * 1e-15
    return {"cycles": cycles, "energy_j": energy_uj * 1e-6, "parts": parts,
            "slowest": (slowest[0], int(slowest[1]))}


def run_layer(tl: str, layer_dir: Path, env: dict, args: list[str] = RUN, out: str = "model") -> dict:
    """The documented command in one layer directory; its exit status and Timeloop's stats."""
    (layer_dir / out).mkdir(exist_ok=True)
    log = layer_dir / out / "tl.log"
    with open(log, "w") as f:
        rc = subprocess.run([tl, "model", *args], cwd=layer_dir, env=env, stdout=f, stderr=subprocess.STDOUT).returncode
    stats = layer_dir / out / "timeloop-model.stats.txt"
    if not stats.is_file():
        return {"rc": rc, "error": log.read_text()[-2000:]}
    return {"rc": rc, **parse_stats(stats)}


def ratio(a: float, b: float) -> str:
    return f"{a / b:.3f}" if b else ("-" if not a else "inf")


def layer_rows(net: str, density: float, entry: dict, tl: dict) -> tuple[list[str], list[str]]:
    """One summary row and the per-component rows of a layer."""
    if "error" in tl:
        return [f"| {net} | {density:g} | {entry['name']} | Timeloop failed (rc {tl['rc']}) | | | | | | | | |"], []
    ours_e, ours_c = entry["spikex_energy_j"], entry["spikex_cycles"]
    level, level_cycles = tl["slowest"]
    head = (f"| {net} | {density:g} | {entry['name']} | {tl['rc']} | {tl['energy_j'] * 1e6:.4g} | {ours_e * 1e6:.4g} "
            f"| {ratio(tl['energy_j'], ours_e)} | {tl['cycles']:.6g} | {ours_c:.6g} | {ratio(tl['cycles'], ours_c)} "
            f"| {level} {level_cycles:.6g} | {tl['cycles'] - level_cycles:.6g} |")
    ours = entry["spikex_energy_by_component_j"]
    rows = []
    for comp in list(dict.fromkeys([*ours, *tl["parts"]])):
        t, o = tl["parts"].get(comp, 0.0), ours.get(comp, 0.0)
        share = o / ours_e if ours_e else 0.0
        rows.append(f"| {net} | {density:g} | {entry['name']} | {comp} | {t * 1e6:.4g} | {o * 1e6:.4g} | {ratio(t, o)} "
                    f"| {share:.1%} |")
    return [head], rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeloop-bin", required=True, help="directory holding timeloop-model")
    ap.add_argument("--tl", required=True, help="timeloopfe's `tl` command (in its venv's bin/)")
    ap.add_argument("--out", required=True, help="working directory for the exports and Timeloop's outputs")
    ap.add_argument("--networks", nargs="+", default=["nmnist", "dvsg-medium"])
    ap.add_argument("--densities", nargs="+", type=float, default=[1.0, 0.01, 0.001])
    ap.add_argument("--arch", default="spikex")
    ap.add_argument("--workers", type=int, default=1)
    ap.add_argument("--energy-tables", action="store_true",
                    help="also run the Accelergy table path (registers each export's energy_tables/ with "
                         "accelergyTables -r, runs without ERT/ART into model_accelergy/) and compare")
    args = ap.parse_args()
    tl_bin = Path(args.timeloop_bin).resolve()
    if not (tl_bin / "timeloop-model").is_file():
        print(f"{tl_bin}: no timeloop-model there (--timeloop-bin)", file=sys.stderr)
        return 2
    tl = str(Path(args.tl).resolve())
    env = {**os.environ, "PATH": f"{tl_bin}{os.pathsep}{Path(tl).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    heads = ["| network | density | layer | tl exit | Timeloop uJ | ours uJ | energy ratio | Timeloop cycles "
             "| our cycles | cycle ratio | Timeloop's slowest level | + latencies |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    comps = ["| network | density | layer | component | Timeloop uJ | ours uJ | ratio | our share |",
             "|---|---|---|---|---|---|---|---|"]
    failed = 0
    cycles: dict[tuple[str, str], dict[float, int]] = {}  # (network, layer) -> {density: Timeloop's cycles}
    for net in args.networks:
        for density in args.densities:
            out = Path(args.out) / f"{net}-{density:g}"
            index = export_timeloop(args.arch, net, density, out_dir=out, workers=args.workers)
            if args.energy_tables:
                subprocess.run([str(Path(tl).parent / "accelergyTables"), "-r", str((out / "energy_tables").resolve())],
                               env=env, check=True, capture_output=True)
            for entry in index["layers"]:
                result = run_layer(tl, out / entry["dir"], env)
                failed += result["rc"] != 0
                if args.energy_tables:
                    tables = run_layer(tl, out / entry["dir"], env, RUN[:4] + ["-o", "model_accelergy"], "model_accelergy")
                    failed += tables["rc"] != 0
                    gap = max((abs(tables["parts"].get(c, 0.0) - e) / e for c, e in result.get("parts", {}).items() if e),
                              default=float("nan")) if "parts" in tables else float("nan")
                    print(f"  {entry['name']}: energy-table path exit {tables['rc']}, largest per-component "
                          f"difference from the ERT path {gap:.2e}", flush=True)
                h, c = layer_rows(net, density, entry, result)
                if "cycles" in result:
                    cycles.setdefault((net, entry["name"]), {})[density] = result["cycles"]
                heads += h
                comps += c
                print(h[0], flush=True)
    text = "\n".join(heads) + "\n\n" + "\n".join(comps) + "\n"
    (Path(args.out) / "compare.md").write_text(text)
    print("\n" + "\n".join(comps))
    for (net, name), by_density in cycles.items():  # a sparse run slower than the dense one has a cause to find
        for density, c in by_density.items():
            if 1.0 in by_density and c > by_density[1.0]:
                print(f"{net} {name}: Timeloop's run at density {density:g} takes {c} cycles, its dense run {by_density[1.0]}")
    print(f"\n{failed} layer runs exited non-zero; tables in {Path(args.out) / 'compare.md'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
