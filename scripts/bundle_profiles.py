"""Bundle the statistics of a `spikex train --network NAME` run as named profiles and
rewrite spikex_plugin/sparsity/profiles/README.md (accuracy, the command, per-layer rate,
time-window and SP-MB occupancy beside uniform 0.5 %, SpikeX-vs-PTB EDP).

    python scripts/bundle_profiles.py --run runs/nmnist --network nmnist \
        --minutes 21.5 --command "spikex train --network nmnist ..." [--betas 0.5 2] \
        [--cpu-minutes 35.2 --load "3.1 -> 4.0"]
    python scripts/bundle_profiles.py --rescore

A run's stats.json (one-beta run) and beta_<b>/stats.json (sweep) are bundled by beta:
beta 0 becomes <network>-trained, the smaller and larger beta > 0 <network>-trained-hw-low
and -hw-high; `--betas` bundles only those. Files are written compactly with 7 significant
digits; metadata accumulates in metadata.yaml (one entry per profile). The SpikeX-vs-PTB
EDPs (report/compare.py: SpikeX 8x8 against PTB 8x8 and 16x8) are recomputed for every
bundled profile on each run, so they follow the current cost models; `--rescore` does only that.
"""

from __future__ import annotations

import argparse
import json
import subprocess
from pathlib import Path

import yaml

from spikex_plugin.api import densities_for
from spikex_plugin.report.compare import spikex_vs_ptb
from spikex_plugin.sparsity.stats import bundled_profiles_dir, layer_stats_from_rate, load_stats
from spikex_plugin.workload.network import load_network

HW_SUFFIXES = ("trained-hw-low", "trained-hw-high")
PTBS = ("ptb-8x8", "ptb-16x8")
WINDOW, BLOCK = 4, 16      # time-window occupancy at w = 4; SP-MB = one channel x 16 steps
UNIFORM = 0.005


def layer_summary(stats) -> dict:
    return {n: {"rate": float(s.rate), "window": float(s.window_occupancy[WINDOW - 1]),
                "spmb": float(s.channel_block_occupancy[1][BLOCK - 1])} for n, s in stats.layers.items()}


def edp_gain(network: str, profile: str | None) -> dict:
    """SpikeX 8x8 EDP and each PTB's EDP and gain (PTB / SpikeX), as the report measures them."""
    net = load_network(network)
    dens = densities_for(net, profile=profile)[0] if profile else densities_for(net, UNIFORM)[0]
    r = spikex_vs_ptb(net, dens, PTBS)
    return {"spikex_edp_js": r["spikex"]["edp_js"],
            **{f"{k}_edp_js": r[k]["edp_js"] for k in PTBS}, **{f"gain_vs_{k}": r[f"gain vs {k}"]["edp"] for k in PTBS}}


def runs_by_name(run: Path, network: str, betas: list[float] | None) -> dict[str, tuple[dict, Path]]:
    """Profile name -> (metrics, run dir): beta 0 is `trained`, betas > 0 `hw-low`, `hw-high`."""
    dirs = [p.parent for p in run.glob("beta_*/metrics.json")] + ([run] if (run / "metrics.json").is_file() else [])
    runs = [(json.loads((d / "metrics.json").read_text()), d) for d in dirs]
    runs = sorted((r for r in runs if betas is None or r[0]["beta"] in betas), key=lambda r: r[0]["beta"])
    named = {f"{network}-trained": r for r in runs if r[0]["beta"] == 0}
    hw = [r for r in runs if r[0]["beta"] > 0]
    if len(hw) > len(HW_SUFFIXES):
        raise SystemExit(f"{run}: {len(hw)} betas > 0; bundle at most two (--betas)")
    named.update({f"{network}-{suffix}": r for suffix, r in zip(HW_SUFFIXES, hw)})
    return named


def head_commit() -> str:
    """The checkout's commit: the hardware-aware loss is priced by the cost model of that code."""
    return subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                          check=True, cwd=Path(__file__).parent).stdout.strip()


def bundle(run: Path, network: str, command: str, minutes: float, betas: list[float] | None,
           note: str | None, cpu_minutes: float | None = None, load: str | None = None,
           commit: str | None = None) -> list[str]:
    out_dir = bundled_profiles_dir()
    meta_path = out_dir / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text()) if meta_path.is_file() else {}
    named = runs_by_name(run, network, betas)
    for name, (m, run_dir) in named.items():
        stats = load_stats(run_dir / "stats.json")
        stats.network = network
        stats.save(out_dir / f"{name}.json", significant=7)
        meta[name] = {"network": network, "beta": float(m["beta"]), "accuracy": float(m["accuracy"]),
                      "test_samples": next(iter(stats.layers.values())).samples, "command": command,
                      "wall_minutes_all_betas": minutes,
                      **({"cpu_minutes_all_betas": cpu_minutes} if cpu_minutes is not None else {}),
                      **({"load_average": load} if load else {}), **({"note": note} if note else {}),
                      **({"commit": commit} if commit else {}),
                      "layers": layer_summary(stats)}
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return list(named)


