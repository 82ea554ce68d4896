"""A layer's mapspace, listed once and priced at once: what `map_layer` and the co-search's
`FastMapper` both search.

SpikeX: a candidate is a key (mode, TWS, rows, cols, L1 channel chunk) plus the GLB tile and
DRAM order `best_glb_tile` picks for its (time block, rows). The keys are listed without
the array bounds, so one listing serves every array size; an architecture masks them (array
bounds, `l1_fits`, a GLB tile that fits) keeping `candidate_mappings`' order. Each distinct
mapping is priced once, all of a batch at once (`cost_model.vectorised`), and an objective
picks the first minimum, as `min` over `evaluate_layer`'s costs would: the vectorised
numbers equal the per-candidate ones to rounding, and near-ties are settled by
`evaluate_layer` itself, so the pick and its `LayerCost` are the per-candidate path's.
PTB: its few candidates per TWS (`candidate_ptb_mappings`) priced by `evaluate_ptb_layer`.
"""

from __future__ import annotations

import functools
import itertools
from dataclasses import replace
from typing import Literal

import numpy as np

from spikex_plugin.cost_model.ptb import candidate_ptb_mappings, evaluate_ptb_layer
from spikex_plugin.cost_model.spikex import LayerCost, evaluate_layer
from spikex_plugin.cost_model.vectorised import MappingArrays, evaluate_mappings, unique_rows
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapping import PTBMapping, SpikeXMapping, divisors
from spikex_plugin.sparsity.memo import MemoDensity
from spikex_plugin.workload.network import Layer

NEAR_TIE = 1e-9  # relative gap below which the per-candidate path settles the pick
MODES = ("temporal", "spatial")
Objective = Literal["energy", "latency", "edp"]


def objective_value(cost: LayerCost, objective: Objective) -> float:
    return {"energy": cost.energy_j, "latency": cost.cycles, "edp": cost.edp_js}[objective]


def l1_fits(layer: Layer, arch: SpikeXArch, tb, c_l1, rows, q_cols):
    """Whether an L1 tile fits double-buffered (elementwise over arrays of the tile sizes)."""
    w_l1 = (q_cols - 1) * layer.stride + layer.S
    bits = tb * c_l1 * layer.R * w_l1 + rows * c_l1 * layer.R * layer.S * arch.weight_bits
    return 2 * bits <= arch.sizes_bits["L1"]  # double-buffered


def _glb_bits(layer: Layer, weight_bits: int, tb_glb, m_glb, p_glb):
    h = (p_glb - 1) * layer.stride + layer.R
    return (tb_glb * layer.C * h * layer.W + m_glb * layer.C * layer.R * layer.S * weight_bits
            + tb_glb * m_glb * p_glb * layer.Q)


DRAM_ORDERS = ("tmp", "mtp", "tpm", "mpt", "ptm", "pmt")
_RELEVANT = {"weights": "m", "spikes": "tp"}   # the DRAM loops that index each tensor


