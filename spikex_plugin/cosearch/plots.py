"""PNG plots of a hardware search: every point, the Pareto front and the baselines."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402

_MARKERS = {"ptb-8x8": "s", "ptb-16x8": "D", "dense-8x8": "X"}


def _scatter(points: list[dict], front: list[dict], baselines: dict, x: str, y: str, xs: float, ys: float,
             xlabel: str, ylabel: str, title: str, path: Path) -> None:
    fig, ax = plt.subplots(figsize=(6.4, 5.4))
    ax.scatter([p[x] * xs for p in points], [p[y] * ys for p in points], s=6, c="0.75", label="evaluated points")
    f = sorted(front, key=lambda p: p[x])
    sc = ax.scatter([p[x] * xs for p in f], [p[y] * ys for p in f], s=18, c=[p["area_mm2"] for p in f],
                    cmap="viridis", label="Pareto front (E, L, EDP, area)", zorder=3)
    if f:
        fig.colorbar(sc, ax=ax, label="area (mm²)")
    for name, b in baselines.items():
        ax.scatter([b[x] * xs], [b[y] * ys], marker=_MARKERS.get(name, "*"), s=70, c="tab:red",
                   edgecolors="k", label=name, zorder=4)
    if points or baselines:
        ax.set_xscale("log")
        ax.set_yscale("log")
        plain = matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}")
        for axis in (ax.xaxis, ax.yaxis):
            axis.set_major_formatter(plain)
            axis.set_minor_formatter(plain)
        ax.margins(0.08)  # markers at the extremes (often a baseline) stay whole
    else:  # a search resumed later (--budget 0 on a new directory) has nothing to show yet
        ax.text(0.5, 0.5, "no point evaluated yet", ha="center", va="center", transform=ax.transAxes)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    # Below the axes: inside, the legend hid baselines sitting in a corner of the data.
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=3, frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def front_png(points: list[dict], front: list[dict], baselines: dict, path: Path, title: str) -> None:
    """Energy against latency of every feasible point; the front coloured by area."""
    _scatter(points, front, baselines, "latency_s", "energy_j", 1e3, 1e6, "latency (ms)", "energy (µJ)", title, path)


def edp_area_png(points: list[dict], front: list[dict], baselines: dict, path: Path, title: str) -> None:
    """EDP against chip area: what a larger array or buffer buys."""
    _scatter(points, front, baselines, "area_mm2", "edp_js", 1.0, 1.0, "area (mm²)", "EDP (J·s)", title, path)
