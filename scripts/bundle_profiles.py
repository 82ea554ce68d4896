"""Bundle the statistics of a `spikex train --network NAME` run as named profiles and
rewrite spikex_plugin/sparsity/profiles/README.md (accuracy, the command, per-layer rate,
time-window and SP-MB occupancy beside uniform 0.5 %, SpikeX-vs-PTB EDP).

    python scripts/bundle_profiles.py --run runs/nmnist --network nmnist \
        --minutes 21.5 --command "spikex train --network nmnist ..."

Each run's beta_<b>/stats.json (or stats.json of a one-beta run) becomes <network>-trained (the smallest beta, normally 0),
<network>-trained-hw-low and <network>-trained-hw-high (the next two), written compactly
with 7 significant digits. Metadata accumulates in metadata.yaml (one entry per profile).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from spikex_plugin.api import run_map
from spikex_plugin.sparsity.stats import bundled_profiles_dir, layer_stats_from_rate, load_stats
from spikex_plugin.workload.network import load_network

SUFFIXES = ("trained", "trained-hw-low", "trained-hw-high")
WINDOW, BLOCK = 4, 16      # time-window occupancy at w = 4; SP-MB = one channel x 16 steps
UNIFORM = 0.005


def layer_summary(stats) -> dict:
    return {n: {"rate": float(s.rate), "window": float(s.window_occupancy[WINDOW - 1]),
                "spmb": float(s.channel_block_occupancy[1][BLOCK - 1])} for n, s in stats.layers.items()}


def edp_gain(network: str, profile: str | None) -> dict:
    kw = {"profile": profile} if profile else {"density": UNIFORM}
    spikex = float(run_map("spikex", network, workers=1, **kw).edp_js)
    ptb = float(run_map("ptb", network, workers=1, **kw).edp_js)
    return {"spikex_edp_js": spikex, "ptb_edp_js": ptb, "gain": ptb / spikex}


def bundle(run: Path, network: str, command: str, minutes: float) -> list[dict]:
    out_dir = bundled_profiles_dir()
    meta_path = out_dir / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text()) if meta_path.is_file() else {}
    dirs = sorted(p.parent for p in run.glob("beta_*/metrics.json")) or [run]   # a sweep, or one beta
    runs = sorted(((json.loads((d / "metrics.json").read_text()), d) for d in dirs), key=lambda r: r[0]["beta"])
    for suffix, (m, run_dir) in zip(SUFFIXES, runs):
        name = f"{network}-{suffix}"
        stats = load_stats(run_dir / "stats.json")
        stats.network = network
        stats.save(out_dir / f"{name}.json", significant=7)
        meta[name] = {"network": network, "beta": float(m["beta"]), "accuracy": float(m["accuracy"]),
                      "test_samples": next(iter(stats.layers.values())).samples, "command": command,
                      "wall_minutes_all_betas": minutes, "layers": layer_summary(stats),
                      "edp": edp_gain(network, str(out_dir / f"{name}.json"))}
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    return [meta[f"{network}-{s}"] for s in SUFFIXES[:len(runs)]]


def readme(meta: dict) -> str:
    lines = ["# Bundled trained firing profiles", "",
             "Firing statistics (`spikex-firing-stats/1`) recorded on the held-out split of the emulated",
             "event tasks (docs/event-camera.md) by the bundled networks trained with `spikex train",
             "--network NAME`; `hw-low`/`hw-high` add the hardware-aware loss with the beta shown.",
             "Use: `spikex map --network NAME --profile NAME-trained`. Written by scripts/bundle_profiles.py;",
             "the numbers below are in metadata.yaml.", "",
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
        e = m["edp"]
        lines += [f"## {name}", "",
                  f"beta {m['beta']:g}; accuracy {100 * m['accuracy']:.1f} % on {m['test_samples']} held-out samples; "
                  f"the command (every beta it trains) ran {m['wall_minutes_all_betas']:.1f} min on this 2-core "
                  f"machine, shared with other jobs.",
                  "", "```", m["command"], "```", "",
                  f"EDP SpikeX {e['spikex_edp_js']:.3e} J*s, PTB {e['ptb_edp_js']:.3e} J*s: SpikeX-vs-PTB gain "
                  f"{e['gain']:.2f}x (uniform {UNIFORM:.1%}: {m.get('uniform_gain', float('nan')):.2f}x)", "",
                  "| layer | rate | uniform | window | uniform | SP-MB | uniform |", "|---|---|---|---|---|---|---|"]
        for layer, s in m["layers"].items():
            u = uni[layer]
            lines.append(f"| {layer} | {s['rate']:.4%} | {u.rate:.2%} | {s['window']:.4f} | "
                         f"{u.window_occupancy[WINDOW - 1]:.4f} | {s['spmb']:.4f} | {u.channel_block_occupancy[1][BLOCK - 1]:.4f} |")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--run", required=True, type=Path)
    ap.add_argument("--network", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--minutes", required=True, type=float)
    args = ap.parse_args()
    rows = bundle(args.run, args.network, args.command, args.minutes)
    meta_path = bundled_profiles_dir() / "metadata.yaml"
    meta = yaml.safe_load(meta_path.read_text())
    uniform = edp_gain(args.network, None)["gain"]
    for name, m in meta.items():
        if m["network"] == args.network:
            m["uniform_gain"] = uniform
    meta_path.write_text(yaml.safe_dump(meta, sort_keys=False))
    (bundled_profiles_dir() / "README.md").write_text(readme(meta))
    for r in rows:
        print(f"{r['network']} beta={r['beta']:g} accuracy={100 * r['accuracy']:.1f}% gain={r['edp']['gain']:.2f}x")


if __name__ == "__main__":
    main()
