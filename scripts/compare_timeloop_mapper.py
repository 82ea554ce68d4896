"""Timeloop's mapper against ours on exported layers, each best mapping priced in both models.

    python scripts/compare_timeloop_mapper.py --timeloop-bin /work/tools/bin \
        --tl /work/tools/tlvenv/bin/tl --out /tmp/tlmap --layers nmnist:conv1 nmnist:fc1 \
        [--density 1] [--search-size 1000] [--threads 2] [--victory 300] [--wall-s 600]

Per layer: `spikex export-timeloop` (our mapper's mapping), then in the layer directory the
documented `tl mapper ... constraints.yaml mapper.yaml ... -o mapper` with the search bounded
(search_size valid mappings per thread, victory_condition, threads). Timeloop's best mapping
is read back into the SpikeX template (rows <- M, columns <- T windows or Q, TWS = the weight
register's T, the L1 channel chunk = the Vmem's C, the GLB tile from the GLB loops, the DRAM
order from the DRAM loops) when it is one, priced by our model, written out with its own
timing attributes (`timing_attributes`) and run through timeloop-model, so both mappings are
priced by both models. Prints a table (EDP in uJ x cycles) and writes <out>/mapper.md. Not run
in CI (needs Timeloop; see docs/timeloop-export.md).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from compare_timeloop import parse_stats, run_layer
from spikex_plugin.api import densities_for
from spikex_plugin.cost_model.spikex import LayerCost, evaluate_layer
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.export.timeloop import (arch_spec, check_exportable, dump_yaml, export_timeloop, mapping_spec,
                                           timing_attributes)
from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.mapping.mapspace import candidate_mappings
from spikex_plugin.workload.network import Layer, load_network


def timeloop_factors(map_yaml: Path) -> dict[tuple[str, str], dict[str, int]]:
    """{(level, temporal|spatial): {dim: factor}} and the permutations of a timeloop-mapper.map.yaml."""
    loops: dict = {}
    for t in yaml.safe_load(map_yaml.read_text())["mapping"]:
        if t["type"] in ("temporal", "spatial"):
            loops[(t["target"], t["type"])] = {f[0]: int(f[1:]) for f in t["factors"].split()}
            loops[(t["target"], t["type"] + "_permutation")] = t["permutation"]
    return loops


def as_spikex_mapping(layer: Layer, loops: dict) -> SpikeXMapping | str:
    """Timeloop's mapping in the SpikeX template, or why it is not one."""
    space = loops[("inter_PE_spatial", "spatial")]
    if space["T"] > 1 and space["Q"] > 1:
        return f"columns take both T ({space['T']}) and Q ({space['Q']}): SpikeX has one dispatch mode per layer"
    mode = "spatial" if space["Q"] > 1 else "temporal"
    cols, rows = space["Q"] if mode == "spatial" else space["T"], space["M"]
    tws, vmem = loops[("WReg", "temporal")]["T"], loops[("Vmem", "temporal")]
    if (vmem["R"], vmem["S"]) != (layer.R, layer.S):
        return "the kernel window is split above the Vmem"
    glb = loops[("GLB_weights", "temporal")]
    tb = cols * tws if mode == "temporal" else tws
    # The DRAM loops: DRAM_weights' (Timeloop lists them inner to outer), then the M loop the
    # export places just below the GLB's spike level (the innermost DRAM loop).
    dram = loops[("DRAM_weights", "temporal")]
    outer_to_inner = [d for d in reversed(loops[("DRAM_weights", "temporal_permutation")]) if dram[d] > 1]
    if loops[("GLB", "temporal")]["M"] > 1:
        outer_to_inner.append("M")
    order = "".join(d.lower() for d in outer_to_inner) + "".join(d for d in "tmp" if d.upper() not in outer_to_inner)
    return SpikeXMapping(mode, tws, rows, cols, vmem["C"], tb * glb["T"], rows * glb["M"], glb["P"], order)


def ours_of(layer: Layer, m: SpikeXMapping, arch, d) -> dict:
    cost = evaluate_layer(layer, m, arch, d)
    return {"energy_uj": cost.energy_j * 1e6, "cycles": cost.cycles, "cost": cost}


