"""`--engine accelforge`: AccelForge's own mapper (FFM) on the SpikeX spec, as a cross-check.

AccelForge has no sparsity and no membrane recurrence, so this engine reports what
AccelForge sees: dense action counts, its energy and its latency for the mapping its
mapper picks in the SpikeX mapspace (`mappings/spikex_constraints.yaml`). It is slow
(tens of seconds to minutes on a conv layer, see ../../shared/ecosystem.md); the SpikeX
engine is the fast, sparse-aware one, and both agree on dense counts for the same mapping.
"""

from __future__ import annotations

import contextlib
import copy
import importlib
import tempfile
from importlib import resources
from pathlib import Path
from typing import Literal

import jinja2
import yaml

from spikex_plugin.cost_model.spikex import LayerCost
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.hardware.arch import SpikeXArch, accelforge_spec
from spikex_plugin.mapping.mapping import SpikeXMapping, accelforge_mapping_yaml, loop_nest
from spikex_plugin.util import third_party_notices_silenced
from spikex_plugin.workload.einsum import workload_yaml
from spikex_plugin.workload.network import Layer

DEFAULT_CONSTRAINTS = Path(str(resources.files("spikex_plugin") / "data" / "mappings" / "spikex_constraints.yaml"))
AFObjective = Literal["edp", "energy", "latency"]
LOOP_NESTS = ("spikex_template", "free")  # the constraints file's `loop_nest:` values


def _overlay(layer: Layer, arch: SpikeXArch, constraints: str | Path) -> dict:
    """The constraints file rendered for one layer (Jinja: rank sizes and array shape)."""
    dims = {"T": layer.T, "M": layer.M, "C": layer.C, "P": layer.P, "Q": layer.Q, "R": layer.R,
            "S": layer.S, "ROWS": arch.rows, "COLS": arch.cols}
    try:
        text = jinja2.Template(Path(constraints).read_text(), undefined=jinja2.StrictUndefined).render(**dims)
        overlay = yaml.safe_load(text)
    except (OSError, jinja2.TemplateError, yaml.YAMLError) as e:
        raise SpikeXInputError(constraints, "constraints", f"cannot read the overlay: {e}") from None
    if not isinstance(overlay, dict) or not isinstance(overlay.get("constraints"), dict):
        raise SpikeXInputError(constraints, "constraints", "cannot read the overlay: no `constraints:` mapping")
    if overlay.get("loop_nest", "free") not in LOOP_NESTS:
        raise SpikeXInputError(constraints, "loop_nest", f"must be one of {', '.join(LOOP_NESTS)}")
    return overlay


def constrained_spec(layer: Layer, arch: SpikeXArch, workload_path: str | Path,
                     constraints: str | Path = DEFAULT_CONSTRAINTS):
    """The arch's `accelforge.Spec` for one layer with the constraint overlay applied.

    AccelForge keeps only the first of repeated top-level keys across YAML files, so the
    constraints cannot be a second `arch:` file; each field of the overlay replaces the
    same field of the arch node of the same name, validated by AccelForge's own models.
    `double_buffered: true` on a memory halves the capacity the mapper sees (the SpikeX
    mapper requires double-buffered tiles); its energy model keeps the real size."""
    spec = accelforge_spec(arch.path, dict(arch.params), str(workload_path))
    overlay = _overlay(layer, arch, constraints)["constraints"]
    nodes = {n.name: n for n in spec.arch.nodes}
    for name, fields in overlay.items():
        if name not in nodes:
            raise SpikeXInputError(constraints, f"constraints.{name}", f"no arch node {name} in {arch.path}")
        node = nodes[name]
        try:
            unknown = set(fields) - {"tensors", "spatial", "double_buffered"}
            if unknown:
                raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
            if "tensors" in fields:
                node.tensors = type(node.tensors).model_validate({**node.tensors.model_dump(), **fields["tensors"]})
            for dim_name, dim_fields in fields.get("spatial", {}).items():
                i = next(i for i, d in enumerate(node.spatial) if d.name == dim_name)
                node.spatial[i] = type(node.spatial[i]).model_validate({**node.spatial[i].model_dump(), **dim_fields})
            if fields.get("double_buffered"):
                if not hasattr(node, "size"):
                    raise ValueError(f"{name} has no size to double-buffer")
                # The component model (CACTI) is handed `size` too: keep it the real one.
                setattr(node.extra_attributes_for_component_model, "size", node.size)
                node.size = f"({node.size}) / 2"
        except (StopIteration, ValueError, TypeError, AttributeError) as e:
            raise SpikeXInputError(constraints, f"constraints.{name}", str(e).splitlines()[0]) from None
    return spec


_FFM_TEMPLATES = "accelforge.mapper.FFM._make_pmappings.make_pmapping_templates.make_pmapping_templates"


