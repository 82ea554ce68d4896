"""The mapspace's dense DRAM traffic of a GLB tile (which ranks the tiles), against the dense
counts (`dense_actions`, checked against AccelForge) of every tile and DRAM order."""

import itertools

import pytest

from spikex_plugin.cost_model.dense import dense_actions
from spikex_plugin.cost_model.spikex import widths_of
from spikex_plugin.mapping.mapping import SpikeXMapping, divisors
from spikex_plugin.mapping.mapspace import DRAM_ORDERS, dram_traffic_bits
from spikex_plugin.workload.network import Layer

CONV = Layer(name="conv", type="conv", T=12, C=4, M=6, H=8, W=8, R=3, S=3, P=6, Q=6)


def test_dram_traffic_is_the_dense_count_for_every_tile_and_order(spikex_arch):
    """Loops of bound 1 never advance: a tensor whose only relevant DRAM loop inside an
    advancing one has bound 1 is read once (120 of these 576 tiles and orders were ranked as
    re-read before)."""
    for tb_glb, m_glb, p_glb, order in itertools.product(divisors(CONV.T), divisors(CONV.M), divisors(CONV.P),
                                                         DRAM_ORDERS):
        m = SpikeXMapping("spatial", 1, 1, 1, CONV.C, tb_glb, m_glb, p_glb, order)
        dense = dense_actions(CONV, m, widths_of(spikex_arch), innermost_reuse=True)
        bits = sum(n for (comp, _, _), n in dense.items() if comp == "DRAM") * spikex_arch.bits_per_action["DRAM"]
        assert dram_traffic_bits(CONV, spikex_arch.weight_bits, tb_glb, m_glb, p_glb)[order] == pytest.approx(bits,
                                                                                                             rel=1e-12)