def in_our_mapspace(layer: Layer, arch, m: SpikeXMapping) -> str:
    """Whether our enumeration lists `m` (DRAM orders that differ only in loops of bound 1 are one)."""
    def key(x: SpikeXMapping) -> tuple:
        bounds = {"t": layer.T // x.tb_glb, "m": layer.M // x.m_glb, "p": layer.P // x.p_glb}
        return (x.mode if x.cols > 1 else "", x.tws, x.rows, x.cols, x.c_l1, x.tb_glb, x.m_glb, x.p_glb,
                "".join(c for c in x.dram_order if bounds[c] > 1))
    listed = {key(c) for c in candidate_mappings(layer, arch)}
    if key(m) in listed:
        return "listed"
    same_l1 = {k[:5] for k in listed}
    return "template, another GLB tile" if key(m)[:5] in same_l1 else "outside"


def timeloop_of_mapping(layer_dir: Path, run_dir: Path, layer: Layer, m: SpikeXMapping, arch, d, cost: LayerCost,
                        technology: str, tl: str, env: dict) -> dict:
    """timeloop-model on `m` with the timing attributes of `m` itself."""
    if run_dir.exists():
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True)
    for name in ("problem.yaml", "sparse_optimizations.yaml"):
        shutil.copy(layer_dir / name, run_dir / name)
    (run_dir / "arch.yaml").write_text(dump_yaml(arch_spec(arch, technology, timing_attributes(layer, m, arch, d, cost))))
    (run_dir / "mapping.yaml").write_text(dump_yaml(mapping_spec(layer, m)))
    (run_dir / "model").mkdir()
    shutil.copy(layer_dir / "model" / "timeloop-model.ART.yaml", run_dir / "model")
    top = layer_dir.parent.resolve()
    return run_layer(tl, run_dir, env, ["arch.yaml", "problem.yaml", "sparse_optimizations.yaml", "mapping.yaml",
                                        str(top / "ERT.yaml"), str(top / "ART.yaml"), "-o", "model"])