@contextlib.contextmanager
def spikex_template_nests(layer: Layer, modes: list[str]):
    """Make FFM explore the SpikeX loop nest (`mapping.loop_nest`) only, one pmapping
    template per dispatch mode, instead of the loop-order templates it enumerates itself.

    AccelForge's constraint language cannot pin its templates to ours (see the constraints
    file), so this swaps FFM's template generator for the duration of the call: FFM still
    checks the overlay's constraints, picks every loop bound (tile shape, 1 included) and
    checks buffer capacity, evaluates and prunes, but only in the template's nest. Its own
    generator still builds the storage and spatial nodes from the keep-sets and array, so
    the template uses AccelForge's own node objects. Storage nodes are not lowered: each
    level holds its whole tile at its place in the nest, as the SpikeX mapper assumes.
    Template generation runs in the calling process for a one-Einsum workload (FFM
    parallelises it over Einsums only); `accelforge_choice` checks the result anyway."""
    from accelforge.frontend.mapping import Spatial, Temporal, TensorHolder
    from accelforge.model._looptree.reuse.symbolic import label_fused_loops

    module = importlib.import_module(_FFM_TEMPLATES)
    own = module.iterate_mappings_no_constraints

    def templates(spec, einsum_name, flattened_arch, rank_variable_bounds, job):
        first = next(iter(own(spec, einsum_name, flattened_arch, rank_variable_bounds, job)), None)
        if first is None:
            return
        nodes, symbol_table, compute, _ = first
        holders = {(n.component, n.tensors[0]): n for n in nodes if isinstance(n, TensorHolder)}
        spatials = {(n.name, n.rank_variable): n for n in nodes if isinstance(n, Spatial)}
        for mode in modes:
            nest = []
            for node in loop_nest(layer, SpikeXMapping(mode, 1, 1, 1, 1, 1, 1, 1)):  # the shape; FFM sizes it
                if node[0] == "store":
                    for tensor in node[2]:
                        holder = copy.deepcopy(holders[(node[1], tensor)])
                        holder._lower = False
                        nest.append(holder)
                elif node[0] == "temporal":
                    nest.append(Temporal(rank_variable=node[1]))
                else:
                    nest.append(copy.deepcopy(spatials[(node[4], node[1])]))
            label_fused_loops(nest, job.fusable_tensors)
            yield nest, symbol_table, compute, 1

    module.iterate_mappings_no_constraints = templates
    try:
        yield
    finally:
        module.iterate_mappings_no_constraints = own


def accelforge_choice(layer: Layer, arch: SpikeXArch, objective: AFObjective = "edp",
                      constraints: str | Path = DEFAULT_CONSTRAINTS):
    """The mapping AccelForge's mapper picks for one weighted layer (an AccelForge `Mapping`).

    With `loop_nest: spikex_template` in the constraints file FFM searches the SpikeX
    template's nest only (`spikex_template_nests`), so its choice is a template mapping;
    with `loop_nest: free` it enumerates its own templates under the constraints.
    The mapper's detailed re-evaluation (`eval_in_detail`) is skipped: it only renders
    `mapping.svg` into the working directory (needing graphviz) and repeats what
    `accelforge_cost` does."""
    from accelforge.frontend.mapper.metrics import Metrics
    from accelforge.mapper.FFM.main import map_workload_to_arch

    metrics = {"edp": Metrics.ENERGY_DELAY_PRODUCT, "energy": Metrics.ENERGY, "latency": Metrics.LATENCY}
    template_only = _overlay(layer, arch, constraints).get("loop_nest", "free") == "spikex_template"
    with tempfile.TemporaryDirectory() as tmp:
        wl = Path(tmp) / "workload.yaml"
        wl.write_text(workload_yaml(layer, arch.weight_bits))
        spec = constrained_spec(layer, arch, wl, constraints)
    spec.mapper.metrics = metrics[objective]
    nests = spikex_template_nests(layer, arch.extras.dispatch_modes) if template_only else contextlib.nullcontext()
    with third_party_notices_silenced(), nests:
        found = map_workload_to_arch(spec, eval_in_detail=False, print_progress=False)
    if len(found.data) == 0:
        raise ValueError(f"layer {layer.name}: AccelForge found no mapping in the constrained space")
    chosen = found.data.iloc[0]["Total<SEP>mapping"](_for_model=True)
    if template_only and template_mapping(layer, chosen) is None:
        raise RuntimeError(f"layer {layer.name}: AccelForge's choice is no SpikeX template mapping, so its "
                           f"template generator was not replaced: {chosen.compact_str()}")
    return chosen


