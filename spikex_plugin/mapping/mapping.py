"""SpikeX mappings: the SpikeX dataflow template with its free parameters.

Loop nest (outer to inner; `|` marks where a buffer level holds its tile):

    DRAM  | for t0 < T/tb_glb, m0 < M/m_glb, p0 < P/p_glb     (in the order `dram_order`)
    GLB   | for m1 < m_glb/rows, p1 < p_glb, q1 < Q/q_cols, t1 < tb_glb/tb, c1 < C/c_l1
    L1    | spatial rows <- m (1 filter each); spatial cols <- t windows of `tws` steps
          |   (temporal mode) or q output columns (spatial mode)
    Vmem  | for c < c_l1, r < R, s < S          (the PE's NTWU: one weight per step ...)
    WReg  | for t < tws                        (... reused over every spiking step of the window)
    Accumulator

tb is the L1 time block: cols*tws steps in temporal mode, tws in spatial mode.
The DRAM-level order decides what the GLB keeps across DRAM loops: "mtp" keeps the weights
(weights stationary: read from DRAM once), "tpm" keeps the spikes (spikes stationary),
"tmp" keeps the weights across output-row tiles only.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from typing import Literal

from spikex_plugin.workload.network import Layer

Mode = Literal["temporal", "spatial"]
PTBOrder = Literal["weights-stationary", "spikes-stationary", "streaming"]


@dataclass(frozen=True)
class SpikeXMapping:
    mode: Mode
    tws: int          # time-window size (steps per NTWU)
    rows: int         # PE rows used (filters in flight)
    cols: int         # PE columns used (windows or output columns in flight)
    c_l1: int         # input channels per L1 tile
    tb_glb: int       # time steps per GLB tile
    m_glb: int        # filters per GLB tile
    p_glb: int        # output rows per GLB tile
    dram_order: str = "tmp"  # DRAM-level loops, outer to inner (a permutation of "tmp")

    @property
    def tb(self) -> int:
        """Time steps per L1 tile (the SpikeX time block)."""
        return self.cols * self.tws if self.mode == "temporal" else self.tws

    @property
    def q_cols(self) -> int:
        return self.cols if self.mode == "spatial" else 1

    def summary(self) -> str:
        return (f"{self.mode[0].upper()} tws={self.tws} {self.rows}x{self.cols} "
                f"L1[c{self.c_l1} t{self.tb}] GLB[m{self.m_glb} p{self.p_glb} t{self.tb_glb}] {self.dram_order}")

    def to_dict(self) -> dict:
        return asdict(self)

    def check(self, layer: Layer) -> None:
        """Raise ValueError if a factor does not divide the layer (perfect tiling only)."""
        pairs = [("tb", self.tb, self.tb_glb), ("tb_glb", self.tb_glb, layer.T),
                 ("rows", self.rows, self.m_glb), ("m_glb", self.m_glb, layer.M),
                 ("p_glb", self.p_glb, layer.P), ("q_cols", self.q_cols, layer.Q),
                 ("c_l1", self.c_l1, layer.C)]
        for name, inner, outer in pairs:
            if inner < 1 or outer % inner:
                raise ValueError(f"mapping {name}={inner} does not divide {outer} for layer {layer.name}")


@dataclass(frozen=True)
class PTBMapping:
    """PTB (docs/ptb.md): passes of `rows` output channels x `cols` columns (windows x fold
    output positions); the GLB tile and the DRAM loop order `order`."""
    tws: int          # the network's time window (TW)
    rows: int         # output channels per pass
    cols: int         # PE columns used: windows per group x fold
    fold: int         # output positions side by side in the columns
    order: PTBOrder   # DRAM-level loop order: which tensor stays in the GLB
    m_glb: int        # output channels whose weights a GLB tile holds
    p_glb: int        # output rows whose input a GLB tile holds
    t_glb: int        # time steps (whole window groups) a GLB spike tile holds

    mode = "ptb"

    def summary(self) -> str:
        return (f"PTB tw={self.tws} {self.rows}x{self.cols} fold{self.fold} {self.order} "
                f"GLB[m{self.m_glb} p{self.p_glb} t{self.t_glb}]")

    def to_dict(self) -> dict:
        return {**asdict(self), "mode": self.mode}


def loop_nest(layer: Layer, m: SpikeXMapping) -> list[tuple]:
    """The mapping as nodes: ("store", level, tensors) | ("temporal"|"spatial", rank, bound, tile)."""
    T, M, P, Q, C = layer.T, layer.M, layer.P, layer.Q, layer.C
    cols_rank = ("t", m.cols, m.tws) if m.mode == "temporal" else ("q", m.cols, 1)
    dram = {"t": ("temporal", "t", T // m.tb_glb, m.tb_glb), "m": ("temporal", "m", M // m.m_glb, m.m_glb),
            "p": ("temporal", "p", P // m.p_glb, m.p_glb)}
    return [
        ("store", "DRAM", ("Sin", "Wt", "Sout")),
        *(dram[rank] for rank in m.dram_order),
        ("store", "GLB", ("Sin", "Wt", "Sout")),
        ("temporal", "m", m.m_glb // m.rows, m.rows),
        ("temporal", "p", m.p_glb, 1),
        ("temporal", "q", Q // m.q_cols, m.q_cols),
        ("temporal", "t", m.tb_glb // m.tb, m.tb),
        ("temporal", "c", C // m.c_l1, m.c_l1),
        ("store", "L1", ("Sin", "Wt")),
        ("spatial", "m", m.rows, 1, "rows"),
        ("spatial", *cols_rank, "cols"),
        ("store", "Vmem", ("Sout",)),
        ("temporal", "c", m.c_l1, 1),
        ("temporal", "r", layer.R, 1),
        ("temporal", "s", layer.S, 1),
        ("store", "WReg", ("Wt",)),
        ("temporal", "t", m.tws, 1),
    ]


@functools.lru_cache(maxsize=1024)
def divisors(n: int) -> tuple[int, ...]:
    return tuple(d for d in range(1, n + 1) if n % d == 0)


def accelforge_mapping_yaml(layer: Layer, m: SpikeXMapping) -> str:
    """The same mapping in AccelForge's mapping language (bound-1 loops dropped)."""
    lines = ["mapping:", "  nodes:"]
    for node in loop_nest(layer, m):
        if node[0] == "store":
            lines.append(f"  - !Storage {{tensors: [{', '.join(node[2])}], component: {node[1]}}}")
        elif node[0] == "temporal" and node[2] > 1:
            lines.append(f"  - !Temporal {{rank_variable: {node[1]}, tile_shape: {node[3]}}}")
        elif node[0] == "spatial" and node[2] > 1:
            lines.append(f"  - !Spatial {{rank_variable: {node[1]}, tile_shape: {node[3]}, "
                         f"name: {node[4]}, component: PEArray}}")
    lines.append(f"  - !Compute {{einsum: {layer.name}, component: Accumulator}}")
    return "\n".join(lines) + "\n"
