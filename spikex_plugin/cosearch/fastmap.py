"""`map_network`'s choice for many architectures of one spec, without redoing its work.

`map_network` lists each layer's mapspace and prices every candidate, seconds per
architecture for dvsg-medium. Across the points of a hardware search nearly all of that
repeats:
- a mapping's action counts and cycles depend on the layer, its density and the mapping,
  and on the architecture only through the weight width (port widths, clock, DRAM
  bandwidth and skipping switches are fixed by the spec); energy is counts x prices;
- a candidate is a key (mode, tws, rows, cols, c_l1), whose fit depends on the L1 size, plus
  the largest GLB tile that fits, a function of (time block, rows, GLB size).
`FastMapper` lists the keys once per layer and weight width, asks the mapper's own
`l1_fits` once per L1 size and `best_glb_tile` once per GLB size, and prices each
distinct mapping once with `evaluate_layer` (`unpriced` + `fill` let a search price them in
parallel, deduplicated); per architecture it only masks the keys the architecture allows
and prices the survivors with one vectorised sum. It returns what `map_layer` returns (same
candidates in the same order, first minimum); the tests check it against `map_network`.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, replace

import numpy as np

from spikex_plugin.cost_model.elementwise import evaluate_unweighted, weighted_unit
from spikex_plugin.cost_model.spikex import evaluate_layer
from spikex_plugin.mapping.mapping import PTBMapping
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapper import Objective, l1_fits, best_glb_tile, map_layer  # the mapper's own buffer rules
from spikex_plugin.mapping.mapping import SpikeXMapping, divisors
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.workload.network import Layer

TableKey = tuple[str, str, tuple]  # (layer name, spec path, parameters that change counts)
SIZE_KNOBS = ("ROWS", "COLS", "GLB_KB", "L1_KB")
"""Spec parameters that leave a mapping's counts and cycles unchanged (array and buffer sizes)."""


@dataclass(frozen=True)
class LayerPick:
    """One layer's best mapping on one architecture."""
    name: str
    mapping: SpikeXMapping | PTBMapping | None   # None for pooling (OR in the tag logic)
    energy_j: float
    cycles: float


class NoMapping(ValueError):
    """No mapping of a layer fits the buffers of an architecture."""


class MemoDensity(DensityModel):
    """A density model answering repeated questions from memory: the cost model asks the
    same few (lines, steps) occupancies and window pmfs for thousands of mappings."""

    def __init__(self, inner: DensityModel):
        self.inner, self.rate, self.lines_per_channel = inner, inner.rate, inner.lines_per_channel
        self._memo: dict[tuple, object] = {}

    def _ask(self, name: str, *args):
        key = (name, *args)
        if key not in self._memo:
            self._memo[key] = getattr(self.inner, name)(*args)
        return self._memo[key]

    def p_nonempty(self, lines: float, steps: int) -> float:
        return self._ask("p_nonempty", lines, steps)

    def p_channels_nonempty(self, channels: float, steps: int) -> float:
        return self._ask("p_channels_nonempty", channels, steps)

    def window_count_pmf(self, steps: int) -> np.ndarray:
        return self._ask("window_count_pmf", steps).copy()

    def __getattr__(self, name: str):  # anything else the cost model may ask, unmemoised
        if name == "inner":
            raise AttributeError(name)
        return getattr(self.inner, name)


def price_mappings(layer: Layer, arch: SpikeXArch, density: DensityModel, mappings: list[SpikeXMapping],
                   actions: list[tuple[str, str]]) -> tuple[np.ndarray, np.ndarray]:
    """Action counts (one row per mapping, columns `actions`) and cycles of each mapping."""
    col = {a: j for j, a in enumerate(actions)}
    counts, cycles = np.zeros((len(mappings), len(actions))), np.zeros(len(mappings))
    for i, m in enumerate(mappings):
        cost = evaluate_layer(layer, m, arch, density)
        for action, n in cost.actions.items():
            counts[i, col[action]] = n
        cycles[i] = cost.cycles
    return counts, cycles


def _with_buffers(arch: SpikeXArch, **bits: float) -> SpikeXArch:
    return replace(arch, sizes_bits={**arch.sizes_bits, **bits})


