"""`map_network`'s choice for many architectures of one spec, without redoing its work.

`map_network` lists each layer's mapspace and prices every candidate, seconds per
architecture for dvsg-medium. Across the points of a hardware search nearly all of that
repeats:
- a mapping's action counts and cycles depend on the layer, its density and the mapping,
  and on the architecture only through the weight width (port widths, clock, DRAM
  bandwidth and skipping switches are fixed by the spec); energy is counts x prices;
- a candidate is a key (mode, tws, rows, cols, c_l1), whose fit depends on the L1 size, plus
  the largest GLB tile that fits, a function of (time block, rows, GLB size).
`FastMapper` keeps one `SpikeXMapspace` (the mapper's own) per layer and weight width: the
keys are listed once, `l1_fits` is asked once per L1 size, each distinct mapping is priced
once (vectorised; in a search, `whole_tables`, every key's mapping at a GLB size in one
batch when the size is first met); per architecture it then only masks the keys the
architecture allows and sums counts x prices.
It returns what `map_layer` returns (same candidates in the same order, same pick); the
tests check it against `map_network`.
"""

from __future__ import annotations

from dataclasses import dataclass

from spikex_plugin.cost_model.elementwise import evaluate_unweighted, weighted_unit
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.mapper import map_layer
from spikex_plugin.mapping.mapping import PTBMapping, SpikeXMapping
from spikex_plugin.mapping.mapspace import Objective, SpikeXMapspace
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.sparsity.memo import MemoDensity
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


class FastMapper:
    """Maps one network with fixed densities on many architectures. Tables are shared
    between architectures of one spec file whose parameters differ only in SIZE_KNOBS (as
    `ComponentPrices.compose` builds them for one weight width)."""

    def __init__(self, layers: list[Layer], densities: dict[str, DensityModel], objective: Objective = "edp",
                 whole_tables: bool = False):
        """`whole_tables`: price every mapping of a layer at a GLB size when the size is first
        met (a search over many array and L1 sizes); else only what each point allows."""
        self.layers, self.objective, self.whole_tables = layers, objective, whole_tables
        self.densities = {name: MemoDensity(d) for name, d in densities.items()}
        self._tables: dict[TableKey, SpikeXMapspace] = {}

    @staticmethod
    def table_key(layer: Layer, arch: SpikeXArch) -> TableKey:
        return layer.name, arch.path, tuple((k, v) for k, v in arch.params if k not in SIZE_KNOBS)

    def _table(self, layer: Layer, arch: SpikeXArch) -> SpikeXMapspace:
        key = self.table_key(layer, arch)
        if key not in self._tables:
            unit, unit_arch, _ = weighted_unit(layer, arch)
            self._tables[key] = SpikeXMapspace(unit, unit_arch, self.densities[layer.name])
        return self._tables[key]

    def map(self, arch: SpikeXArch, tws: int | None = None) -> list[LayerPick]:
        """Best mapping of every layer: what `map_network(layers, arch, densities, objective,
        tws=tws)` picks. Raises NoMapping."""
        return [self._pick(layer, arch, tws) for layer in self.layers]

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

    def _pick(self, layer: Layer, arch: SpikeXArch, tws: int | None) -> LayerPick:
        if not layer.has_weights:
            c = evaluate_unweighted(layer, arch, self.densities[layer.name])
            return LayerPick(layer.name, None, c.energy_j, c.cycles)
        if arch.extras.model == "ptb":  # a few dozen candidates: the mapper prices them directly
            try:
                c = map_layer(layer, arch, self.densities[layer.name], self.objective, [tws] if tws else None).cost
            except ValueError as e:
                raise NoMapping(str(e)) from None
            return LayerPick(layer.name, c.mapping, c.energy_j, c.cycles)
        space = self._table(layer, arch)
        if self.whole_tables:
            space.price_all(arch.sizes_bits["GLB"])
        ids = space.allowed(arch, [tws] if tws else None)
        if not ids.size:
            raise NoMapping(f"layer {layer.name}: no SpikeX mapping fits the buffers of {arch.name} {dict(arch.params)}")
        unit_arch, times = weighted_unit(layer, arch)[1:]  # the table prices one group / bit-plane
        j = space.pick(ids, unit_arch, self.objective, times)
        energy, cycles = space.totals(ids[j:j + 1], unit_arch, times)
        return LayerPick(layer.name, space.mapping(ids[j]), float(energy[0]), float(cycles[0]))
