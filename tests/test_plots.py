"""What users read off the plots: labels, titles, ticks at the values evaluated, the chosen
TWS marked, no marker under the legend."""

from pathlib import Path

import matplotlib.figure
import pytest

from spikex_plugin.cli import plot_title
from spikex_plugin.cosearch.plots import front_png
from spikex_plugin.report.plots import edp_vs_tws_png, energy_breakdown_png


@pytest.fixture
def figures(monkeypatch):
    """Figures as they are saved (instead of the PNG files)."""
    saved = []
    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", lambda fig, *a, **k: saved.append(fig))
    return saved


def test_energy_breakdown_labels(figures):
    layers = [{"name": "conv1", "breakdown_j": {"DRAM": 2e-6, "GLB": 1e-6}},
              {"name": "fc1", "breakdown_j": {"DRAM": 1e-6}}]
    energy_breakdown_png(layers, Path("x.png"), plot_title("nmnist", "spikex", None, None))
    ax = figures[0].axes[0]
    assert ax.get_xlabel() == "layer (in network order)" and ax.get_ylabel() == "energy (µJ)"
    assert ax.get_title().endswith("nmnist on spikex, uniform firing rate 0.5 %")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["conv1", "fc1"]
    assert plot_title("n", "a", None, "/some/dir/stats.json") == "n on a, firing statistics of stats.json"


def test_edp_vs_tws_ticks_and_choice(figures):
    curves = {"conv1": {1: 3e-9, 2: 2e-9, 3: 1e-9, 5: 2e-9, 15: 4e-9}, "fc1": {1: 1e-10, 3: 2e-10}}
    edp_vs_tws_png(curves, Path("x.png"), "t", {"conv1": 3, "fc1": 1})
    ax = figures[0].axes[0]
    assert list(ax.get_xticks()) == [1, 2, 3, 5, 15]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1", "2", "3", "5", "15"]
    assert ax.xaxis.get_minor_locator().tick_values(1, 15) == []
    rings = [tuple(c.get_offsets()[0]) for c in ax.collections]
    assert rings == [(3, 1e-9), (1, 1e-10)]


def test_front_legend_outside_and_network_named(figures):
    point = {"latency_s": 1e-3, "energy_j": 1e-5, "area_mm2": 0.1, "edp_js": 1e-8}
    dense = {"latency_s": 9e-3, "energy_j": 9e-5, "area_mm2": 0.2, "edp_js": 8.1e-7}
    front_png([point], [point], {"dense-8x8": dense}, Path("x.png"), "hardware search: nmnist, 1 feasible points")
    fig = figures[0]
    fig.canvas.draw()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())
    assert "nmnist" in ax.get_title()
    x0, x1 = ax.get_xlim()
    assert x0 < 1 < 9 < x1  # both markers inside the axes, with a margin
