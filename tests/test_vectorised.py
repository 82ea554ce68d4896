"""The vectorised pricing of a layer's whole mapspace equals the per-candidate path.

Reference: `evaluate_layer` / `evaluate_ptb_layer`, called once per candidate with the plain
density model (no memo). Checked on every bundled network, on SpikeX, the dense spec (every
skip off: the model's other branch) and PTB, with a uniform rate and with actual-data
statistics (the bundled trained profile where there is one, else bursty traces).
"""

import numpy as np
import pytest

from spikex_plugin.api import densities_for
from spikex_plugin.cost_model.elementwise import weighted_unit
from spikex_plugin.cost_model.ptb import evaluate_ptb_layer
from spikex_plugin.cost_model.spikex import evaluate_layer
from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.mapping.mapper import map_layer
from spikex_plugin.mapping.mapspace import PTBMapspace, SpikeXMapspace, objective_value
from spikex_plugin.sparsity.density import ActualDataDensity
from spikex_plugin.sparsity.memo import MemoDensity
from spikex_plugin.sim.traces import make_trace
from spikex_plugin.sparsity.stats import layer_stats_from_spikes, network_stats_from_rate
from spikex_plugin.workload.network import BUNDLED, Layer, load_network

TRAINED = {"dvsg-medium", "dvsg-large", "nmnist"}
SAMPLE = 40  # candidates per layer compared (evenly spread over the mapspace, plus the pick)


def densities(net, kind: str) -> dict:
    if kind == "uniform":
        return densities_for(net, 0.003)[0]
    if net.name in TRAINED:
        return densities_for(net, None, f"{net.name}-trained")[0]
    stats = network_stats_from_rate(net, 0.02, correlation=0.6)  # bursty, correlated lines
    return {name: ActualDataDensity(s) for name, s in stats.layers.items()}


def spread(ids: np.ndarray, n: int) -> np.ndarray:
    return ids[np.unique(np.linspace(0, len(ids) - 1, min(n, len(ids))).astype(int))]


@pytest.mark.parametrize("kind", ["uniform", "actual"])
@pytest.mark.parametrize("network", BUNDLED)
def test_spikex_batch_equals_per_candidate(network, kind):
    net = load_network(network)
    dens = densities(net, kind)
    compared = 0
    for arch_name in ("spikex", "dense"):
        arch = load_arch(arch_name)
        for layer in net.weighted_layers:
            unit, unit_arch, _ = weighted_unit(layer, arch)
            space = SpikeXMapspace(unit, unit_arch, MemoDensity(dens[layer.name]))
            ids = space.allowed(unit_arch)
            space.price(ids)
            best = ids[space.pick(ids, unit_arch, "edp")]
            for i in np.unique(np.append(spread(ids, SAMPLE), best)):
                ref = evaluate_layer(unit, space.mapping(i), unit_arch, dens[layer.name])
                got = dict(zip(space.actions, space.counts[i]))
                for action in space.actions:
                    assert got[action] == pytest.approx(ref.actions.get(action, 0.0), rel=1e-9, abs=1e-12), \
                        (layer.name, space.mapping(i), action)
                assert space.cycles[i] == pytest.approx(ref.cycles, rel=1e-9), (layer.name, space.mapping(i))
                compared += 1
    assert compared > 2 * SAMPLE


@pytest.mark.parametrize("layer", [
    Layer(name="conv", type="conv", T=32, C=8, M=8, H=10, W=10, R=3, S=3, P=8, Q=8, padding=0),
    Layer(name="fc", type="fc", T=32, C=128, M=16, H=1, W=1, R=1, S=1, P=1, Q=1)])
def test_spikex_batch_equals_per_candidate_with_tile_activity(layer):
    """Statistics of a blob trace record tile activity (`group: tile`), so the tile
    pipeline prices every candidate; the batch gives the same cycles."""
    trace = make_trace("local_blobs", layer.input_shape, layer.T, 0.05, samples=4, seed=3)
    d = ActualDataDensity(layer_stats_from_spikes(trace))
    assert d.tile_activity(1, 4) is not None
    arch = load_arch("spikex")
    space = SpikeXMapspace(layer, arch, MemoDensity(d))
    ids = space.allowed(arch)
    space.price(ids)
    for i in spread(ids, 2 * SAMPLE):
        assert space.cycles[i] == pytest.approx(evaluate_layer(layer, space.mapping(i), arch, d).cycles, rel=1e-9)


