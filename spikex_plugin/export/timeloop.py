"""Export a SpikeX design, a network and firing statistics as Timeloop v0.4 / Sparseloop specs.

Per weighted layer a directory with `arch.yaml`, `problem.yaml`, `sparse_optimizations.yaml`,
`mapper.yaml`, `constraints.yaml` and `mapping.yaml` (the mapping our mapper chose, every
factor fixed); shared energy numbers as an Accelergy table-based plug-in directory and as
ERT/ART files in the form Timeloop dumps, both from the HWComponents numbers our cost model
uses. What Timeloop cannot express, and how the export approximates it, is written into the
generated README and docs/timeloop-export.md.

Fixed choices (why):
- Time is the problem dimension `T`; N = 1. Tensor names are Timeloop's Weights/Inputs/Outputs.
- Timeloop has one word size per level: DRAM, GLB and L1 each become a 1-bit spike level (the
  GLB also a 1-bit output level) and a one-weight-wide weight level (see TL_STORAGE); what
  Timeloop's data path lacks (membrane steps, logic leakage) sits on PE proxy levels priced
  from our numbers, so Timeloop's dense totals equal ours (docs/timeloop-export.md).
- The PE's Vmem and weight register are a sequence (Vmem above the c/r/s loops, the register
  above the t loop), not a `!Parallel`: the SpikeX loop nest orders them and Inputs bypass both.
- Inputs are stored plain (no representation format): a bitmask for a 1-bit tensor is as big
  as the tensor, and Sparseloop's conditioned skipping needs no metadata.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from spikex_plugin.cost_model.elementwise import lowering
from spikex_plugin.cost_model.dense import tile_extents, tile_values
from spikex_plugin.cost_model.spikex import LayerCost, exposed_transfers, sparse_factors, widths_of
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.hardware.arch import SpikeXArch, accelforge_spec, load_arch
from spikex_plugin.mapping.mapping import SpikeXMapping, loop_nest
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.util import atomic_output_dir
from spikex_plugin.workload.network import Layer, Network, load_network

VERSION = 0.4
DIMS = ("N", "T", "C", "M", "P", "Q", "R", "S")
TENSORS = {"Wt": "Weights", "Sin": "Inputs", "Sout": "Outputs"}
DATA_SPACES = ("Weights", "Inputs", "Outputs")
STORAGE = ("DRAM", "GLB", "L1", "Vmem", "WReg")   # SpikeX's buffers
SHARED = ("DRAM", "GLB", "L1")   # hold 1-bit spikes and multi-bit weights
WEIGHTS_PART, OUTPUTS_PART = "_weights", "_outputs"
# Timeloop has one word size per level, so each shared buffer becomes levels in sequence:
# X (1-bit words: input spikes; at DRAM also the outputs), X_outputs (the
# GLB's 1-bit output spikes) and X_weights (weight_bits words: Weights), which carries the
# buffer's loops. X_outputs lets the loops that X's spike tile stays across sit below X but
# above the output tile (see _stationary_below).
# What Timeloop's data path lacks, as PE levels that cost what SpikeX spends (one instance per
# PE, gated with the DRAM so every instance leaks, as in our model): a membrane step of each
# output value (Comparator, and the Vmem's read/write of the potential in Vmem_membrane) as
# levels every finished output value passes once; the leakage of the accumulator, tag logic
# and controller as levels that keep nothing.
MEMBRANE_LEVELS = ("Comparator", "Vmem_membrane")
LEAK_LEVELS = ("Accumulator_leak", "TagLogic", "PEController")
PROXY_CLASSES = {"Vmem_membrane": "spikex_vmem_membrane", "Accumulator_leak": "spikex_accumulator_leak"}
TL_STORAGE = ("DRAM", "DRAM" + WEIGHTS_PART, "GLB", "GLB" + OUTPUTS_PART, "GLB" + WEIGHTS_PART,
              "L1", "L1" + WEIGHTS_PART, *MEMBRANE_LEVELS, *LEAK_LEVELS, "Vmem", "WReg")
PART_TENSOR = {WEIGHTS_PART: "Weights", OUTPUTS_PART: "Outputs"}
# SpikeX refills a whole spike tile (double-buffered, no sliding window); Timeloop would keep
# the rows a tile shares with the previous one unless told `no_reuse`. The L1 keeps nothing
# from one tile to the next (its weights are tailored to the tile's spikes): no reuse there at all.
NO_REUSE = {"GLB": ["Inputs"], "L1": ["Inputs"], "L1" + WEIGHTS_PART: ["Weights"]}
INPUT_DIMS = ("N", "T", "C", "P", "Q", "R", "S")
PE_PARTS = ("Vmem", "WReg", "Accumulator")
SYSTEM, PE = "system", "PE"
DRAM_DEPTH = 2**31  # SpikeX's DRAM is unbounded; timeloopfe requires a depth and Timeloop reads it as uint32
CLASSES = {  # SpikeX component -> (Timeloop class, Accelergy primitive class = CSV table name)
    "DRAM": ("DRAM", "spikex_dram"), "GLB": ("storage", "spikex_sram"), "L1": ("storage", "spikex_sram"),
    "Vmem": ("storage", "spikex_vmem"), "WReg": ("storage", "spikex_weight_register"),
    "Accumulator": ("compute", "spikex_accumulator")}
STORAGE_ACTIONS = ["read", "write", "update", "leak"] + [f"{k}_{a}" for k in ("gated", "skipped")
                                                         for a in ("read", "write", "update")]
COMPUTE_ACTIONS = ["compute", "compute_gated", "compute_skipped", "leak"]
RESERVED = {"energy_tables", "README.md", "ERT.yaml", "ART.yaml", "index.yaml"}  # not layer directories
# Timeloop dumps no ART when it is given ERT/ART, but timeloopfe's output parser reads
# <out>/timeloop-<app>.ART.yaml after every run: each layer ships it in the documented -o dirs.
RUN_DIRS = {"model": "timeloop-model", "mapper": "timeloop-mapper"}


# ---------------------------------------------------------------------------- YAML with v0.4 tags

class TaggedNode(dict):
    """A mapping written with a Timeloop v0.4 architecture tag."""
    tag = "!Component"


class Container(TaggedNode):
    tag = "!Container"


class Component(TaggedNode):
    tag = "!Component"


class Parallel(TaggedNode):
    tag = "!Parallel"


class Hierarchical(TaggedNode):
    tag = "!Hierarchical"


class Nothing(TaggedNode):
    tag = "!Nothing"


NODE_TAGS = {c.tag: c for c in (Container, Component, Parallel, Hierarchical, Nothing)}


class Quoted(str):
    """A string written double-quoted: timeloopfe evaluates unquoted attribute values as
    Python expressions (`32nm` is a syntax error there, `"32nm"` a string)."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:  # Timeloop's readers do not resolve anchors
        return True


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = len(data) <= 12 and all(isinstance(x, (str, int, float, bool)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(Quoted, lambda d, data: d.represent_scalar("tag:yaml.org,2002:str", str(data), style='"'))
for _cls in NODE_TAGS.values():
    _Dumper.add_representer(_cls, lambda d, data: d.represent_mapping(data.tag, dict(data)))


def dump_yaml(data: Any) -> str:
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, width=100)


class TimeloopLoader(yaml.SafeLoader):
    """Reads Timeloop v0.4 YAML, keeping `!Container`/`!Component`/... as TaggedNode subclasses."""


for _tag, _cls in NODE_TAGS.items():
    TimeloopLoader.add_constructor(
        _tag, lambda loader, node, cls=_cls: cls(loader.construct_mapping(node, deep=True)))


def load_timeloop_yaml(source: str | Path) -> Any:
    """Parse a Timeloop v0.4 file (a path) or YAML text."""
    is_path = isinstance(source, Path) or ("\n" not in source and Path(source).is_file())
    return yaml.load(Path(source).read_text() if is_path else source, Loader=TimeloopLoader)


# ---------------------------------------------------------------------------- checks

def _unsupported(source: str, field: str, message: str) -> SpikeXInputError:
    return SpikeXInputError(source, field, f"{message}: no Timeloop counterpart, nothing exported")


def _rejected(source: str, field: str, message: str) -> SpikeXInputError:
    return SpikeXInputError(source, field, f"{message}: Timeloop would reject the mapping, nothing exported")


def _as_int(value: float, source: str, field: str) -> int:
    if value != int(value):
        raise _unsupported(source, field, f"{value} is not a whole number of words")
    return int(value)


@functools.lru_cache(maxsize=16)
def _technology(path: str, params: tuple) -> str:
    """Technology node as Accelergy names it ("32nm"), from the arch spec."""
    spec = accelforge_spec(path, dict(params))
    node = dict(spec.arch.extra_attributes_for_all_component_models).get("tech_node")
    if node is None:
        raise SpikeXInputError(path, "arch.extra_attributes_for_all_component_models.tech_node",
                               "missing; Accelergy's tables are keyed by technology")
    return Quoted(f"{round(float(node) * 1e9)}nm")


def _instances(arch: SpikeXArch, component: str) -> int:
    pe_parts = set(PE_PARTS) | {p.name for p in arch.extras.pe_logic}
    return arch.rows * arch.cols if spikex_component(component) in pe_parts else 1


def spikex_component(timeloop_name: str) -> str:
    """The SpikeX component a Timeloop component stands for (X_weights, X_outputs,
    X_membrane, X_leak are parts of X; SpikeX names have no underscore)."""
    return timeloop_name.split("_")[0]


def _part(timeloop_name: str) -> str:
    """Which tensors a level of a shared buffer holds: weights, outputs or spikes."""
    return next((tensor.lower() for suffix, tensor in PART_TENSOR.items() if timeloop_name.endswith(suffix)), "spikes")


# ---------------------------------------------------------------------------- architecture

def storage_attributes(arch: SpikeXArch, level: str) -> dict:
    """Timeloop storage attributes of one Timeloop level (sizes in words of `datawidth` bits).
    The two levels of a shared buffer each get its whole capacity and port (the export checks
    that the tiles fit together; Timeloop does not see them compete). A weight level is one
    weight wide: Sparseloop skips per storage block, so a block of one weight lets it skip a
    single weight, as SpikeX does; its access energy is scaled to the weight's share."""
    src, base = arch.path, spikex_component(level)
    width = _as_int(arch.bits_per_action[base], src, f"{base}.actions.bits_per_action")
    if base in SHARED:
        datawidth = arch.weight_bits if level.endswith(WEIGHTS_PART) else 1
    else:
        datawidth = arch.vmem_bits if base == "Vmem" else arch.weight_bits
    if width % datawidth:
        raise _unsupported(src, f"{base}.actions.bits_per_action", f"a {width}-bit access cannot move whole "
                                                                   f"{datawidth}-bit words")
    words = width // datawidth  # per cycle through the port
    if level.endswith(WEIGHTS_PART):  # one weight per access, priced 1/words of an access (weight_access_share)
        width = datawidth
    holds = {"holds": Quoted(_part(level))} if base in SHARED else {}  # tells the table rows apart
    if base == "DRAM":
        bits_per_cycle = arch.extras.dram_bytes_per_s * 8 / arch.clock_hz
        return {"width": width, "depth": DRAM_DEPTH, "datawidth": datawidth,
                "shared_bandwidth": float(bits_per_cycle / datawidth), **holds}
    depth = _as_int(arch.sizes_bits[base] / width, src, f"{base}.size")
    if depth < 1:
        raise _unsupported(src, f"{base}.size", f"smaller than one {width}-bit word")
    attrs = {"width": width, "depth": depth, "datawidth": datawidth, "n_banks": 1,
             "read_bandwidth": words, "write_bandwidth": words}
    if base in SHARED:  # one SRAM port, every tile double-buffered (as our mapper assumes)
        attrs.update({"shared_bandwidth": words, "multiple_buffering": 2, **holds})
    else:  # SpikeX does not power-gate idle PEs: every instance leaks (Timeloop: gated with the DRAM)
        attrs["power_gated_at"] = Quoted("DRAM")
    return attrs


def _component(arch: SpikeXArch, name: str, timing: dict[str, dict] | None = None) -> Component:
    if name in MEMBRANE_LEVELS + LEAK_LEVELS:  # one membrane value wide, no port limit
        kind, sub = "storage", _proxy_class(arch, name)
        attrs = {"width": arch.vmem_bits, "depth": int(arch.sizes_bits["Vmem"] // arch.vmem_bits),
                 "datawidth": arch.vmem_bits, "power_gated_at": Quoted("DRAM")}
    else:
        kind, sub = CLASSES[spikex_component(name)]
        attrs = {"width": arch.vmem_bits, "weight_width": arch.weight_bits} if kind == "compute" \
            else storage_attributes(arch, name)  # compute: accumulate-only, priced from our table
    attrs.update((timing or {}).get(name, {}))
    actions = COMPUTE_ACTIONS if kind == "compute" else STORAGE_ACTIONS
    return Component({"name": name, "class": kind, "subclass": sub, "attributes": attrs,
                      "required_actions": list(actions)})


def _proxy_class(arch: SpikeXArch, name: str) -> str:
    """Accelergy class of a PE proxy level: the logic part's own, else one of its own."""
    part = next((p for p in arch.extras.pe_logic if p.name == name), None)
    return part.component_class if part is not None else PROXY_CLASSES[name]


def arch_spec(arch: SpikeXArch, technology: str, timing: dict[str, dict] | None = None) -> dict:
    """The SpikeX hierarchy as v0.4 nodes: DRAM -> GLB -> L1 (each as a spike and a weight
    level) -> rows x cols PEs (Vmem, weight register, accumulator); `timing`: extra attributes
    per level (`timing_attributes`)."""
    nodes: list = [Container({"name": SYSTEM, "attributes": {
        "technology": technology, "global_cycle_seconds": 1.0 / arch.clock_hz}})]
    nodes += [_component(arch, level, timing) for level in TL_STORAGE if spikex_component(level) in SHARED]
    nodes.append(Container({"name": PE, "spatial": {"meshX": arch.cols, "meshY": arch.rows}}))
    nodes += [_component(arch, level, timing) for level in TL_STORAGE if spikex_component(level) not in SHARED]
    nodes.append(_component(arch, "Accumulator"))
    return {"architecture": {"version": VERSION, "nodes": nodes}}


def timing_attributes(layer: Layer, m: SpikeXMapping, arch: SpikeXArch, d: DensityModel,
                      cost: LayerCost) -> dict[str, dict]:
    """Level attributes that put into Timeloop's own timing (the slowest level, plus the
    networks' fill and drain latencies) the parts of our cycle count (`cost`: the layer under
    mapping `m` and firing statistics `d`) that its data path lacks:
    - Vmem: every Outputs access (one per accumulation) consumes the PE's array cycles per
      accumulation in port slots, so the Vmem's cycles are our array's (less fill/drain). The
      membrane steps that serialise with a PE's accumulations (spatial: its own windows'
      steps; temporal: the chain of its row's cols windows) share the Vmem port with them;
      below density 1 the column line also runs in lockstep (a weight step lasts as long as
      the busiest column's window, at least a cycle), where Timeloop's PEs run their mean work.
    - L1_weights (the level that feeds the PE array): network_fill_latency = the systolic
      fill/drain, rows + cols - 1.
    - DRAM: network_fill_latency / network_drain_latency = the transfers before the first
      tile (the first GLB tile from DRAM, the first L1 tile) and after the last (the last output
      tile into the GLB and back to DRAM), which nothing overlaps.
    Latencies are whole cycles (Timeloop reads integers)."""
    parts = cost.cycle_parts
    exposed = exposed_transfers(layer, m, arch, sparse_factors(layer, m, arch, d))
    per_pe = cost.actions.get(("Accumulator", "compute"), 0.0) / (m.rows * m.cols)
    scale = (parts["array"] - parts["fill_drain"]) / per_pe if per_pe > 0 else 1.0
    return {"Vmem": {"per_dataspace_bandwidth_consumption_scale": {"Outputs": float(scale)}},
            "L1" + WEIGHTS_PART: {"network_fill_latency": int(round(float(parts["fill_drain"])))},
            "DRAM": {"network_fill_latency": int(round(float(exposed["before"]))),
                     "network_drain_latency": int(round(float(exposed["after"])))}}


# ---------------------------------------------------------------------------- problem

def problem_spec(layer: Layer, input_density: float) -> dict:
    """Sout[t,m,p,q] += Sin[t,c,stride*p+r,stride*q+s] * Wt[m,c,r,s] as a Timeloop problem."""
    sizes = {"N": 1, "T": layer.T, "C": layer.C, "M": layer.M, "P": layer.P, "Q": layer.Q,
             "R": layer.R, "S": layer.S}
    shape = {
        "name": f"SNN_{layer.type}",
        "dimensions": list(DIMS),
        "coefficients": [{"name": "Hstride", "default": layer.stride},
                         {"name": "Wstride", "default": layer.stride}],
        "data_spaces": [
            {"name": "Weights", "projection": [[["M"]], [["C"]], [["R"]], [["S"]]]},
            {"name": "Inputs", "projection": [[["N"]], [["T"]], [["C"]], [["R"], ["P", "Hstride"]],
                                              [["S"], ["Q", "Wstride"]]]},
            {"name": "Outputs", "projection": [[["N"]], [["T"]], [["M"]], [["P"]], [["Q"]]],
             "read_write": True},
        ],
    }
    densities = {  # spikes land at random: hypergeometric; weights and membrane partial sums are dense
        "Inputs": {"distribution": "hypergeometric", "density": float(input_density)},
        "Weights": {"distribution": "fixed_structured", "density": 1.0},
        "Outputs": {"distribution": "fixed_structured", "density": 1.0},
    }
    instance = {**sizes, "Hstride": layer.stride, "Wstride": layer.stride, "densities": densities}
    return {"problem": {"version": VERSION, "shape": shape, "instance": instance}}


# ---------------------------------------------------------------------------- mapping

def level_loops(layer: Layer, m: SpikeXMapping, source: str = "<mapping>"
                ) -> tuple[dict[str, list[str]], dict[str, list[tuple[str, int]]], list[tuple[str, int, str]]]:
    """The SpikeX loop nest in Timeloop's terms: per buffer the data spaces it keeps and its
    temporal loops (outer to inner, below it); the spatial loops of the PE fanout below L1."""
    keep: dict[str, list[str]] = {}
    temporal: dict[str, list[tuple[str, int]]] = {}
    spatial: list[tuple[str, int, str]] = []
    level, below_fanout = None, False
    for node in loop_nest(layer, m):
        if node[0] == "store":
            level, below_fanout = node[1], False
            if level not in STORAGE:
                raise _unsupported(source, "loop_nest", f"buffer '{level}' is not in the exported hierarchy")
            keep[level] = [TENSORS[t] for t in node[2]]
            temporal[level] = []
        elif node[0] == "temporal":
            if below_fanout:
                raise _unsupported(source, "loop_nest", "a temporal loop between the PE fanout and a PE buffer")
            dim = node[1].upper()
            if any(d == dim and b > 1 and node[2] > 1 for d, b in temporal[level]):
                raise _unsupported(source, "loop_nest", f"two '{dim}' loops at {level}")
            temporal[level].append((dim, node[2]))
        elif node[0] == "spatial":
            if level != "L1" or node[4] not in ("rows", "cols"):
                raise _unsupported(source, "loop_nest", f"spatial loop '{node[4]}' below {level}")
            below_fanout = True
            spatial.append((node[1].upper(), node[2], node[4]))
    return keep, temporal, spatial


def _factors(loops: list[tuple[str, int]]) -> list[str]:
    f = {d: 1 for d in DIMS}
    for d, b in loops:
        f[d] *= b
    return [f"{d}={f[d]}" for d in DIMS]


def _permutation(outer_to_inner: list[str]) -> list[str]:
    """Timeloop lists loops inner to outer; loops not named come after (their order is moot)."""
    named = list(dict.fromkeys(reversed(outer_to_inner)))
    return named + [d for d in DIMS if d not in named]


def _spatial_target(x: list[str], y: list[str], factors: list[str]) -> dict:
    """meshX = columns, meshY = rows: dims before `split` go to X."""
    rest = [d for d in DIMS if d not in x and d not in y]
    return {"target": PE, "type": "spatial", "factors": factors, "permutation": x + y + rest, "split": len(x)}


def mapping_spec(layer: Layer, m: SpikeXMapping, source: str = "<mapping>") -> dict:
    """Every factor of one SpikeX mapping, so timeloop-model evaluates exactly that mapping."""
    keep, temporal, spatial = level_loops(layer, m, source)
    levels = timeloop_levels(keep)
    loops = {tl: [(d, b) for d, b in temporal[level] if b > 1] if has_loops else []
             for tl, level, _, has_loops in levels}
    if "Inputs" in keep["GLB"]:
        loops["DRAM" + WEIGHTS_PART], loops["GLB"] = _stationary_below(loops["DRAM" + WEIGHTS_PART])
    targets = []
    for tl_level, _, kept, _ in levels:
        targets.append(_dataspace_target(tl_level, kept))
        targets.append({"target": tl_level, "type": "temporal", "factors": _factors(loops[tl_level]),
                        "permutation": _permutation([d for d, _ in loops[tl_level]]),
                        **({"no_reuse": NO_REUSE[tl_level]} if tl_level in NO_REUSE else {})})
    x = [d for d, _, axis in spatial if axis == "cols"]
    y = [d for d, _, axis in spatial if axis == "rows"]
    targets.append(_spatial_target(x, y, _factors([(d, b) for d, b, _ in spatial])))
    _check_factors(layer, targets, source)
    return {"mapping": targets}


def _stationary_below(above: list[tuple[str, int]]) -> tuple[list[tuple[str, int]], list[tuple[str, int]]]:
    """Split the loops above the GLB's spike level into those that stay above it and the
    innermost ones that do not index Inputs (M), which go just below it. SpikeX's GLB keeps
    the spike tile across those; under `no_reuse` (NO_REUSE) Timeloop refetches on every
    iteration of a loop above the level, so the loops it must not refetch on are placed below."""
    split = len(above)
    while split and above[split - 1][0] not in INPUT_DIMS:
        split -= 1
    return above[:split], above[split:]


def timeloop_levels(keep: dict[str, list[str]]) -> list[tuple[str, str, list[str], bool]]:
    """Per Timeloop level (outer first): its name, the SpikeX buffer it is part of, the data
    spaces it keeps and whether it carries the buffer's loops (see TL_STORAGE)."""
    levels = []
    for tl_level in TL_STORAGE:
        if tl_level in MEMBRANE_LEVELS + LEAK_LEVELS:
            levels.append((tl_level, tl_level, ["Outputs"] if tl_level in MEMBRANE_LEVELS else [], False))
            continue
        level = spikex_component(tl_level)
        kept = keep[level]
        parts = [PART_TENSOR[suffix] for suffix in PART_TENSOR if level + suffix in TL_STORAGE]
        if tl_level != level:
            kept = [d for d in kept if d == PART_TENSOR[tl_level[len(level):]]]
        else:  # spikes; the weights start in DRAM_weights (no copy from a 1-bit level above)
            kept = [d for d in kept if d not in parts]
        levels.append((tl_level, level, kept, level not in SHARED or tl_level.endswith(WEIGHTS_PART)))
    return levels


def _dataspace_target(tl_level: str, kept: list[str]) -> dict:
    return {"target": tl_level, "type": "dataspace", "keep": kept, "bypass": [d for d in DATA_SPACES if d not in kept]}


def _check_factors(layer: Layer, targets: list[dict], source: str) -> None:
    """Each dimension's factors over all levels must multiply to the layer's size."""
    product = {d: 1 for d in DIMS}
    for t in targets:
        for f in t.get("factors", []):
            dim, value = f.split("=")
            product[dim] *= int(value)
    want = {"N": 1, "T": layer.T, "C": layer.C, "M": layer.M, "P": layer.P, "Q": layer.Q, "R": layer.R, "S": layer.S}
    bad = {d: (product[d], want[d]) for d in DIMS if product[d] != want[d]}
    if bad:
        raise _rejected(source, f"layers.{layer.name}", f"mapping factors do not tile the layer: {bad}")


def constraints_spec(arch: SpikeXArch, layer: Layer, m: SpikeXMapping) -> dict:
    """The SpikeX mapspace as Timeloop constraints: keep/bypass per buffer, which dimensions
    each buffer may loop over and in which order, rows <- M and columns <- T or Q."""
    keep, temporal, _ = level_loops(layer, m)
    targets = []
    for tl_level, level, kept, has_loops in timeloop_levels(keep):
        targets.append(_dataspace_target(tl_level, kept))
        free = [d for d, _ in temporal[level]] if has_loops else []
        if tl_level == "GLB" and temporal["DRAM"] and temporal["DRAM"][-1][0] == "M":
            free = ["M"]  # the innermost DRAM loop, placed below the spike level (see _stationary_below)
        factors = [f"{d}=1" for d in DIMS if d not in free]
        if level == "WReg":  # the window: TWS steps, at most the Vmem entries (one partial sum each)
            entries = arch.sizes_bits["Vmem"] // arch.vmem_bits
            factors.append(f"T<={max([t for t in arch.extras.tws_choices if t <= entries], default=1)}")
        targets.append({"target": tl_level, "type": "temporal", "factors": factors, "permutation": _permutation(free),
                        **({"no_reuse": NO_REUSE[tl_level]} if tl_level in NO_REUSE else {})})
    modes = arch.extras.dispatch_modes
    x = [d for d, mode in (("T", "temporal"), ("Q", "spatial")) if mode in modes]
    targets.append(_spatial_target(x, ["M"], [f"{d}=1" for d in DIMS if d not in x and d != "M"]))
    return {"constraints": {"version": VERSION, "targets": targets}}


def mapper_spec() -> dict:
    # search_size bounds the search (valid mappings per thread), so `tl mapper` ends
    return {"mapper": {"version": VERSION, "optimization_metrics": ["edp"], "algorithm": "hybrid", "search_size": 100,
                       "num_threads": 8, "timeout": 10000, "victory_condition": 100,
                       "max_permutations_per_if_visit": 16, "live_status": False, "diagnostics": False}}


def check_exportable(arch: SpikeXArch, layer: Layer, m: SpikeXMapping) -> None:
    """Refuse mappings Timeloop would reject or that the export cannot express."""
    src = arch.path
    if m.mode not in ("temporal", "spatial"):
        raise _unsupported(src, f"layers.{layer.name}.mode", f"dispatch mode '{m.mode}'")
    if m.rows > arch.rows or m.cols > arch.cols:
        raise _rejected(src, f"layers.{layer.name}.mapping",
                        f"{m.rows}x{m.cols} PEs used but the array is {arch.rows}x{arch.cols}")
    try:
        m.check(layer)
    except ValueError as e:
        raise _rejected(src, f"layers.{layer.name}.mapping", f"imperfect tiling: {e}") from None
    entries = arch.sizes_bits["Vmem"] // arch.vmem_bits
    if m.tws > entries:
        raise _rejected(src, "Vmem.size", f"layer {layer.name}: TWS {m.tws} needs {m.tws} Vmem entries, "
                                          f"the Vmem holds {entries}")
    nest = loop_nest(layer, m)
    widths = widths_of(arch)
    for i, node in enumerate(nest):  # the tiles of a buffer must fit it together
        if node[0] != "store" or node[1] == "DRAM":
            continue
        ext = tile_extents(layer, [n for n in nest[:i] if n[0] != "store"])
        bits = sum(tile_values(layer, t, ext) * widths.value_bits(node[1], t) for t in node[2])
        capacity = arch.sizes_bits[node[1]] // (2 if node[1] in SHARED else 1)  # shared buffers double-buffer
        if bits > capacity:
            raise _rejected(src, f"{node[1]}.size", f"layer {layer.name}: a {bits}-bit tile does not fit "
                                                    f"{node[1]} ({capacity} bits usable)")


# ---------------------------------------------------------------------------- sparsity

def sparse_optimizations_spec(arch: SpikeXArch) -> tuple[dict, list[str]]:
    """Sparseloop skipping where SpikeX skips, and notes on what is approximated."""
    sk = arch.extras.skipping
    targets: list[dict] = []
    notes: list[str] = []

    def skip(level: str, tensor: str) -> None:
        targets.append({"target": level, "action_optimization": [
            {"type": "skipping", "options": [{"target": tensor, "condition_on": ["Inputs"]}]}]})

    if sk.weight_tailoring:
        skip("DRAM" + WEIGHTS_PART, "Weights")
        skip("GLB" + WEIGHTS_PART, "Weights")
        notes.append("SP-MB weight tailoring (weight kernels of silent channel x time blocks are not fetched) "
                     "is declared as skipping Weights reads at DRAM_weights and GLB_weights conditioned on "
                     "Inputs. Sparseloop tests the Inputs tile of a whole transfer (all the tile's channels "
                     "and time steps), almost never silent, not one SP-MB: weight traffic above L1 stays near "
                     "dense, an upper bound of SpikeX's (the main sparse gap of FC layers at 0.1 %).")
    if sk.zero_windows:
        skip("L1" + WEIGHTS_PART, "Weights")
        notes.append("Zero-window skipping (no weight load into a PE whose time window is silent) is declared as "
                     "skipping Weights reads at L1_weights conditioned on Inputs (a one-weight storage block, so "
                     "one weight at a time). A read multicast to the columns is skipped only when all their "
                     "windows are silent, and every column is then filled: weight-register fills are an upper "
                     "bound of SpikeX's per-PE loads.")
    if sk.zero_spikes:
        skip("WReg", "Weights")
        skip("Vmem", "Outputs")
        targets.append({"target": "Accumulator", "compute_optimization": [{"type": "skipping"}]})
        notes.append("Per-spike skipping (accumulate, weight-register read, Vmem read-modify-write only where a "
                     "spike arrived) is expressed exactly: skipping Weights at WReg and Outputs at Vmem "
                     "conditioned on Inputs, and skipped computes.")
    if sk.zero_blocks:
        notes.append("Zero time-block tags (silent spike blocks are not moved between buffers) have no Timeloop "
                     "counterpart: Timeloop moves every spike tile, so its DRAM/GLB/L1 Inputs traffic is an "
                     "upper bound of SpikeX's.")
    if sk.zero_spikes or sk.zero_windows:
        notes.append("The spike feeder reads only the L1 words of issued weight steps; Sparseloop cannot skip "
                     "the operand reads of Inputs without a compressed format (skipping Inputs conditioned on "
                     "Inputs stops timeloop-model with an assertion), so Timeloop reads every spike word from "
                     "L1: its L1 energy and, at low firing rates, its L1-bound cycles are upper bounds.")
    return {"sparse_optimizations": {"version": VERSION, "targets": targets}}, notes


# ---------------------------------------------------------------------------- energy tables

def component_energy_pj(arch: SpikeXArch) -> dict[str, dict[str, float]]:
    """Per instance and action, in pJ, with the actions Timeloop looks up: update = write,
    gated/skipped actions cost nothing (SpikeX does not perform them), leak per cycle."""
    table: dict[str, dict[str, float]] = {}
    for (comp, action), joules in arch.energy.items():
        table.setdefault(str(comp), {})[str(action)] = float(joules) * 1e12
    free = {f"{k}_{a}": 0.0 for k in ("gated", "skipped") for a in ("read", "write", "update")}
    leak = {comp: arch.leak_w.get(comp, 0.0) / _instances(arch, comp) / arch.clock_hz * 1e12 for comp in table}
    for comp, acts in table.items():
        kind = CLASSES.get(comp, ("logic",))[0]
        if kind in ("DRAM", "storage"):
            acts.setdefault("update", acts["write"])
            acts.update(free)
        elif kind == "compute":
            acts.update({"compute_gated": 0.0, "compute_skipped": 0.0})
        acts["leak"] = 0.0 if kind == "compute" else leak[comp]  # Timeloop's compute does not leak
    vmem = table["Vmem"]
    # Per finished output value: the comparator's step; the Vmem reads the potential twice (the
    # step, and the window's first accumulation, which Timeloop takes as a write of 0) and writes it.
    membrane = {"Comparator": arch.energy[("Comparator", "compare")] * 1e12,
                "Vmem_membrane": 2 * vmem["read"] + vmem["write"]}
    for level in MEMBRANE_LEVELS + LEAK_LEVELS:  # leak levels keep nothing: their storage actions never occur
        acts = table.setdefault(level, {})
        for action in ("read", "write", "update"):
            acts[action] = membrane[level] if level in membrane and action != "read" else acts.get(action, 0.0)
        acts.update({**free, "leak": leak.get(spikex_component(level), 0.0) if level != "Vmem_membrane" else 0.0})
    for level in SHARED:  # the weight level of a buffer: one weight per access; the macro leaks once
        share = weight_access_share(arch, level)
        weights = table[level + WEIGHTS_PART] = {a: e * share for a, e in table[level].items()}
        weights["leak"] = 0.0
        if level + OUTPUTS_PART in TL_STORAGE:  # Timeloop counts no read for sending a tile up: in the write
            table[level + OUTPUTS_PART] = {**table[level], "leak": 0.0, "write": table[level]["write"] + table[level]["read"],
                                           "update": table[level]["write"] + table[level]["read"]}
    return table


def weight_access_share(arch: SpikeXArch, level: str) -> float:
    """The share of one `level` access that moving one weight costs (weight levels are one weight wide)."""
    return arch.weight_bits / arch.bits_per_action[level]


def area_um2(arch: SpikeXArch) -> dict[str, float]:
    """Per instance; a buffer's area is on its spike level (one macro)."""
    areas = {str(c): float(a) / _instances(arch, c) * 1e12 for c, a in arch.area.items()}
    return {**areas, **{level: 0.0 for level in TL_STORAGE if spikex_component(level) != level}}


def _flat_name(arch: SpikeXArch, comp: str) -> str:
    return f"{SYSTEM}_top_level.{comp}[1..{_instances(arch, comp)}]"


def ert_spec(arch: SpikeXArch) -> dict:
    return {"ERT": {"version": str(VERSION), "tables": [
        {"name": _flat_name(arch, comp), "actions": [{"name": a, "arguments": {}, "energy": float(e)}
                                                     for a, e in acts.items()]}
        for comp, acts in component_energy_pj(arch).items()]}}


def art_spec(arch: SpikeXArch) -> dict:
    return {"ART": {"version": str(VERSION), "tables": [
        {"name": _flat_name(arch, comp), "area": float(a)} for comp, a in area_um2(arch).items()]}}


def _table_class_and_attributes(arch: SpikeXArch, comp: str, technology: str) -> tuple[str, dict]:
    """Accelergy primitive class and the attributes that select a row of its table."""
    part = next((p for p in arch.extras.pe_logic if p.name == comp), None)
    if part is not None:
        return part.component_class, {"technology": technology, **part.attributes}
    if comp in MEMBRANE_LEVELS + LEAK_LEVELS:
        return PROXY_CLASSES[comp], {"technology": technology, "width": arch.vmem_bits}
    if spikex_component(comp) in CLASSES:
        kind, cls = CLASSES[spikex_component(comp)]
        if kind == "compute":
            return cls, {"technology": technology, "width": arch.vmem_bits}
        attrs = storage_attributes(arch, comp)
        keys = ("width", "datawidth", "holds") if kind == "DRAM" else ("width", "depth", "datawidth", "holds")
        return cls, {"technology": technology, **{k: attrs[k] for k in keys if k in attrs}}
    raise _unsupported(arch.path, f"arch.{comp}", "component without a class")


def energy_tables(arch: SpikeXArch, technology: str) -> dict[str, str]:
    """{file name: text} of an Accelergy table-based plug-in: one CSV per primitive class
    (attribute columns, action, energy in pJ, area in um^2) and the identifier file."""
    energies, areas = component_energy_pj(arch), area_um2(arch)
    rows: dict[str, dict[tuple, tuple[float, float]]] = {}
    columns: dict[str, list[str]] = {}
    for comp, acts in energies.items():
        cls, attrs = _table_class_and_attributes(arch, comp, technology)
        cols = columns.setdefault(cls, [])
        cols += [k for k in attrs if k not in cols]
        for action, e in acts.items():
            key = (tuple(sorted(attrs.items())), action)
            value = (e, areas.get(comp, 0.0))
            if rows.setdefault(cls, {}).setdefault(key, value) != value:
                raise _unsupported(arch.path, f"arch.{comp}", f"two components of class {cls} with the same "
                                                              f"attributes {attrs} have different costs")
    files = {"spikex.table.yaml": dump_yaml({"name": f"spikex_{arch.name}", "technology": technology,
                                             "accuracy": 100, "path_to_data_dir": "./data"})}
    arguments = action_arguments(arch)
    for cls, table in rows.items():
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(columns[cls] + ["action", *arguments, "energy", "area"])
        for (attrs, action), (e, a) in table.items():
            d = dict(attrs)
            w.writerow([d.get(c, "") for c in columns[cls]] + [action, *arguments.values(), repr(e), repr(a)])
        files[f"data/{cls}.csv"] = buf.getvalue()
    return files


def action_arguments(arch: SpikeXArch) -> dict[str, str]:
    """The arguments Accelergy 0.4 passes with every action, as the table plug-in compares them
    (str of the value): the clock period from arch.yaml, one cycle per action."""
    return {"global_cycle_seconds": str(1.0 / arch.clock_hz), "action_latency_cycles": "1"}


# ---------------------------------------------------------------------------- the export

COMMON_NOTES = [
    "Membrane recurrence: Timeloop's compute is the accumulation only. The export prices one membrane "
    "step per finished output value on two PE levels every output passes once (Comparator: the "
    "comparison; Vmem_membrane: the Vmem read and write of the potential, and the read of the window's "
    "first accumulation, which Timeloop takes as a write of 0) - exact at density 1; SpikeX runs TWS "
    "steps only for windows whose receptive field fired and one decay step otherwise, so at low rates "
    "these levels are upper bounds. Its cycles are on the Vmem's port (below).",
    "Leakage: every PE instance leaks (power_gated_at: DRAM), as in our model; the accumulator's, tag "
    "logic's and controller's leakage sit on levels that keep nothing (Accumulator_leak, TagLogic, "
    "PEController). The tag checks, tag updates and controller dispatches themselves are not "
    "exported (under 0.2 % of any bundled layer's energy at density 1).",
    "Activity tags across a window (a PE's time window, an SP-MB = channel x time block) are not "
    "Timeloop state: where SpikeX skips by tag, the export uses Sparseloop skipping conditioned on the "
    "Inputs tile, whose emptiness Sparseloop derives from the density model, not from recorded tags.",
    "Inputs density is the recorded firing rate times the share of kernel taps that read a real input "
    "line (padding never spikes; 1 for unpadded layers), so Timeloop's effectual accumulations equal "
    "ours; the distribution is hypergeometric (spikes at random positions, padding halo included). "
    "Burstiness in the statistics (window occupancy above 1-(1-rate)^w) is not carried over.",
    "Mixed word sizes: DRAM, GLB and L1 each become a 1-bit level for spikes (and the GLB a 1-bit level "
    "for output spikes) and a one-weight-wide level for Weights (X_weights, its access energy the "
    "weight's share of a port access), in sequence with no loop between them. Each gets the buffer's "
    "whole capacity and port: the export checks that the tiles fit together, Timeloop does not see "
    "them compete for the port.",
    "Whole-tile spike refills: SpikeX refills a double-buffered spike tile whole; Timeloop would keep "
    "the rows a tile shares with the previous one (sliding window), so GLB and L1 say no_reuse for "
    "Inputs, and the innermost loops that do not index Inputs (M) are placed just below the spike "
    "level so the tile stays across them, as in SpikeX. Timeloop counts no read for sending an output "
    "tile up: GLB_outputs' write carries that read's energy. Partial-word fills (each L1 fill moves whole "
    "words) are aggregated by Timeloop.",
    "The TWS choice set becomes an upper bound on the weight register's T factor; the two dispatch "
    "modes become 'columns take T or Q' (Timeloop may mix them).",
    "Cycles: Timeloop's are its slowest level's plus the networks' fill and drain latencies. What its data "
    "path lacks is written into arch.yaml from this layer's cycle parts under this mapping (index.yaml: "
    "timeloop_timing): the Vmem's per_dataspace_bandwidth_consumption_scale for Outputs is the PE's array "
    "cycles per accumulation (its membrane steps share the Vmem port with the accumulations; below density 1 "
    "the column line's lockstep, a weight step lasting as long as the busiest column's window, adds to them), "
    "L1_weights' network_fill_latency is the systolic fill/drain, the DRAM's network_fill_latency "
    "and network_drain_latency are the transfers before the first and after the last tile (nothing "
    "overlaps them). Timeloop's mapper sees these values as "
    "constants of the architecture (they are this mapping's), and Timeloop prices leakage over the slowest "
    "level's cycles only (not over the latencies).",
]


def export_timeloop(arch: str | SpikeXArch = "spikex", network: str | Network = "dvsg-medium",
                    density: float | None = None, profile: str | None = None, *, out_dir: str | Path,
                    workers: int = 2, **arch_params) -> dict:
    """Map `network` with our mapper and write Timeloop v0.4 specs per weighted layer to `out_dir`.
    Returns the index (also written as index.yaml). Nothing is written when any layer fails."""
    from spikex_plugin.api import densities_for, run_map

    arch = arch if isinstance(arch, SpikeXArch) else load_arch(arch, **arch_params)
    network = network if isinstance(network, Network) else load_network(network)
    weighted = [l for l in network.resolved if l.has_weights]
    if not weighted:
        raise SpikeXInputError(network.source, "layers", "nothing to export: the network has only pooling "
                                                         "layers, and Timeloop has no OR-pool")
    for layer in network.resolved:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", layer.name) or layer.name in RESERVED or layer.name.startswith("."):
            raise SpikeXInputError(network.source, f"layers.{layer.name}.name",
                                   "a layer name becomes a directory: use letters, digits, '_', '.', '-'")
    dens, source = densities_for(network, density, profile)
    try:
        result = run_map(arch, network, density, profile, workers=workers)
    except SpikeXInputError:
        raise
    except ValueError as e:
        raise SpikeXInputError(arch.path, "mapping", str(e)) from None
    technology = _technology(arch.path, tuple(sorted(dict(arch.params).items())))
    sparse, sparse_notes = sparse_optimizations_spec(arch)
    files: dict[str, str] = {}
    index: dict = {"format": "spikex-timeloop-export/1", "network": network.name, "arch": arch.name,
                   "density": source, "technology": technology, "layers": [], "skipped": []}
    for layer, cost in zip(network.resolved, result.layers):
        if not layer.has_weights or lowering(layer):
            reason = (f"priced as repeated plain work ({lowering(layer)}); one Einsum per repeat is not exported"
                      if layer.has_weights else "spike pooling is an OR over each window; Timeloop has no OR-pool"
                      if layer.type == "pool" else "element-wise op: no weights, no Einsum exported")
            index["skipped"].append({"name": layer.name, "type": layer.type, "reason": reason})
            continue
        m = cost.mapping
        check_exportable(arch, layer, m)
        rate = float(dens[layer.name].rate)
        density = rate * layer.valid_tap_fraction  # padding never spikes: same effectual work as ours
        timing = timing_attributes(layer, m, arch, dens[layer.name], cost)
        specs = {"arch.yaml": arch_spec(arch, technology, timing), "problem.yaml": problem_spec(layer, density),
                 "sparse_optimizations.yaml": sparse, "mapper.yaml": mapper_spec(),
                 "constraints.yaml": constraints_spec(arch, layer, m),
                 "mapping.yaml": mapping_spec(layer, m, arch.path)}
        for name, spec in specs.items():
            files[f"{layer.name}/{name}"] = dump_yaml(spec)
        for run_dir, prefix in RUN_DIRS.items():
            files[f"{layer.name}/{run_dir}/{prefix}.ART.yaml"] = dump_yaml(art_spec(arch))
        index["layers"].append({"name": layer.name, "type": layer.type, "dir": layer.name,
                                "firing_rate": rate, "input_density": density,
                                "mapping": m.to_dict(), "summary": m.summary(),
                                "spikex_energy_j": float(cost.energy_j), "spikex_cycles": float(cost.cycles),
                                "spikex_energy_by_component_j": {c: float(e) for c, e in cost.breakdown_j.items()},
                                "spikex_actions": {f"{c}.{a}": float(n) for (c, a), n in cost.actions.items()},
                                "spikex_cycle_parts": {k: float(v) for k, v in cost.cycle_parts.items()},
                                "timeloop_timing": timing,
                                "dense_computes": int(layer.dense_synops)})
    files["ERT.yaml"] = dump_yaml(ert_spec(arch))
    files["ART.yaml"] = dump_yaml(art_spec(arch))
    files.update({f"energy_tables/{k}": v for k, v in energy_tables(arch, technology).items()})
    index["approximations"] = sparse_notes + COMMON_NOTES
    files["index.yaml"] = dump_yaml(index)
    files["README.md"] = _readme(index, arch)
    with atomic_output_dir(out_dir) as staging:
        for rel, text in files.items():
            path = staging / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        out = Path(out_dir)
        for item in staging.iterdir():  # directories from an earlier export are replaced whole
            if (out / item.name).is_dir() and not (out / item.name).is_symlink():
                shutil.rmtree(out / item.name)
    return index


def _readme(index: dict, arch: SpikeXArch) -> str:
    lines = [f"# Timeloop v0.4 / Sparseloop export: {index['network']} on {index['arch']}", "",
             f"Written by `spikex export-timeloop`; firing statistics: `{index['density']}`; "
             f"technology {index['technology']}; {arch.rows}x{arch.cols} PEs at {arch.clock_hz / 1e6:g} MHz. "
             "See docs/timeloop-export.md in spikex-plugin for the full story.", "",
             "## Layers", "",
             "| layer | type | directory | our mapping | Inputs density | our energy (J) | our cycles |",
             "|---|---|---|---|---|---|---|"]
    for l in index["layers"]:
        lines.append(f"| {l['name']} | {l['type']} | `{l['dir']}/` | {l['summary']} | {l['input_density']:.6g} "
                     f"| {l['spikex_energy_j']:.4g} | {l['spikex_cycles']:.4g} |")
    for s in index["skipped"]:
        lines.append(f"| {s['name']} | {s['type']} | not exported | {s['reason']} | | | |")
    first = index["layers"][0]["dir"]
    lines += ["", "## Run", "",
              "With timeloopfe's `tl` (timeloopfe 0.4, Accelergy 0.4, `timeloop-model`/`timeloop-mapper` "
              "on the PATH), from a layer directory:", "", "```bash",
              f"cd {first}",
              "# evaluate exactly our mapping (energies from ../ERT.yaml and ../ART.yaml, no Accelergy call;",
              "# model/ and mapper/ already hold the ART file timeloopfe parses after the run)",
              "tl model arch.yaml problem.yaml sparse_optimizations.yaml mapping.yaml ../ERT.yaml ../ART.yaml -o model",
              "# search Timeloop's own mapping in the SpikeX mapspace",
              "tl mapper arch.yaml problem.yaml sparse_optimizations.yaml constraints.yaml mapper.yaml "
              "../ERT.yaml ../ART.yaml -o mapper",
              "# or let Accelergy price the components from the table plug-in (same numbers)",
              "accelergyTables -r \"$(cd ../energy_tables && pwd)\"   # once; needs accelergy-table-based-plug-ins",
              "tl model arch.yaml problem.yaml sparse_optimizations.yaml mapping.yaml -o model_accelergy", "```", "",
              "Compare `model/timeloop-model.stats.txt` with `spikex_energy_j`, `spikex_cycles`, "
              "`spikex_energy_by_component_j` in index.yaml (Timeloop's X_weights, X_outputs, "
              "X_membrane and X_leak levels are parts of our component X).", "",
              "## What is approximated", ""]
    lines += [f"- {n}" for n in index["approximations"]]
    return "\n".join(lines) + "\n"
