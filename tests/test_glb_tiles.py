"""The GLB tiles the mapspace keeps, against a brute-force listing of every tile and order.

Every (tb_glb, m_glb, p_glb, DRAM order) of a small layer is priced by `dense_actions` (the
dense counts checked against AccelForge), its double-buffered footprint counted by hand, and
the (dense DRAM traffic, time steps) Pareto set taken by comparing every pair.
"""

import itertools

import pytest

from spikex_plugin.cost_model.dense import dense_actions
from spikex_plugin.cost_model.spikex import widths_of
from spikex_plugin.mapping.mapping import SpikeXMapping, divisors
from spikex_plugin.mapping.mapspace import DRAM_ORDERS, SpikeXMapspace, dram_traffic_bits, glb_tile_front
from spikex_plugin.sparsity.density import UniformDensity
from spikex_plugin.sparsity.memo import MemoDensity
from spikex_plugin.workload.network import Layer

CONV = Layer(name="conv", type="conv", T=12, C=4, M=6, H=8, W=8, R=3, S=3, P=6, Q=6)
WEIGHT_BITS = 8


def dense_dram_bits(layer: Layer, arch, tb_glb: int, m_glb: int, p_glb: int, order: str) -> float:
    m = SpikeXMapping("spatial", 1, 1, 1, layer.C, tb_glb, m_glb, p_glb, order)
    acts = dense_actions(layer, m, widths_of(arch), innermost_reuse=True)
    return sum(n for (comp, _, _), n in acts.items() if comp == "DRAM") * arch.bits_per_action["DRAM"]


def footprint_bits(layer: Layer, tb_glb: int, m_glb: int, p_glb: int) -> int:
    """Spike rows, weight kernels and output spikes of one GLB tile, double-buffered."""
    spikes = tb_glb * layer.C * (p_glb + layer.R - 1) * layer.W
    return 2 * (spikes + m_glb * layer.C * layer.R * layer.S * WEIGHT_BITS + tb_glb * m_glb * p_glb * layer.Q)


def test_dram_traffic_is_the_dense_count_for_every_tile_and_order(spikex_arch):
    """Loops of bound 1 never advance: a tensor whose only relevant DRAM loop has bound 1 is
    read once (120 of these 576 tiles and orders were ranked as re-read before)."""
    for tb_glb, m_glb, p_glb, order in itertools.product(divisors(CONV.T), divisors(CONV.M), divisors(CONV.P),
                                                         DRAM_ORDERS):
        ranked = dram_traffic_bits(CONV, WEIGHT_BITS, tb_glb, m_glb, p_glb)[order]
        assert ranked == pytest.approx(dense_dram_bits(CONV, spikex_arch, tb_glb, m_glb, p_glb, order), rel=1e-12)


@pytest.mark.parametrize("glb_bits, pareto_points", [
    (4_000, 2),    # a staircase: GLB[t4] at 10848 bits, GLB[t2] at 11232
    (12_000, 1),   # everything read once; the shortest tile (t2) dominates the pick (t6)
    (1e9, 1),
])
def test_front_is_the_pareto_set_of_traffic_and_time_steps(spikex_arch, glb_bits, pareto_points):
    arch = spikex_arch.__class__(**{**spikex_arch.__dict__, "sizes_bits": {**spikex_arch.sizes_bits, "GLB": glb_bits}})
    tb, rows = 2, 2
    tiles = [(t, m, p, o) for t, m, p, o in itertools.product(divisors(CONV.T), divisors(CONV.M), divisors(CONV.P),
                                                              DRAM_ORDERS)
             if t % tb == 0 and m % rows == 0 and footprint_bits(CONV, t, m, p) <= glb_bits]
    points = {(dense_dram_bits(CONV, arch, *tile), tile[0]) for tile in tiles}
    pareto = {a for a in points if not any(b != a and b[0] <= a[0] and b[1] <= a[1] for b in points)}
    front = [(dense_dram_bits(CONV, arch, *tile), tile[0]) for tile in glb_tile_front(CONV, arch, tb, rows)]
    assert front[0][0] == min(points)[0]   # the least-traffic tile first (the single pick before)
    assert set(front) == pareto | {front[0]} and len(front) == len(set(front))
    assert len(pareto) == pareto_points and len(front) == 2


def test_no_front_when_no_tile_fits(spikex_arch):
    arch = spikex_arch.__class__(**{**spikex_arch.__dict__, "sizes_bits": {**spikex_arch.sizes_bits, "GLB": 1_000}})
    assert glb_tile_front(CONV, arch, 2, 2) == []


def test_mapspace_lists_every_front_tile_of_a_key(spikex_arch):
    space = SpikeXMapspace(CONV, spikex_arch, MemoDensity(UniformDensity(0.01)), [2], ["spatial"])
    listed = [space.mapping(i) for i in space.allowed(spikex_arch)]
    for m in listed:
        key = [(x.tb_glb, x.m_glb, x.p_glb, x.dram_order) for x in listed
               if (x.tws, x.rows, x.cols, x.c_l1) == (m.tws, m.rows, m.cols, m.c_l1)]
        assert key == glb_tile_front(CONV, spikex_arch, m.tb, m.rows)
