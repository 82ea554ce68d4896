"""SpikeX-vs-PTB EDP gain against each knob of the structured statistics generator
(sparsity/generator.py), one knob at a time from the neutral point, at one mean rate.

    python scripts/knob_sensitivity.py --network dvsg-medium --out out/knobs

Writes knobs.json (one row per point) and knobs.png (gain vs each knob).
"""

from __future__ import annotations

import argparse
import json
import tempfile
from dataclasses import asdict, replace
from pathlib import Path

from spikex_plugin.api import run_map
from spikex_plugin.sparsity.generator import StructureKnobs, network_structured_stats
from spikex_plugin.workload.network import load_network

SWEEPS = {"channel_skew": [0.0, 0.5, 1.0, 1.5, 2.0], "active_fraction": [1.0, 0.5, 0.25, 0.1, 0.05],
          "burstiness": [0.0, 0.3, 0.6, 0.8, 0.9]}


def gain(name: str, knobs: StructureKnobs, samples: int, seed: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "stats.json"
        network_structured_stats(load_network(name), knobs, samples, seed).save(path)
        spikex = run_map("spikex", name, profile=str(path), workers=1).edp_js
        ptb = run_map("ptb", name, profile=str(path), workers=1).edp_js
    return {**asdict(knobs), "spikex_edp_js": spikex, "ptb_edp_js": ptb, "gain": ptb / spikex}


def plot(rows: list[dict], rate: float, name: str, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SWEEPS), figsize=(4 * len(SWEEPS), 3.2), sharey=True)
    for ax, knob in zip(axes, SWEEPS):
        pts = [r for r in rows if r["knob"] == knob]
        ax.plot([r[knob] for r in pts], [r["gain"] for r in pts], "o-")
        ax.set_xlabel(knob)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("SpikeX-vs-PTB EDP gain (x)")
    fig.suptitle(f"{name}: gain vs firing structure at mean rate {rate:.2%}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--network", default="dvsg-medium")
    ap.add_argument("--rate", type=float, default=0.005)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("out/knobs"))
    args = ap.parse_args()
    base = StructureKnobs(rate=args.rate)
    rows = []
    for knob, values in SWEEPS.items():
        for v in values:
            row = {"knob": knob, **gain(args.network, replace(base, **{knob: v}), args.samples, args.seed)}
            rows.append(row)
            print(f"{knob}={v:g}: gain {row['gain']:.2f}x", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "knobs.json").write_text(json.dumps(rows, indent=1) + "\n")
    plot(rows, args.rate, args.network, args.out / "knobs.png")
    print(f"wrote {args.out}/knobs.json and knobs.png")


if __name__ == "__main__":
    main()