def dram_traffic_bits(layer: Layer, weight_bits: int, tb_glb, m_glb, p_glb) -> dict:
    """Dense DRAM bits of a GLB tile under each DRAM loop order: each tensor's tile is re-read
    for every DRAM loop down to its innermost relevant loop that advances (bound > 1); the GLB
    keeps it across the loops inside (`dense_actions`' rule). Output spikes are written once.
    Elementwise over arrays of tile sizes."""
    bounds = {"t": layer.T // tb_glb, "m": layer.M // m_glb, "p": layer.P // p_glb}
    tile = {"weights": m_glb * layer.C * layer.R * layer.S * weight_bits,
            "spikes": tb_glb * layer.C * ((p_glb - 1) * layer.stride + layer.R) * layer.W}
    traffic = {}
    for order in DRAM_ORDERS:
        bits = float(layer.T * layer.M * layer.P * layer.Q)
        for tensor, relevant in _RELEVANT.items():
            reads, advancing = 1, False
            for loop in reversed(order):   # innermost first
                advancing = advancing | ((loop in relevant) & (np.asarray(bounds[loop]) > 1))
                reads = reads * np.where(advancing, bounds[loop], 1)
            bits = bits + tile[tensor] * reads
        traffic[order] = bits
    return traffic


def best_glb_tile(layer: Layer, arch: SpikeXArch, tb: int, rows: int) -> tuple[int, int, int, str] | None:
    """The GLB tile (tb_glb, m_glb, p_glb) and DRAM order with the least DRAM traffic that
    fit double-buffered (ties: the tile holding more work, more output rows, then the first
    order, then the first tile)."""
    need, tiles = _glb_tile_ranking(layer, arch.weight_bits, tb, rows)
    fits = need <= arch.sizes_bits["GLB"]
    if not fits.any():
        return None
    tb_glb, m_glb, p_glb, order = tiles[int(np.argmax(fits))].tolist()
    return tb_glb, m_glb, p_glb, DRAM_ORDERS[order]


@functools.lru_cache(maxsize=4096)  # every GLB size, TWS sweep and co-search point asks again
def _glb_tile_ranking(layer: Layer, weight_bits: int, tb: int, rows: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (GLB tile, DRAM order) of a (time block, rows) in order of preference, as rows
    (tb_glb, m_glb, p_glb, order index), with the buffer bits each needs double-buffered:
    the best that fits a GLB is the first that fits."""
    grid = np.meshgrid([d for d in divisors(layer.T) if d % tb == 0], [d for d in divisors(layer.M) if d % rows == 0],
                       divisors(layer.P), indexing="ij")
    tb_glb, m_glb, p_glb = (g.ravel() for g in grid)  # loop order: tb_glb, m_glb, p_glb
    bits = np.stack(list(dram_traffic_bits(layer, weight_bits, tb_glb, m_glb, p_glb).values()), axis=1).ravel()
    tile = np.repeat(np.arange(len(tb_glb)), len(DRAM_ORDERS))
    order = np.tile(np.arange(len(DRAM_ORDERS)), len(tb_glb))
    rank = np.lexsort((order, -p_glb[tile], -(tb_glb * m_glb * p_glb)[tile], bits))  # stable: loop order last
    need = 2 * _glb_bits(layer, weight_bits, tb_glb, m_glb, p_glb)[tile[rank]]
    return need, np.column_stack([tb_glb[tile[rank]], m_glb[tile[rank]], p_glb[tile[rank]], order[rank]])


def _with_buffers(arch: SpikeXArch, **bits: float) -> SpikeXArch:
    return replace(arch, sizes_bits={**arch.sizes_bits, **bits})


class SpikeXMapspace:
    """Keys, GLB tiles and priced mappings of one weighted work unit on one spec (any
    array and buffer sizes; the weight width and the rest fixed by `arch`). `density`
    may be None for listing candidates only."""

    def __init__(self, layer: Layer, arch: SpikeXArch, density: MemoDensity | None,
                 tws_choices: list[int] | None = None, modes: list[str] | None = None):
        self.layer, self.arch, self.density = layer, arch, density
        self.actions = sorted(arch.energy)
        vmem_values = arch.sizes_bits["Vmem"] / arch.vmem_bits  # one partial sum per window step
        rows, c_l1 = (g.ravel() for g in np.meshgrid(divisors(layer.M), divisors(layer.C), indexing="ij"))
        modes, tws_choices = modes or arch.extras.dispatch_modes, tws_choices or arch.extras.tws_choices
        blocks = [(MODES.index(mode), tws, cols) for mode, tws in itertools.product(modes, tws_choices)
                  if layer.T % tws == 0 and tws <= vmem_values
                  for cols in (divisors(layer.T // tws) if mode == "temporal" else divisors(layer.Q))]
        head = np.array(blocks, dtype=np.int64).reshape(-1, 3)
        self.k_mode, self.k_tws, self.k_cols = (np.repeat(head[:, i], len(rows)) for i in range(3))
        self.k_rows, self.k_c_l1 = np.tile(rows, len(blocks)), np.tile(c_l1, len(blocks))
        temporal = self.k_mode == 0
        self.k_tb = np.where(temporal, self.k_cols * self.k_tws, self.k_tws)
        self.k_q_cols = np.where(temporal, 1, self.k_cols)
        self._l1_ok: dict[float, np.ndarray] = {}
        self._cand: dict[float, np.ndarray] = {}       # per GLB size: key -> mapping id (-1 none, -2 not yet asked)
        self._priced_glb: set[float] = set()
        self._ids: dict[bytes, int] = {}   # a mapping's fields as bytes -> its id
        self.fields = np.zeros((0, 9), dtype=np.int64)  # mode, tws, rows, cols, c_l1, tb_glb, m_glb, p_glb, order
        self.counts = np.zeros((0, len(self.actions)))
        self.cycles = np.zeros(0)
        self.priced = np.zeros(0, dtype=bool)

    # ---- candidates -------------------------------------------------------------------------

    def allowed(self, arch: SpikeXArch, tws: list[int] | None = None) -> np.ndarray:
        """Ids of the candidates `candidate_mappings(layer, arch, tws)` lists, in its order."""
        mask = (self.k_rows <= arch.rows) & (self.k_cols <= arch.cols) & self._l1_fit(arch.sizes_bits["L1"])
        if tws is not None:
            mask &= np.isin(self.k_tws, tws)
        cand = self._candidates(arch.sizes_bits["GLB"], mask)
        return cand[mask & (cand >= 0)]

    def _l1_fit(self, l1_bits: float) -> np.ndarray:
        if l1_bits not in self._l1_ok:
            self._l1_ok[l1_bits] = l1_fits(self.layer, _with_buffers(self.arch, L1=l1_bits), self.k_tb, self.k_c_l1,
                                           self.k_rows, self.k_q_cols)
        return self._l1_ok[l1_bits]

    def _candidates(self, glb_bits: float, mask: np.ndarray) -> np.ndarray:
        """Per key, the id of the mapping with its GLB tile (-1: none fits); filled for the
        keys of `mask`."""
        cand = self._cand.setdefault(glb_bits, np.full(len(self.k_tb), -2, dtype=np.int64))
        todo = np.flatnonzero(mask & (cand == -2))
        if not todo.size:
            return cand
        arch = _with_buffers(self.arch, GLB=glb_bits)
        first, pair_of = unique_rows(self.k_tb[todo], self.k_rows[todo])
        tiles = [best_glb_tile(self.layer, arch, tb, rows)
                 for tb, rows in zip(self.k_tb[todo][first].tolist(), self.k_rows[todo][first].tolist())]
        fits = np.array([t is not None for t in tiles])[pair_of]
        cand[todo[~fits]] = -1
        todo, pair_of = todo[fits], pair_of[fits]
        tile = np.array([(t[0], t[1], t[2], DRAM_ORDERS.index(t[3])) if t else (0, 0, 0, 0) for t in tiles],
                        dtype=np.int64).reshape(-1, 4)[pair_of]
        rows = np.column_stack([self.k_mode[todo], self.k_tws[todo], self.k_rows[todo], self.k_cols[todo],
                                self.k_c_l1[todo], tile])
        new = []
        codes = np.ascontiguousarray(rows).view(f"V{rows.shape[1] * 8}").ravel().tolist()
        for i, row, code in zip(todo.tolist(), rows, codes):
            if code not in self._ids:
                self._ids[code] = len(self._ids)
                new.append(row)
            cand[i] = self._ids[code]
        if new:
            self.fields = np.vstack([self.fields, new])
            self.counts = np.vstack([self.counts, np.zeros((len(new), len(self.actions)))])
            self.cycles = np.concatenate([self.cycles, np.zeros(len(new))])
            self.priced = np.concatenate([self.priced, np.zeros(len(new), dtype=bool)])
        return cand

    def mapping(self, i: int) -> SpikeXMapping:
        mode, tws, rows, cols, c_l1, tb_glb, m_glb, p_glb, order = self.fields[i].tolist()
        return SpikeXMapping(MODES[mode], tws, rows, cols, c_l1, tb_glb, m_glb, p_glb, DRAM_ORDERS[order])

    # ---- pricing ----------------------------------------------------------------------------

    def price(self, ids: np.ndarray) -> None:
        """Counts and cycles of the mappings `ids` not priced yet, one batch per (mode, DRAM order)."""
        todo = np.unique(ids[~self.priced[ids]])
        f = self.fields[todo]
        for mode, order in {(int(a), int(b)) for a, b in f[:, [0, 8]].tolist()}:
            group = todo[(f[:, 0] == mode) & (f[:, 8] == order)]
            g = self.fields[group]
            batch = MappingArrays(MODES[mode], DRAM_ORDERS[order], *(g[:, j] for j in range(1, 8)))
            self.counts[group], self.cycles[group] = evaluate_mappings(self.layer, batch, self.arch, self.density,
                                                                       self.actions)
        self.priced[todo] = True

    def price_all(self, glb_bits: float) -> None:
        """Price every key's mapping at one GLB size in one batch: a search that visits many
        array and L1 sizes then only masks and sums."""
        if glb_bits not in self._priced_glb:
            cand = self._candidates(glb_bits, np.ones(len(self.k_tb), dtype=bool))
            self.price(cand[cand >= 0])
            self._priced_glb.add(glb_bits)

    def totals(self, ids: np.ndarray, arch: SpikeXArch, times: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(energy J, cycles) of `ids` at `arch`'s prices, run `times` times."""
        self.price(ids)
        prices = np.array([arch.energy[a] for a in self.actions])
        cycles = self.cycles[ids] * times
        energy = (self.counts[ids] * prices).sum(axis=1) * times + sum(arch.leak_w.values()) * cycles / arch.clock_hz
        return energy, cycles

    def pick(self, ids: np.ndarray, arch: SpikeXArch, objective: Objective, times: int = 1) -> int:
        """Position in `ids` of the first best mapping (near-ties settled by `evaluate_layer`)."""
        energy, cycles = self.totals(ids, arch, times)
        score = {"energy": energy, "latency": cycles, "edp": energy * cycles}[objective]
        best = score.min()
        near = np.flatnonzero(score <= best + abs(best) * NEAR_TIE)
        if len(near) == 1 or (score[near] == best).all():  # equal work (e.g. one column in either mode)
            return int(near[0])
        costs = [evaluate_layer(self.layer, self.mapping(ids[j]), self.arch, self.density) for j in near]
        return int(near[min(range(len(near)), key=lambda k: objective_value(costs[k], objective))])

    def best_cost(self, ids: np.ndarray, objective: Objective) -> LayerCost:
        """The per-candidate path's cost of the best of `ids` (one unit of work)."""
        m = self.mapping(ids[self.pick(ids, self.arch, objective)])
        return evaluate_layer(self.layer, m, self.arch, self.density)


class PTBMapspace:
    """PTB's candidates of one weighted work unit (a few per TWS), each priced once."""

    def __init__(self, layer: Layer, arch: SpikeXArch, density: MemoDensity, tws_choices: list[int] | None = None):
        self.layer, self.arch, self.density = layer, arch, density
        self.mappings: list[PTBMapping] = candidate_ptb_mappings(layer, arch, tws_choices)
        self.k_tws = np.array([m.tws for m in self.mappings], dtype=np.int64)
        self._costs: dict[int, LayerCost] = {}

    def allowed(self, arch: SpikeXArch, tws: list[int] | None = None) -> np.ndarray:
        ids = np.arange(len(self.mappings))
        return ids if tws is None else ids[np.isin(self.k_tws, tws)]

    def cost(self, i: int) -> LayerCost:
        if i not in self._costs:
            self._costs[i] = evaluate_ptb_layer(self.layer, self.mappings[i], self.arch, self.density)
        return self._costs[i]

    def best_cost(self, ids: np.ndarray, objective: Objective) -> LayerCost:
        return min((self.cost(int(i)) for i in ids), key=lambda c: objective_value(c, objective))


def layer_mapspace(layer: Layer, arch: SpikeXArch, density: MemoDensity, tws_choices: list[int] | None = None,
                   modes: list[str] | None = None) -> SpikeXMapspace | PTBMapspace:
    """The mapspace of a weighted work unit under the spec's own model."""
    if arch.extras.model == "ptb":
        return PTBMapspace(layer, arch, density, tws_choices)
    return SpikeXMapspace(layer, arch, density, tws_choices, modes)


def candidate_mappings(layer: Layer, arch: SpikeXArch, tws_choices: list[int] | None = None,
                       modes: list[str] | None = None) -> list[SpikeXMapping]:
    """Mappings of the template that tile the layer perfectly and fit the buffers, each
    with its largest fitting GLB tile."""
    space = SpikeXMapspace(layer, arch, None, tws_choices, modes)
    return [space.mapping(i) for i in space.allowed(arch)]