def accelforge_cost(layer: Layer, arch: SpikeXArch, mapping) -> LayerCost:
    """AccelForge's `evaluate_mapping` of one mapping (an AccelForge `Mapping`, or a SpikeX
    template mapping written in AccelForge's mapping language) as a `LayerCost`: dense
    counts per (component, action) summed over tensors, AccelForge's energy (leak
    included), cycles = AccelForge latency x clock."""
    with tempfile.TemporaryDirectory() as tmp:
        files = [Path(tmp) / "workload.yaml"]
        files[0].write_text(workload_yaml(layer, arch.weight_bits))
        if isinstance(mapping, SpikeXMapping):
            files.append(Path(tmp) / "mapping.yaml")
            files[1].write_text(accelforge_mapping_yaml(layer, mapping))
        spec = accelforge_spec(arch.path, dict(arch.params), *map(str, files))
    if not isinstance(mapping, SpikeXMapping):
        spec.mapping = mapping
    with third_party_notices_silenced():
        result = spec.evaluate_mapping()
    clock = arch.clock_hz
    actions = {key: float(n) for key, n in result.actions(per_component=True).items()}
    breakdown = {comp: float(e) for comp, e in result.energy(per_component=True).items()}
    parts = {comp: float(s) * clock for comp, s in result.latency(per_component=True).items()}
    template = mapping if isinstance(mapping, SpikeXMapping) else template_mapping(layer, mapping)
    return LayerCost(layer.name, template, actions, float(result.energy()), float(result.latency()) * clock,
                     clock, breakdown, parts)


def map_layer_accelforge(layer: Layer, arch: SpikeXArch, objective: AFObjective = "edp",
                         constraints: str | Path = DEFAULT_CONSTRAINTS) -> LayerCost:
    """AccelForge's mapper on one weighted layer, its choice evaluated by AccelForge.
    `LayerCost.mapping` is the SpikeX template mapping when the choice is one, else None."""
    return accelforge_cost(layer, arch, accelforge_choice(layer, arch, objective, constraints))


def _canonical(nodes: list[tuple], full: dict[str, int]) -> list[tuple]:
    """Loop nest as comparable tuples: adjacent storage nodes of one level merged, loops
    that iterate once dropped (AccelForge keeps some, our YAML writer drops them)."""
    ext, out = dict(full), []
    for node in nodes:
        if node[0] == "store":
            if out and out[-1][0] == "store" and out[-1][1] == node[1]:
                out[-1] = ("store", node[1], out[-1][2] | frozenset(node[2]))
            else:
                out.append(("store", node[1], frozenset(node[2])))
            continue
        kind, rank, tile = node[0], node[1], node[2]
        if ext[rank] != tile:
            out.append((kind, rank, tile, *node[3:]))
        ext[rank] = tile
    return out


def _af_nodes(mapping) -> list[tuple]:
    """An AccelForge mapping as ("store", level, tensors) / (kind, rank, tile[, fanout name])."""
    from accelforge.frontend.mapping import Spatial, Storage, Temporal

    nodes = []
    for n in mapping.nodes:
        if isinstance(n, Storage):
            nodes.append(("store", n.component, tuple(n.tensors)))
        elif isinstance(n, Spatial):
            nodes.append(("spatial", n.rank_variable, int(n.tile_shape), n.name))
        elif isinstance(n, Temporal):
            nodes.append(("temporal", n.rank_variable, int(n.tile_shape)))
    return nodes


def template_mapping(layer: Layer, mapping) -> SpikeXMapping | None:
    """The SpikeX template mapping that has exactly this AccelForge loop nest, if any.

    AccelForge's space is wider than the template (see the constraints file), so its
    choice may be no template mapping; then the SpikeX model cannot price it."""
    full = {"t": layer.T, "m": layer.M, "c": layer.C, "p": layer.P, "q": layer.Q, "r": layer.R, "s": layer.S}
    nodes = _af_nodes(mapping)
    tiles, ext = {}, dict(full)
    for node in nodes:  # tile each level holds: the extents of the loops above its first node
        if node[0] == "store":
            tiles.setdefault(node[1], dict(ext))
        else:
            ext[node[1]] = node[2]
    if not {"GLB", "L1", "Vmem"} <= tiles.keys():
        return None
    glb, l1, vmem = tiles["GLB"], tiles["L1"], tiles["Vmem"]
    q_cols, t_cols = l1["q"] // vmem["q"], l1["t"] // vmem["t"]
    mode = "spatial" if q_cols > 1 else "temporal"
    candidate = SpikeXMapping(mode, vmem["t"], l1["m"] // vmem["m"], q_cols if q_cols > 1 else t_cols,
                              l1["c"], glb["t"], glb["m"], glb["p"])
    try:
        candidate.check(layer)
    except ValueError:
        return None
    ours = [n if n[0] == "store" else (n[0], n[1], n[3], *n[4:]) for n in loop_nest(layer, candidate)]
    same = _canonical(ours, full) == _canonical(nodes, full)
    return candidate if same else None
