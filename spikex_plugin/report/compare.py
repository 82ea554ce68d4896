"""SpikeX against PTB on one set of per-layer densities: the comparison every section of the
report makes (trained profiles, generator knobs, uniform sensitivity).

SpikeX 8x8 uses the mapper's per-layer TWS; PTB uses its one global time window (the best
by exhaustive search), 8x8 (like-for-like array) or its default 16x8. `FastMapper` returns
what `map_network` returns (tested), and the report maps the same network many times.
"""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from spikex_plugin.cosearch.fastmap import FastMapper  # noqa: E402
from spikex_plugin.cosearch.search import totals  # noqa: E402
from spikex_plugin.hardware.arch import SpikeXArch, load_arch  # noqa: E402
from spikex_plugin.mapping.mapper import evaluate_mapping  # noqa: E402
from spikex_plugin.sparsity.density import ActualDataDensity  # noqa: E402
from spikex_plugin.sparsity.generator import StructureKnobs, network_structured_stats  # noqa: E402
from spikex_plugin.workload.network import Network  # noqa: E402

ARCHS = {"spikex": lambda: load_arch("spikex"), "ptb-8x8": lambda: load_arch("ptb", ROWS=8),
         "ptb-16x8": lambda: load_arch("ptb")}
KNOB_SWEEPS = {"channel_skew": (0.0, 0.5, 1.0, 1.5, 2.0), "active_fraction": (1.0, 0.5, 0.25, 0.1, 0.05),
               "burstiness": (0.0, 0.3, 0.6, 0.8, 0.9)}


def price(net: Network, dens: dict, key: str, drop: tuple[str, ...] = ()) -> dict:
    """Energy, latency, EDP (and PTB's TW) of `net` on ARCHS[key]; `drop` leaves those
    components' energy out."""
    arch: SpikeXArch = ARCHS[key]()
    fm = FastMapper(net.resolved, dens)
    tws, picks = (None, fm.map(arch)) if key == "spikex" else fm.map_global(arch)
    out = {**totals(picks, arch.clock_hz), "tws": tws}
    if drop:
        dropped = sum(evaluate_mapping(net.layer(p.name), p.mapping, arch, dens[p.name]).breakdown_j.get(c, 0.0)
                      for p in picks if p.mapping for c in drop)
        out["energy_j"] -= dropped
        out["edp_js"] = out["energy_j"] * out["latency_s"]
    return out


def gains(spikex: dict, other: dict) -> dict:
    """Measured ratios other / SpikeX (> 1: SpikeX better)."""
    return {"energy": other["energy_j"] / spikex["energy_j"], "latency": other["latency_s"] / spikex["latency_s"],
            "edp": other["edp_js"] / spikex["edp_js"]}


def spikex_vs_ptb(net: Network, dens: dict, ptbs: tuple[str, ...] = ("ptb-8x8",),
                  drop: tuple[str, ...] = ()) -> dict:
    """{"spikex": totals, ptb: totals, "gain vs " + ptb: gains} for each PTB configuration."""
    row = {"spikex": price(net, dens, "spikex", drop)}
    for key in ptbs:
        row[key] = price(net, dens, key, drop)
        row[f"gain vs {key}"] = gains(row["spikex"], row[key])
    return row


def structured_densities(net: Network, knobs: StructureKnobs, samples: int, seed: int) -> dict:
    return {n: ActualDataDensity(s) for n, s in network_structured_stats(net, knobs, samples, seed).layers.items()}


def knob_sweep(net: Network, rate: float, sweeps: dict[str, tuple[float, ...]] = KNOB_SWEEPS,
               samples: int = 2, seed: int = 0) -> list[dict]:
    """SpikeX-vs-PTB (8x8 and 16x8) gains with one generator knob moved at a time from the
    neutral point at mean `rate` (the neutral point is priced once)."""
    base = StructureKnobs(rate=rate)
    priced: dict[StructureKnobs, dict] = {}
    rows = []
    for knob, values in sweeps.items():
        for v in values:
            knobs = replace(base, **{knob: v})
            if knobs not in priced:
                priced[knobs] = spikex_vs_ptb(net, structured_densities(net, knobs, samples, seed), ("ptb-8x8", "ptb-16x8"))
            r = priced[knobs]
            rows.append({"knob": knob, **asdict(knobs), "spikex_edp_js": r["spikex"]["edp_js"],
                         **{f"{k}_edp_js": r[k]["edp_js"] for k in ("ptb-8x8", "ptb-16x8")},
                         **{f"gain_{k}": r[f"gain vs {k}"]["edp"] for k in ("ptb-8x8", "ptb-16x8")}})
    return rows


def knob_png(rows: list[dict], path: Path, title: str) -> None:
    """SpikeX-vs-PTB EDP gain against each knob (one panel per knob, one line per PTB)."""
    knobs = list(dict.fromkeys(r["knob"] for r in rows))
    fig, axes = plt.subplots(1, len(knobs), figsize=(4 * len(knobs), 3.4), sharey=True, squeeze=False)
    for ax, knob in zip(axes[0], knobs):
        pts = sorted((r for r in rows if r["knob"] == knob), key=lambda r: r[knob])
        for key in ("ptb-8x8", "ptb-16x8"):
            ax.plot([r[knob] for r in pts], [r[f"gain_{key}"] for r in pts], "o-", label=f"vs PTB {key[4:]}")
        if knob == "active_fraction":
            ax.invert_xaxis()   # less active area = more structure, to the right as on the other knobs
        ax.axhline(1.0, color="grey", lw=0.8, ls=":")
        ax.set_xlabel(knob + (" (fewer active positions →)" if knob == "active_fraction" else ""))
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("EDP gain, PTB / SpikeX 8x8 (x)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_knob_sweep(net: Network, rate: float, out: Path, sweeps: dict = KNOB_SWEEPS, samples: int = 2,
                     seed: int = 0) -> list[dict]:
    """knobs.json and knobs.png under `out` (created)."""
    rows = knob_sweep(net, rate, sweeps, samples, seed)
    out.mkdir(parents=True, exist_ok=True)
    (out / "knobs.json").write_text(json.dumps(rows, indent=1) + "\n")
    knob_png(rows, out / "knobs.png", f"{net.name}: SpikeX-vs-PTB EDP gain against firing structure, "
                                      f"mean rate {rate:.2%}")
    return rows