def rescore(meta: dict) -> None:
    """Recompute every profile's EDPs, and each network's uniform ones, with the current models."""
    uniform = {n: edp_gain(n, None) for n in dict.fromkeys(m["network"] for m in meta.values())}
    for name, m in meta.items():
        m["edp"] = edp_gain(m["network"], str(bundled_profiles_dir() / f"{name}.json"))
        m["uniform_edp"] = uniform[m["network"]]
        m.pop("uniform_gain", None)   # written by earlier versions (PTB 16x8 only)


def readme(meta: dict) -> str:
    lines = ["# Bundled trained firing profiles", "",
             "Firing statistics (`spikex-firing-stats/1`) recorded on the held-out split of the emulated",
             "event tasks (docs/event-camera.md) by the bundled networks trained with `spikex train",
             "--network NAME`; `hw-low`/`hw-high` add the hardware-aware loss with the beta shown.",
             "Use: `spikex map --network NAME --profile NAME-trained`. Written by scripts/bundle_profiles.py;",
             "the numbers below are in metadata.yaml. EDPs: SpikeX 8x8 (per-layer TWS) against PTB 8x8 and",
             "16x8 (best global TW), as `spikex report` section 1 measures them, recomputed with the current",
             "cost models by `python scripts/bundle_profiles.py --rescore`.", "",
             f"Columns per layer: rate = spikes per (input line, step); window = time-window occupancy at "
             f"w = {WINDOW}; SP-MB = occupancy of one input channel x {BLOCK} steps. `uniform` is independent "
             f"firing at {UNIFORM:.1%}.", ""]
    single = sorted({m["network"] for m in meta.values()} - {m["network"] for n, m in meta.items() if n.endswith("-hw-low")})
    if single:
        lines += [f"Without hardware-aware variants (beta 0 only: training them too would exceed 30 min on this "
                  f"machine): {', '.join(single)}.", ""]
    for name, m in meta.items():
        net = load_network(m["network"])
        uni = {l.name: layer_stats_from_rate(l.input_shape, l.T, UNIFORM) for l in net.resolved}
        e, ue = m["edp"], m["uniform_edp"]
        lines += [f"## {name}", "",
                  f"beta {m['beta']:g}; accuracy {100 * m['accuracy']:.1f} % on {m['test_samples']} held-out samples; "
                  f"the command (every beta it trains) ran {m['wall_minutes_all_betas']:.1f} min on this 2-core "
                  f"machine, shared with other jobs" + (f" ({m['cpu_minutes_all_betas']:.1f} min of process CPU time; "
                  f"load averages {m['load_average']})" if "cpu_minutes_all_betas" in m else "") + ".",
                  *([m["note"]] if "note" in m else []),
                  *([f"Made on commit {m['commit']}."] if "commit" in m else []), "", "```", m["command"], "```", "",
                  f"EDP SpikeX 8x8 {e['spikex_edp_js']:.3e} J*s; " + "; ".join(
                      f"PTB {k[4:]} {e[f'{k}_edp_js']:.3e} J*s, SpikeX-vs-PTB {k[4:]} gain {e[f'gain_vs_{k}']:.2f}x "
                      f"(uniform {UNIFORM:.1%}: {ue[f'gain_vs_{k}']:.2f}x)" for k in PTBS) + ".", "",
                  "| layer | rate | uniform | window | uniform | SP-MB | uniform |", "|---|---|---|---|---|---|---|"]
        for layer, s in m["layers"].items():
            u = uni[layer]
            lines.append(f"| {layer} | {s['rate']:.4%} | {u.rate:.2%} | {s['window']:.4f} | "
                         f"{u.window_occupancy[WINDOW - 1]:.4f} | {s['spmb']:.4f} | {u.channel_block_occupancy[1][BLOCK - 1]:.4f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", type=Path)
    ap.add_argument("--network")
    ap.add_argument("--command")
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--betas", type=float, nargs="+", help="bundle only these betas of the run")
    ap.add_argument("--note", help="a sentence printed under the profile's heading (how it was made)")
    ap.add_argument("--cpu-minutes", type=float, help="process CPU time of the command (user + system)")
    ap.add_argument("--load", help="the machine's load averages while it ran, e.g. '3.1 at start, 4.0 at end'")
    ap.add_argument("--commit", help="the commit the command ran on (default: this checkout's HEAD)")
    ap.add_argument("--rescore", action="store_true", help="only recompute the EDPs and the README")
    args = ap.parse_args()
    if not args.rescore and None in (args.run, args.network, args.command, args.minutes):
        ap.error("--run, --network, --command and --minutes are required unless --rescore")
    names = [] if args.rescore else bundle(args.run, args.network, args.command, args.minutes, args.betas, args.note,
                                            args.cpu_minutes, args.load, args.commit or head_commit())
    meta_path = bundled_profiles_dir() / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    rescore(meta)
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    (bundled_profiles_dir() / "README.md").write_text(readme(meta))
    for name in names or meta:
        m = meta[name]
        print(f"{name} beta={m['beta']:g} accuracy={100 * m['accuracy']:.1f}% " + " ".join(
            f"gain_vs_{k}={m['edp'][f'gain_vs_{k}']:.2f}x" for k in PTBS))


if __name__ == "__main__":
    main()
