"""Error table: analytic SpikeX model vs the trace-driven reference simulator (tests/).

Run: .venv/bin/python benchmarks/model_vs_reference.py [SEED ...]
For each layer, trace kind and firing rate, the worst relative error over both dispatch
modes and TWS 1..16 (mapping: the mapper's best for that mode and TWS) and the given trace
seeds (default 7, the test's), against the mean over sampled inferences.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_reference_sim import CONV, FC, RARE_SAMPLES, SAMPLES, model_vs_reference  # noqa: E402

from spikex_plugin.hardware.arch import load_arch  # noqa: E402


def main() -> None:
    seeds = [int(a) for a in sys.argv[1:]] or [7]
    arch = load_arch()
    print(f"{'layer':<5} {'trace':<7} {'rate':>7} {'inferences':>10} {'max |energy err|':>17} "
          f"{'max |cycle err|':>16}  worst case (seeds {seeds})")
    for layer in (CONV, FC):
        for corr in (0.0, 0.8):
            for rate in (1e-4, 1e-3, 1e-2, 0.1, 0.5):
                rows = [(seed, *r) for seed in seeds for r in model_vs_reference(arch, layer, corr, rate, seed)]
                worst = max(rows, key=lambda r: max(abs(r[3]), abs(r[4])))
                kind = "bursty" if corr and rate < 0.5 else "uniform"
                print(f"{layer.name:<5} {kind:<7} {rate:>7g} {RARE_SAMPLES if rate <= 1e-4 else SAMPLES:>10} "
                      f"{max(abs(r[3]) for r in rows):>16.1%} {max(abs(r[4]) for r in rows):>15.1%}  "
                      f"seed {worst[0]} {worst[1]} tws={worst[2]}: energy {worst[3]:+.3f}, cycles {worst[4]:+.3f}")


if __name__ == "__main__":
    main()
