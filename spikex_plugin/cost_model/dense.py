"""Dense (no skipping) action counts of a SpikeX mapping, by Timeloop-style reuse analysis.

Counts follow AccelForge's conventions so they can be checked against `evaluate_mapping`:
an action moves `bits_per_action` bits; a level refills a tensor's tile whenever a loop
above it that the tensor depends on advances (innermost irrelevant loops reuse the tile);
spatial instances that need the same data are served by one multicast parent read.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from spikex_plugin.mapping.mapping import SpikeXMapping, loop_nest
from spikex_plugin.workload.network import Layer

RELEVANT = {"Sin": {"t", "c", "p", "q", "r", "s"}, "Wt": {"m", "c", "r", "s"}, "Sout": {"t", "m", "p", "q"}}
# SpikeX fills every L1 tile whole (its spike bits and the weights tailored to them), keeping
# nothing from the tile before (as the simulator does), even when a loop above does not index a tensor.
WHOLE_TILE_LEVELS = ("L1",)


@dataclass(frozen=True)
class LevelWidths:
    """Bits per action of each storage level and bits per value of each tensor there."""
    bits_per_action: dict[str, float]
    weight_bits: int = 8
    vmem_bits: int = 16

    def value_bits(self, level: str, tensor: str) -> int:
        if tensor == "Wt":
            return self.weight_bits
        return self.vmem_bits if (tensor == "Sout" and level == "Vmem") else 1


def tile_extents(layer: Layer, loops_above: list[tuple]) -> dict[str, int]:
    """Rank extents of the tile a level holds: the tile shape of the innermost loop above."""
    ext = {"t": layer.T, "m": layer.M, "c": layer.C, "p": layer.P, "q": layer.Q, "r": layer.R, "s": layer.S}
    for node in loops_above:
        ext[node[1]] = node[3]
    return ext


def tile_values(layer: Layer, tensor: str, ext: dict[str, int]) -> int:
    if tensor == "Wt":
        return ext["m"] * ext["c"] * ext["r"] * ext["s"]
    if tensor == "Sout":
        return ext["t"] * ext["m"] * ext["p"] * ext["q"]
    h = (ext["p"] - 1) * layer.stride + ext["r"]
    w = (ext["q"] - 1) * layer.stride + ext["s"]
    return ext["t"] * ext["c"] * h * w


def refills(loops_above: list[tuple]) -> int:
    """Times a level's tile is (re)loaded per spatial instance. AccelForge keeps a tile only
    across the loops below its storage node, so every temporal loop above causes a refill."""
    return math.prod(n[2] for n in loops_above if n[0] == "temporal")


def dense_actions(layer: Layer, mapping: SpikeXMapping, widths: LevelWidths,
                  innermost_reuse: bool = False) -> dict[tuple[str, str, str], float]:
    """{(component, tensor, action): count} for the AccelForge-visible data path.
    AccelForge refills a tile on every loop above it: weights are re-read from DRAM for every
    DRAM-level loop, and partial sums leave Vmem whenever the channel-chunk loop (the
    innermost above L1) advances. `innermost_reuse` (Timeloop's rule, and what SpikeX does):
    a tile stays across the innermost loops above it that do not index it (except at the
    whole-tile L1), so the DRAM loop order sets what the GLB keeps, and partial sums stay in
    Vmem (only finished 1-bit spikes move up)."""
    nest = loop_nest(layer, mapping)
    computes = float(layer.dense_synops)
    acts: dict[tuple[str, str, str], float] = defaultdict(float)
    holders = {t: [] for t in RELEVANT}  # tensor -> [(level, index in nest)]
    for i, node in enumerate(nest):
        if node[0] == "store":
            for t in node[2]:
                holders[t].append((node[1], i))
    for tensor, levels in holders.items():
        for (parent, pi), (child, ci) in zip(levels, levels[1:]):
            _add_transfers(acts, layer, nest, tensor, parent, pi, child, ci, widths,
                           next_to_compute=(child, ci) == levels[-1], innermost_reuse=innermost_reuse)
        innermost = levels[-1][0]
        below = [n for n in nest[levels[-1][1]:] if n[0] == "spatial" and n[1] not in RELEVANT[tensor]]
        per_compute = widths.value_bits(innermost, tensor) / widths.bits_per_action[innermost]
        operand_reads = computes / math.prod(n[2] for n in below) * per_compute
        acts[(innermost, tensor, "read")] += operand_reads
        if tensor == "Sout":
            acts[(innermost, tensor, "write")] += operand_reads
    acts[("Accumulator", "None", "compute")] = computes
    return dict(acts)


def steps_per_fill(layer: Layer, mapping: SpikeXMapping, level: str, tensor: str):
    """Time steps one fill of `level`'s `tensor` tile serves under the `innermost_reuse` rule:
    the tile's own time extent times the time loops above it that it stays across (those
    `dense_actions` does not refill on), so fills x span covers T. Elementwise over arrays."""
    nest = loop_nest(layer, mapping)
    at = next(i for i, n in enumerate(nest) if n[0] == "store" and n[1] == level)
    above = [n for n in nest[:at] if n[0] != "store"]
    if level not in WHOLE_TILE_LEVELS:
        above = _without_innermost_reuse(above, tensor)
    return layer.T // math.prod(n[2] for n in above if n[0] == "temporal" and n[1] == "t")


def _without_innermost_reuse(above: list[tuple], tensor: str) -> list[tuple]:
    """Loops above a tile with the innermost temporal loops that do not index the tensor
    dropped (the tile stays across them); spatial loops in between are kept. A loop of bound 1
    never advances, so it does not end the reuse."""
    out, reusing = [], np.bool_(True)
    for node in reversed(above):
        if node[0] != "temporal":
            out.append(node)
            continue
        # Bounds may be arrays (the vectorised mapspace): a loop dropped for some candidates
        # stays with bound 1 for them, which refills nothing and keeps the tile's extents.
        dropped = reusing & ((node[1] not in RELEVANT[tensor]) | (np.asarray(node[2]) == 1))
        if not dropped.any():
            reusing = np.bool_(False)
            out.append(node)
        elif not dropped.all():
            out.append((node[0], node[1], np.where(dropped, 1, node[2]), *node[3:]))
        reusing = dropped
    return out[::-1]


def _add_transfers(acts, layer: Layer, nest: list[tuple], tensor: str, parent: str, pi: int,
                   child: str, ci: int, widths: LevelWidths, next_to_compute: bool,
                   innermost_reuse: bool = False) -> None:
    """Traffic between two consecutive levels holding `tensor`."""
    above = [n for n in nest[:ci] if n[0] != "store"]
    if innermost_reuse and child not in WHOLE_TILE_LEVELS:
        above = _without_innermost_reuse(above, tensor)
    between = [n for n in nest[pi:ci] if n[0] == "spatial"]
    fills = refills(above)
    instances = math.prod(n[2] for n in above if n[0] == "spatial")
    multicast = math.prod(n[2] for n in between if n[1] not in RELEVANT[tensor])
    values = tile_values(layer, tensor, tile_extents(layer, above))
    child_actions = values * widths.value_bits(child, tensor) / widths.bits_per_action[child]
    parent_actions = values * widths.value_bits(parent, tensor) / widths.bits_per_action[parent]
    if tensor != "Sout":
        acts[(child, tensor, "write")] += fills * instances * child_actions
        acts[(parent, tensor, "read")] += fills * instances / multicast * parent_actions
        return
    # Outputs: every refill ends by sending the (partial) tile up; every refill but the
    # first of each distinct tile starts by reading the partial back down.
    distinct = math.prod(n[2] for n in above if n[0] == "temporal" and n[1] in RELEVANT["Sout"])
    acts[(parent, tensor, "write")] += fills * instances * parent_actions
    acts[(parent, tensor, "read")] += (fills - distinct) * instances * parent_actions
    # The level next to the accumulator folds its last partial read into the final update.
    sent = fills - distinct if next_to_compute else fills
    acts[(child, tensor, "read")] += sent * instances * child_actions
    acts[(child, tensor, "write")] += (fills - distinct) * instances * child_actions
