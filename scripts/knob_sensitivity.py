"""SpikeX-vs-PTB EDP gain against each knob of the structured statistics generator, one knob
at a time from the neutral point, at one mean rate (report/compare.py; `spikex report`
section 2 runs the same sweep).

    python scripts/knob_sensitivity.py --network dvsg-medium --out out/knobs

Writes knobs.json (one row per point) and knobs.png (gain vs each knob, against PTB 8x8 and 16x8).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from spikex_plugin.report.compare import write_knob_sweep
from spikex_plugin.workload.network import load_network


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--network", default="dvsg-medium")
    ap.add_argument("--rate", type=float, default=0.005)
    ap.add_argument("--samples", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("out/knobs"))
    args = ap.parse_args()
    for r in write_knob_sweep(load_network(args.network), args.rate, args.out, samples=args.samples, seed=args.seed):
        print(f"{r['knob']}={r[r['knob']]:g}: gain vs PTB 8x8 {r['gain_ptb-8x8']:.2f}x, "
              f"vs PTB 16x8 {r['gain_ptb-16x8']:.2f}x")
    print(f"wrote {args.out}/knobs.json and knobs.png")


if __name__ == "__main__":
    main()