@pytest.mark.parametrize("kind", ["uniform", "actual"])
@pytest.mark.parametrize("network", BUNDLED)
def test_ptb_memoised_equals_per_candidate(network, kind):
    net = load_network(network)
    dens = densities(net, kind)
    arch = load_arch("ptb")
    for layer in net.weighted_layers:
        unit, unit_arch, _ = weighted_unit(layer, arch)
        space = PTBMapspace(unit, unit_arch, MemoDensity(dens[layer.name]))
        assert len(space.mappings) > 0
        for i, m in enumerate(space.mappings):
            ref = evaluate_ptb_layer(unit, m, unit_arch, dens[layer.name])
            got = space.cost(i)
            assert got.cycles == pytest.approx(ref.cycles, rel=1e-9)
            assert got.energy_j == pytest.approx(ref.energy_j, rel=1e-9)
            assert got.actions == pytest.approx(ref.actions, rel=1e-9)


@pytest.mark.parametrize("objective", ["edp", "energy", "latency"])
def test_pick_is_first_minimum_of_per_candidate_costs(objective):
    """map_layer's choice is `min` over every candidate's `evaluate_layer` cost (bursty nmnist)."""
    net, arch = load_network("nmnist"), load_arch("spikex")
    stats = network_stats_from_rate(net, 0.01, correlation=0.5)
    for layer in net.weighted_layers:
        d = ActualDataDensity(stats.layers[layer.name])
        space = SpikeXMapspace(layer, arch, MemoDensity(d))
        costs = [evaluate_layer(layer, space.mapping(i), arch, d) for i in space.allowed(arch)]
        ref = min(costs, key=lambda c: objective_value(c, objective))
        got = map_layer(layer, arch, d, objective).cost
        assert got.mapping == ref.mapping
        assert (got.energy_j, got.cycles, got.actions) == (ref.energy_j, ref.cycles, ref.actions)


def test_per_tws_bests_equal_fixed_tws_maps(spikex_arch):
    """The EDP-vs-TWS points taken from one priced mapspace equal mapping with each TWS fixed."""
    net = load_network("dvsg-medium")
    dens = densities_for(net, 0.005)[0]
    layer = net.layer("conv2")
    choice = map_layer(layer, spikex_arch, dens[layer.name], per_tws=True)
    assert len(choice.by_tws) >= 3
    for tws, cost in choice.by_tws.items():
        fixed = map_layer(layer, spikex_arch, MemoDensity(dens[layer.name]), tws_choices=[tws]).cost
        assert cost.mapping == fixed.mapping and cost.edp_js == fixed.edp_js


def test_memo_density_answers_what_the_model_answers():
    net = load_network("nmnist")
    stats = network_stats_from_rate(net, 0.02, correlation=0.6)
    d = ActualDataDensity(stats.layers["conv2"])
    memo = MemoDensity(d)
    lines, steps = np.array([1, 2, 3, 1, 8, 40]), np.array([1, 4, 4, 1, 30, 2])
    assert memo.p_nonempty(lines, steps).tolist() == [d.p_nonempty(int(l), int(s)) for l, s in zip(lines, steps)]
    assert memo.p_channels_nonempty(2, steps).tolist() == [d.p_channels_nonempty(2, int(s)) for s in steps]
    assert memo.p_nonempty(3, 4) == d.p_nonempty(3, 4)
    assert np.array_equal(memo.window_count_pmf(4), d.window_count_pmf(4))
    pmf = memo.window_count_pmf(4)
    pmf[0] = 99.0                                     # a caller's copy: the memo keeps its own
    assert memo.window_count_pmf(4)[0] == d.window_count_pmf(4)[0]
    assert memo.rate == d.rate and memo.lines_per_channel == d.lines_per_channel