def run_mapper(tl: str, layer_dir: Path, env: dict, args) -> tuple[int, float]:
    spec = yaml.safe_load((layer_dir / "mapper.yaml").read_text())
    spec["mapper"].update({"search_size": args.search_size, "num_threads": args.threads,
                           "victory_condition": args.victory, "timeout": args.timeout})
    (layer_dir / "mapper_bounded.yaml").write_text(dump_yaml(spec))
    cmd = [tl, "mapper", "arch.yaml", "problem.yaml", "sparse_optimizations.yaml", "constraints.yaml",
           "mapper_bounded.yaml", "../ERT.yaml", "../ART.yaml", "-o", "mapper"]
    (layer_dir / "mapper" / "timeloop-mapper.stats.txt").unlink(missing_ok=True)  # only this run's result counts
    start = time.monotonic()
    with open(layer_dir / "mapper.log", "w") as f:
        proc = subprocess.Popen(cmd, cwd=layer_dir, env=env, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = proc.wait(timeout=args.wall_s)
        except subprocess.TimeoutExpired:
            rc = interrupt_search(proc)
    return rc, time.monotonic() - start


def interrupt_search(proc: subprocess.Popen) -> int:
    """End a search that ran out of time with its best mapping written: on one SIGINT
    timeloop-mapper stops its threads and writes its results. Only the mapper gets it (tl, its
    parent, would kill it on its own SIGINT); if it has not ended in two minutes, the group is
    stopped. Returns tl's exit status (not 0: tl reports the interrupt), or 124 when stopped."""
    for pid in Path(f"/proc/{proc.pid}/task/{proc.pid}/children").read_text().split():
        os.kill(int(pid), signal.SIGINT)
    try:
        return proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait()
        return 124


def edp(energy_uj: float, cycles: float) -> float:
    return energy_uj * cycles


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--timeloop-bin", required=True)
    ap.add_argument("--tl", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--layers", nargs="+", required=True, help="network:layer, e.g. nmnist:conv1")
    ap.add_argument("--density", type=float, default=1.0)
    ap.add_argument("--arch", default="spikex")
    ap.add_argument("--search-size", type=int, default=1000)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--victory", type=int, default=300)
    ap.add_argument("--timeout", type=int, default=2000, help="Timeloop's: consecutive invalid mappings")
    ap.add_argument("--wall-s", type=float, default=600,
                    help="interrupt a search after this many seconds (it writes its best mapping so far)")
    args = ap.parse_args()
    tl_bin, tl = Path(args.timeloop_bin).resolve(), str(Path(args.tl).resolve())
    env = {**os.environ, "PATH": f"{tl_bin}{os.pathsep}{Path(tl).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    arch = load_arch(args.arch)
    rows = ["| network | layer | mapper run | our best | in ours: E uJ, cycles, EDP | in Timeloop: E uJ, cycles, "
            "EDP | Timeloop's best | in our mapspace | in ours: E uJ, cycles, EDP | in Timeloop: E uJ, cycles, EDP "
            "| as the mapper priced it (our mapping's timing attributes) |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    by_net: dict[str, list[str]] = {}
    for item in args.layers:
        net, name = item.split(":")
        by_net.setdefault(net, []).append(name)
    for net, names in by_net.items():
        network = load_network(net)
        out = Path(args.out) / f"{net}-{args.density:g}"
        index = export_timeloop(arch, network, args.density, out_dir=out, workers=1)
        dens, _ = densities_for(network, args.density)
        for entry in (e for e in index["layers"] if e["name"] in names):
            layer, layer_dir = network.layer(entry["name"]), out / entry["dir"]
            d, ours_m = dens[layer.name], SpikeXMapping(**entry["mapping"])
            ours = ours_of(layer, ours_m, arch, d)
            ours_tl = run_layer(tl, layer_dir, env)
            rc, wall = run_mapper(tl, layer_dir, env, args)
            stats = layer_dir / "mapper" / "timeloop-mapper.stats.txt"
            found = parse_stats(stats) if stats.is_file() else None  # an interrupted search writes its best too
            interrupted = " (interrupted)" if wall >= args.wall_s else ""
            cells = [net, layer.name, f"exit {rc}, {wall:.0f} s{interrupted}", ours_m.summary(),
                     f"{ours['energy_uj']:.4g}, {ours['cycles']:.6g}, {edp(ours['energy_uj'], ours['cycles']):.4g}",
                     f"{ours_tl['energy_j'] * 1e6:.4g}, {ours_tl['cycles']}, "
                     f"{edp(ours_tl['energy_j'] * 1e6, ours_tl['cycles']):.4g}"]
            if found is None:
                rows.append("| " + " | ".join(cells + ["no mapping", "", "", "", ""]) + " |")
                print(rows[-1], flush=True)
                continue
            theirs = as_spikex_mapping(layer, timeloop_factors(layer_dir / "mapper" / "timeloop-mapper.map.yaml"))
            in_tl_mapper = f"{found['energy_j'] * 1e6:.4g}, {found['cycles']}, {edp(found['energy_j'] * 1e6, found['cycles']):.4g}"
            if isinstance(theirs, str):
                cells += [f"not a SpikeX mapping: {theirs}", "outside", "-", "-"]
            else:
                try:
                    check_exportable(arch, layer, theirs)
                    fits = ""
                except SpikeXInputError as e:
                    fits = f" (SpikeX rejects it: {e.field})"
                mine = ours_of(layer, theirs, arch, d)
                again = timeloop_of_mapping(layer_dir, layer_dir / "timeloop_best", layer, theirs, arch, d,
                                            mine["cost"], index["technology"], tl, env)
                cells += [theirs.summary() + fits, "outside: does not fit" if fits else in_our_mapspace(layer, arch, theirs),
                          f"{mine['energy_uj']:.4g}, {mine['cycles']:.6g}, {edp(mine['energy_uj'], mine['cycles']):.4g}",
                          f"{again['energy_j'] * 1e6:.4g}, {again['cycles']}, "
                          f"{edp(again['energy_j'] * 1e6, again['cycles']):.4g}" if "cycles" in again else "failed"]
            cells.append(in_tl_mapper)
            rows.append("| " + " | ".join(cells) + " |")
            print(rows[-1], flush=True)
    (Path(args.out) / "mapper.md").write_text("\n".join(rows) + "\n")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
