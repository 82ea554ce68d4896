"""PNG plots of mapping results (matplotlib figures without pyplot: headless, and quicker
to import)."""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker
from matplotlib.figure import Figure


def energy_breakdown_png(layers: list[dict], path: Path, title: str) -> None:
    """Stacked bars: energy per layer split by component."""
    comps = sorted({c for l in layers for c in l["breakdown_j"]})
    fig = Figure(figsize=(max(6, 0.8 * len(layers) + 2) + 1.6, 4.5))
    ax = fig.subplots()
    bottom = [0.0] * len(layers)
    names = [l["name"] for l in layers]
    for comp in comps:
        vals = [l["breakdown_j"].get(comp, 0.0) * 1e6 for l in layers]
        ax.bar(names, vals, bottom=bottom, label=comp)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax.set_xlabel("layer (in network order)")
    ax.set_ylabel("energy (µJ)")
    ax.set_title(f"Energy per layer by component\n{title}", fontsize=10)
    handles, labels = ax.get_legend_handles_labels()  # beside the bars, top component first
    ax.legend(handles[::-1], labels[::-1], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    for label in ax.get_xticklabels():
        label.set(rotation=30, ha="right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def edp_vs_tws_png(curves: dict[str, dict[int, float]], path: Path, title: str,
                   chosen: dict[str, int] | None = None) -> None:
    """Best EDP of each layer for each fixed TWS; ticks at the TWS evaluated, the TWS the
    mapper chose for each layer ringed."""
    fig = Figure(figsize=(6.4, 4.8))
    ax = fig.subplots()
    for name, curve in curves.items():
        xs = sorted(curve)
        line, = ax.plot(xs, [curve[x] for x in xs], marker="o", label=name)
        pick = (chosen or {}).get(name)
        if pick in curve:
            ax.scatter([pick], [curve[pick]], s=160, facecolors="none", edgecolors=line.get_color(), linewidths=2,
                       zorder=3)
    evaluated = sorted({t for c in curves.values() for t in c})
    ax.set_xscale("log")
    ax.set_xticks(evaluated, [str(t) for t in evaluated])
    ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ax.set_yscale("log")
    ax.set_xlabel("time-window size TWS (steps; only TWS dividing T and fitting the Vmem)")
    ax.set_ylabel("layer EDP (J·s)")
    ax.set_title(f"Layer EDP against a fixed TWS (ringed: the mapper's choice)\n{title}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def rate_sweep_png(rows: list[dict], path: Path, title: str) -> None:
    """Energy and latency against firing rate, both normalised to the highest rate."""
    rows = sorted(rows, key=lambda r: r["rate"])
    rates = [r["rate"] * 100 for r in rows]
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    for key, label in (("energy_j", "energy"), ("latency_s", "latency"), ("edp_js", "EDP")):
        top = rows[-1][key]
        ax.plot(rates, [r[key] / top for r in rows], marker="o", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("firing rate (%)")
    ax.set_ylabel(f"relative to {rates[-1]:g} %")
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