class _LayerTable:
    """Keys, GLB tiles and priced mappings of one weighted layer under one `TableKey`."""

    def __init__(self, layer: Layer, arch: SpikeXArch, density: DensityModel, actions: list[tuple[str, str]]):
        self.layer, self.arch, self.density, self.actions = layer, arch, density, actions
        vmem_values = arch.sizes_bits["Vmem"] / arch.vmem_bits
        # candidate_mappings' loops without the array bounds, so masking keeps its order.
        self.keys = [SpikeXMapping(mode, tws, rows, cols, c_l1, 0, 0, 0)
                     for mode, tws in itertools.product(arch.extras.dispatch_modes, arch.extras.tws_choices)
                     if layer.T % tws == 0 and tws <= vmem_values
                     for cols in (divisors(layer.T // tws) if mode == "temporal" else divisors(layer.Q))
                     for rows, c_l1 in itertools.product(divisors(layer.M), divisors(layer.C))]
        self.k_rows = np.array([k.rows for k in self.keys])
        self.k_cols = np.array([k.cols for k in self.keys])
        self.k_tws = np.array([k.tws for k in self.keys])
        self._l1_ok: dict[float, np.ndarray] = {}
        self._cand: dict[float, np.ndarray] = {}
        self.mappings: list[SpikeXMapping] = []
        self._ids: dict[SpikeXMapping, int] = {}
        self.counts = np.zeros((0, len(actions)))
        self.cycles = np.zeros(0)
        self.priced = np.zeros(0, dtype=bool)

    def allowed(self, arch: SpikeXArch, tws: int | None = None) -> np.ndarray:
        """Ids of the candidates `map_layer` would price on `arch`, in its order."""
        cand = self._candidates(arch.sizes_bits["GLB"])
        mask = (self.k_rows <= arch.rows) & (self.k_cols <= arch.cols) & self._l1_fit(arch.sizes_bits["L1"]) & (cand >= 0)
        if tws is not None:
            mask &= self.k_tws == tws
        return cand[mask]

    def _l1_fit(self, l1_bits: float) -> np.ndarray:
        if l1_bits not in self._l1_ok:
            arch = _with_buffers(self.arch, L1=l1_bits)
            self._l1_ok[l1_bits] = np.array([l1_fits(self.layer, arch, k.tb, k.c_l1, k.rows, k.q_cols)
                                             for k in self.keys], dtype=bool)
        return self._l1_ok[l1_bits]

    def _candidates(self, glb_bits: float) -> np.ndarray:
        """Per key, the id of the key with its largest fitting GLB tile (-1: none fits)."""
        if glb_bits not in self._cand:
            arch = _with_buffers(self.arch, GLB=glb_bits)
            tiles: dict[tuple[int, int], tuple[int, int, int] | None] = {}
            ids = np.full(len(self.keys), -1, dtype=int)
            for i, k in enumerate(self.keys):
                if (k.tb, k.rows) not in tiles:
                    tiles[(k.tb, k.rows)] = best_glb_tile(self.layer, arch, k.tb, k.rows)
                tile = tiles[(k.tb, k.rows)]
                if tile is not None:
                    ids[i] = self._id(replace(k, tb_glb=tile[0], m_glb=tile[1], p_glb=tile[2], dram_order=tile[3]))
            self._cand[glb_bits] = ids
            extra = len(self.mappings) - len(self.cycles)
            self.counts = np.vstack([self.counts, np.zeros((extra, len(self.actions)))])
            self.cycles = np.concatenate([self.cycles, np.zeros(extra)])
            self.priced = np.concatenate([self.priced, np.zeros(extra, dtype=bool)])
        return self._cand[glb_bits]

    def _id(self, m: SpikeXMapping) -> int:
        if m not in self._ids:
            self._ids[m] = len(self.mappings)
            self.mappings.append(m)
        return self._ids[m]

    def fill(self, ids: np.ndarray, counts: np.ndarray, cycles: np.ndarray) -> None:
        self.counts[ids], self.cycles[ids], self.priced[ids] = counts, cycles, True

    def price(self, ids: np.ndarray) -> None:
        todo = ids[~self.priced[ids]]
        if todo.size:
            self.fill(todo, *price_mappings(self.layer, self.arch, self.density,
                                            [self.mappings[i] for i in todo], self.actions))


class FastMapper:
    """Maps one network with fixed densities on many architectures. Tables are shared
    between architectures of one spec file whose parameters differ only in SIZE_KNOBS (as
    `ComponentPrices.compose` builds them for one weight width)."""

    def __init__(self, layers: list[Layer], densities: dict[str, DensityModel], objective: Objective = "edp"):
        self.layers, self.objective = layers, objective
        self.densities = {name: MemoDensity(d) for name, d in densities.items()}
        self._tables: dict[TableKey, _LayerTable] = {}

    @staticmethod
    def table_key(layer: Layer, arch: SpikeXArch) -> TableKey:
        return layer.name, arch.path, tuple((k, v) for k, v in arch.params if k not in SIZE_KNOBS)

    def _table(self, layer: Layer, arch: SpikeXArch) -> _LayerTable:
        key = self.table_key(layer, arch)
        if key not in self._tables:
            unit, unit_arch, _ = weighted_unit(layer, arch)
            self._tables[key] = _LayerTable(unit, unit_arch, self.densities[layer.name], sorted(arch.energy))
        return self._tables[key]

    def unpriced(self, arch: SpikeXArch) -> dict[TableKey, tuple[list[int], list[SpikeXMapping]]]:
        """Mappings `map(arch)` would still have to price, by table: (ids, mappings)."""
        out = {}
        for layer in self.layers:
            if layer.has_weights and arch.extras.model != "ptb":
                t = self._table(layer, arch)
                ids = t.allowed(arch)
                todo = ids[~t.priced[ids]]
                if todo.size:
                    out[self.table_key(layer, arch)] = (todo.tolist(), [t.mappings[i] for i in todo])
        return out

    def fill(self, key: TableKey, ids: list[int], counts: np.ndarray, cycles: np.ndarray) -> None:
        """Store counts and cycles priced elsewhere (`price_mappings`) for ids of `unpriced`."""
        self._tables[key].fill(np.asarray(ids, dtype=int), counts, cycles)

    def map(self, arch: SpikeXArch, tws: int | None = None) -> list[LayerPick]:
        """Best mapping of every layer: what `map_network(layers, arch, densities, objective,
        tws=tws)` picks. Raises NoMapping."""
        actions = sorted(arch.energy)
        prices = np.array([arch.energy[a] for a in actions])
        leak = sum(arch.leak_w.values())
        return [self._pick(layer, arch, prices, leak, tws) for layer in self.layers]

    def map_global(self, arch: SpikeXArch) -> tuple[int, list[LayerPick]]:
        """One TWS for every layer, the one with the best network objective: PTB's rule, as
        `run_map` applies it to a global-TWS spec. Returns (tws, picks)."""
        best = None
        for tws in arch.extras.tws_choices:
            if arch.extras.model != "ptb" and any(l.T % tws for l in self.layers):
                continue
            try:
                picks = self.map(arch, tws)
            except NoMapping:
                continue
            energy, cycles = sum(p.energy_j for p in picks), sum(p.cycles for p in picks)
            value = {"energy": energy, "latency": cycles, "edp": energy * cycles}[self.objective]
            if best is None or value < best[0]:
                best = (value, tws, picks)
        if best is None:
            raise NoMapping(f"no single TWS maps every layer on {arch.name} {dict(arch.params)}")
        return best[1], best[2]

    def best(self, arch: SpikeXArch) -> list[LayerPick]:
        """What `run_map` picks: per-layer choices, or one global TWS for a PTB-style spec."""
        return self.map_global(arch)[1] if arch.extras.global_tws else self.map(arch)

    def _pick(self, layer: Layer, arch: SpikeXArch, prices: np.ndarray, leak: float, tws: int | None) -> LayerPick:
        if not layer.has_weights:
            c = evaluate_unweighted(layer, arch, self.densities[layer.name])
            return LayerPick(layer.name, None, c.energy_j, c.cycles)
        if arch.extras.model == "ptb":  # a few dozen candidates: the mapper prices them directly
            try:
                c = map_layer(layer, arch, self.densities[layer.name], self.objective, [tws] if tws else None).cost
            except ValueError as e:
                raise NoMapping(str(e)) from None
            return LayerPick(layer.name, c.mapping, c.energy_j, c.cycles)
        t = self._table(layer, arch)
        ids = t.allowed(arch, tws)
        if not ids.size:
            raise NoMapping(f"layer {layer.name}: no SpikeX mapping fits the buffers of {arch.name} {dict(arch.params)}")
        t.price(ids)
        times = weighted_unit(layer, arch)[2]  # the table prices one group / bit-plane
        cycles = t.cycles[ids] * times
        latency = cycles / arch.clock_hz
        energy = (t.counts[ids] * prices).sum(axis=1) * times + leak * latency
        score = {"energy": energy, "latency": cycles, "edp": energy * latency}[self.objective]
        j = int(np.argmin(score))
        return LayerPick(layer.name, t.mappings[ids[j]], float(energy[j]), float(cycles[j]))
