"""Error table: analytic SpikeX model vs the trace-driven reference simulator (tests/).

Run: .venv/bin/python benchmarks/model_vs_reference.py
For each layer, trace kind and firing rate, the worst relative error over both dispatch
modes and TWS 1..16 (mapping: the mapper's best for that mode and TWS), 8 sampled inferences.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_sim import simulate  # noqa: E402
from test_reference_sim import CONV, FC, SAMPLES  # noqa: E402

from spikex_plugin.cost_model.spikex import evaluate_layer  # noqa: E402
from spikex_plugin.hardware.arch import load_arch  # noqa: E402
from spikex_plugin.mapping.mapper import map_layer  # noqa: E402
from spikex_plugin.sparsity.density import ActualDataDensity  # noqa: E402
from spikex_plugin.sparsity.stats import layer_stats_from_spikes, sample_bursty_trace  # noqa: E402


def main() -> None:
    arch = load_arch()
    print(f"{'layer':<5} {'trace':<7} {'rate':>7} {'max |energy err|':>17} {'max |cycle err|':>16}  worst case")
    for layer in (CONV, FC):
        for corr in (0.0, 0.8):
            for rate in (1e-4, 1e-3, 1e-2, 0.1, 0.5):
                trace = sample_bursty_trace(layer.input_shape, layer.T, rate, corr if rate < 0.5 else 0.0,
                                            samples=SAMPLES, seed=7)
                density = ActualDataDensity(layer_stats_from_spikes(trace))
                worst_e = worst_c = 0.0
                where = ""
                for mode in ("temporal", "spatial"):
                    for tws in (1, 2, 4, 8, 16):
                        m = map_layer(layer, arch, density, "edp", [tws], [mode]).cost.mapping
                        model = evaluate_layer(layer, m, arch, density)
                        refs = [simulate(layer, m, arch, trace[:, i]) for i in range(SAMPLES)]
                        e = model.energy_j / np.mean([r.energy_j for r in refs]) - 1
                        c = model.cycles / np.mean([r.cycles for r in refs]) - 1
                        if max(abs(e), abs(c)) > max(worst_e, worst_c):
                            where = f"{mode} tws={tws}: energy {e:+.3f}, cycles {c:+.3f}"
                        worst_e, worst_c = max(worst_e, abs(e)), max(worst_c, abs(c))
                kind = "bursty" if corr and rate < 0.5 else "uniform"
                print(f"{layer.name:<5} {kind:<7} {rate:>7g} {worst_e:>16.1%} {worst_c:>15.1%}  {where}")


if __name__ == "__main__":
    main()
