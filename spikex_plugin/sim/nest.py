"""The simulator's own loop-nest description, and the one adapter from the plugin's mapping.

The simulator walks this nest tile by tile; it never reads the analytic model's view of a
mapping. `nest_from_mapping` is the only place that knows `SpikeXMapping`'s fields, so a
change to the mapping class touches one function here.

Loop order (outer to inner), with the buffer that holds a tile under each `|`:

    DRAM | for t0 < T/tb_glb, m0 < M/m_glb, p0 < P/p_glb   (in the order `dram_order`)
    GLB  | for m1 < m_glb/rows, p1 < p_glb, q1 < Q/q_cols, t1 < tb_glb/tb, c1 < C/c_l1
    L1   | rows x cols PEs, each runs c_l1*R*S weight steps over its window of tws steps

A GLB tile holds the spikes of (t0, p0) and the weights of m0; moving to the next GLB tile,
the GLB loads a tensor's tile again only if its indices changed (so the DRAM loop order
decides how often each tensor is read).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.workload.network import Layer

Dispatch = Literal["temporal", "spatial"]


@dataclass(frozen=True)
class SimNest:
    """Tile sizes of the SpikeX loop nest, as the simulator uses them."""
    dispatch: Dispatch   # columns hold consecutive windows (temporal) or output columns (spatial)
    tws: int             # time steps per window
    rows: int            # filters in flight (one per PE row)
    cols: int            # windows or output columns in flight (one per PE column)
    c_l1: int            # input channels (FC: lines) per L1 tile
    tb_glb: int          # time steps per GLB tile
    m_glb: int           # filters per GLB tile
    p_glb: int           # output rows per GLB tile
    dram_order: str = "tmp"  # DRAM loops, outer to inner (a permutation of "tmp")

    @property
    def tb(self) -> int:
        """Time steps per L1 tile."""
        return self.cols * self.tws if self.dispatch == "temporal" else self.tws

    @property
    def q_cols(self) -> int:
        """Output columns per L1 tile."""
        return self.cols if self.dispatch == "spatial" else 1

    def validate(self, layer: Layer) -> None:
        """Raise ValueError unless every tile divides the one above it."""
        pairs = [("tws", self.tws, self.tb), ("tb", self.tb, self.tb_glb), ("tb_glb", self.tb_glb, layer.T),
                 ("rows", self.rows, self.m_glb), ("m_glb", self.m_glb, layer.M), ("p_glb", self.p_glb, layer.P),
                 ("q_cols", self.q_cols, layer.Q), ("c_l1", self.c_l1, layer.C)]
        if sorted(self.dram_order) != ["m", "p", "t"]:
            raise ValueError(f"simulator nest: dram_order {self.dram_order!r} is not a permutation of 'tmp'")
        for name, inner, outer in pairs:
            if inner < 1 or outer % inner:
                raise ValueError(f"simulator nest: {name}={inner} does not divide {outer} (layer {layer.name})")


def nest_from_mapping(layer: Layer, mapping: SpikeXMapping) -> SimNest:
    """The mapping's tiles as the simulator's nest (the only reader of SpikeXMapping here)."""
    nest = SimNest(dispatch=mapping.mode, tws=mapping.tws, rows=mapping.rows, cols=mapping.cols,
                   c_l1=mapping.c_l1, tb_glb=mapping.tb_glb, m_glb=mapping.m_glb, p_glb=mapping.p_glb,
                   dram_order=mapping.dram_order)
    nest.validate(layer)
    return nest
