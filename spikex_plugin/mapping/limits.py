"""Size limits checked before mapping starts: a layer too large to enumerate, a mapspace
that would take hours or more memory than a workstation has, or no mapping at all.
(`check_dimensions` needs no cost model: the mapspace checks import it when run.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.mapping.mapping import divisors
from spikex_plugin.workload.network import Layer, Network

if TYPE_CHECKING:
    from spikex_plugin.hardware.arch import SpikeXArch

MAX_DIM = 1_000_000          # factors of each dimension are found by a linear scan
MAX_TAPS = 10_000_000        # output positions x kernel taps per axis (the padding share is counted)
MAX_MAPPINGS = 1_000_000     # per network: ~30 s per 1e6 on one core, priced a layer at a time
SECONDS_PER_MAPPING = 30e-6   # vectorised pricing, measured on the bundled networks (spikex engine)
BYTES_PER_MAPPING = 3300      # upper bound of one mapping while it is priced and held
MODEL_NAMES = {"spikex": "SpikeX", "ptb": "PTB"}

DIMENSIONS = {"T": "time steps T", "C": "input channels", "M": "output channels/features",
              "H": "padded input height", "W": "padded input width", "R": "kernel size",
              "P": "output height", "Q": "output width"}


def check_dimensions(network: Network) -> None:
    """Every dimension of every layer small enough to enumerate its factors."""
    for i, layer in enumerate(network.resolved):
        where = f"layers.{i} ({layer.name})"
        for dim, words in DIMENSIONS.items():
            value = getattr(layer, dim)
            if value > MAX_DIM:
                raise SpikeXInputError(network.source, where, f"{words} = {value:,} is above the limit "
                                       f"{MAX_DIM:,}; reduce it")
        taps = max(layer.P * layer.R, layer.Q * layer.S)
        if taps > MAX_TAPS:
            raise SpikeXInputError(network.source, f"{where}.kernel", f"{taps:,} (output position, kernel tap) "
                                   f"pairs per axis, above the limit {MAX_TAPS:,}; use a smaller kernel or input")


def estimated_mappings(layer: Layer, arch: SpikeXArch, tws_choices: list[int]) -> int:
    """Candidate mappings of a layer before buffer pruning (an upper bound of what is priced;
    PTB's mapspace, a few GLB tiles per TW, is counted exactly)."""
    from spikex_plugin.cost_model.elementwise import weighted_unit
    from spikex_plugin.cost_model.ptb import candidate_ptb_mappings

    if not layer.has_weights:
        return 1
    layer, arch, _ = weighted_unit(layer, arch)
    if arch.extras.model == "ptb":
        return len(candidate_ptb_mappings(layer, arch, tws_choices))
    vmem_values = arch.sizes_bits["Vmem"] / arch.vmem_bits
    rows = sum(1 for d in divisors(layer.M) if d <= arch.rows)
    per_cols = rows * len(divisors(layer.C))
    total = 0
    for mode in arch.extras.dispatch_modes:
        for tws in tws_choices:
            if layer.T % tws or tws > vmem_values:
                continue
            pool = divisors(layer.T // tws) if mode == "temporal" else divisors(layer.Q)
            total += per_cols * sum(1 for c in pool if c <= arch.cols)
    return total


def check_mappable(network: Network, arch: SpikeXArch, tws: int | None = None) -> None:
    """Before mapping: dimensions in range, the mapspace within the time and memory limits,
    and at least one mapping of every weighted layer fitting the buffers."""
    check_dimensions(network)
    choices = [tws] if tws else list(arch.extras.tws_choices)
    total = sum(estimated_mappings(l, arch, choices) for l in network.weighted_layers)
    if total > MAX_MAPPINGS:
        raise SpikeXInputError(network.source, "layers",
                               f"about {total:,} mappings to price (~{total * SECONDS_PER_MAPPING / 60:.0f} min "
                               f"on one core, ~{total * BYTES_PER_MAPPING / 2**30:.1f} GiB), above the limit "
                               f"{MAX_MAPPINGS:,}; reduce T, the channel counts or the input size")
    for i, layer in enumerate(network.resolved):
        if layer.has_weights and not _any_mapping(layer, arch, choices):
            raise SpikeXInputError(network.source, f"layers.{i} ({layer.name})",
                                   f"no {MODEL_NAMES[arch.extras.model]} mapping of this layer fits the buffers of {arch.name} "
                                   f"(L1 {arch.sizes_bits['L1'] / 8192:g} KB, GLB {arch.sizes_bits['GLB'] / 8192:g} KB"
                                   f"{f', TWS {tws}' if tws else ''}); use a smaller layer or larger buffers "
                                   "(--set L1_KB=..., GLB_KB=...)")


def _any_mapping(layer: Layer, arch: SpikeXArch, tws_choices: list[int]) -> bool:
    from spikex_plugin.cost_model.elementwise import weighted_unit
    from spikex_plugin.cost_model.ptb import candidate_ptb_mappings
    from spikex_plugin.mapping.mapspace import SpikeXMapspace

    layer, arch, _ = weighted_unit(layer, arch)  # the work unit the mapper maps (one group, one bit-plane)
    if arch.extras.model == "ptb":
        return bool(candidate_ptb_mappings(layer, arch, tws_choices))
    return SpikeXMapspace(layer, arch, None, tws_choices).allowed(arch).size > 0
