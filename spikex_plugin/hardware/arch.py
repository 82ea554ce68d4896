"""SpikeX architecture: an AccelForge spec plus the SpikeX extras, priced by HWComponents.

The YAML's `arch:` section is AccelForge's architecture language (loaded and validated by
`accelforge.Spec`); `variables.spikex` holds what AccelForge's Einsum view has no place for
(clock, DRAM bandwidth, PE logic beside the accumulation path, skipping switches).
Per-action energies come from AccelForge's `calculate_component_costs`, which calls the
HWComponents models (CACTI for SRAMs, `hwcomponents_spikex` for the PE parts).
"""

from __future__ import annotations

import functools
import math
import re
import tempfile
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Annotated, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from spikex_plugin.cache import cached, package_versions, sources_digest
from spikex_plugin.errors import SpikeXInputError, from_validation_error
from spikex_plugin.util import third_party_notices_silenced

LEVELS = ("DRAM", "GLB", "L1", "Vmem", "WReg")
# Parts beside the accumulation path that the cost model prices, with the action it counts.
PE_LOGIC_PARTS = {"Comparator": ("compare",), "PEController": ("dispatch",), "TagLogic": ("check", "update")}
BUNDLED_ARCHS = ("spikex", "ptb", "dense")
FinitePositive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class PELogic(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    component_class: str
    attributes: dict = {}


class Skipping(BaseModel):
    model_config = ConfigDict(extra="forbid")
    zero_windows: bool = True     # NTWUs whose input window is silent: no weight load, no accumulate
    zero_blocks: bool = True      # time blocks with a zero tag are not moved between buffers
    weight_tailoring: bool = True  # weight kernels of inactive SP-MBs are not fetched
    zero_spikes: bool = True      # accumulate only where a spike arrived


class PortSpec(BaseModel):
    """Ports of one SRAM, each as wide as the level's bits per action. The default, one read
    and one write port, is what double buffering needs: the array reads one half of a tile
    buffer while the next tile is written into the other half."""
    model_config = ConfigDict(extra="forbid")
    read: int = Field(1, ge=0)
    write: int = Field(1, ge=0)
    read_write: int = Field(0, ge=0)   # shared ports serving either

    @model_validator(mode="after")
    def _some_port(self) -> "PortSpec":
        if self.read + self.write + self.read_write == 0:
            raise ValueError("an SRAM needs at least one port")
        return self

    def cycles(self, reads, writes):
        """Fewest cycles that serve `reads` and `writes` actions through these ports (scalars,
        or arrays over a mapspace)."""
        reads, writes = np.asarray(reads, dtype=np.float64), np.asarray(writes, dtype=np.float64)
        bound = (reads + writes) / (self.read + self.write + self.read_write)
        for n, ports in ((reads, self.read), (writes, self.write)):
            serving = ports + self.read_write
            need = n / serving if serving else np.inf
            bound = np.maximum(bound, np.where(n != 0, need, 0.0))
        return bound if bound.ndim else float(bound)


class SpikeXExtras(BaseModel):
    model_config = ConfigDict(extra="forbid")
    model: Literal["spikex", "ptb"] = "spikex"  # which cost model prices the spec
    clock_hz: FinitePositive
    dram_bytes_per_s: FinitePositive
    weight_bits: PositiveInt
    skipping: Skipping = Skipping()
    dispatch_modes: list[str] = Field(default=["temporal", "spatial"], min_length=1)
    tws_choices: list[PositiveInt] = Field(default=[1, 2, 4, 8, 16], min_length=1)
    global_tws: bool = False      # PTB: one TWS for the whole network
    fc_tag_group: PositiveInt = 8  # FC input lines per SP-MB tag
    ports: dict[Literal["GLB", "L1"], PortSpec] = {"GLB": PortSpec(), "L1": PortSpec()}
    pe_logic: list[PELogic] = []


@dataclass(frozen=True)
class SpikeXArch:
    """Everything the SpikeX cost model needs, resolved from the spec."""
    name: str
    path: str
    params: tuple
    rows: int
    cols: int
    sizes_bits: dict[str, float]
    bits_per_action: dict[str, float]
    vmem_bits: int
    extras: SpikeXExtras
    energy: dict[tuple[str, str], float]     # (component, action) -> J per action
    area: dict[str, float]                   # component -> m^2 (all instances)
    leak_w: dict[str, float] = field(default_factory=dict)

    @property
    def clock_hz(self) -> float:
        return self.extras.clock_hz

    @property
    def weight_bits(self) -> int:
        return self.extras.weight_bits

    def energy_breakdown(self, actions: dict[tuple[str, str], float], cycles: float) -> dict[str, float]:
        """Joules per component: the actions at this spec's prices plus each component's
        leakage over `cycles`."""
        breakdown: dict[str, float] = {}
        for (comp, action), count in actions.items():
            breakdown[comp] = breakdown.get(comp, 0.0) + count * self.energy[(comp, action)]
        seconds = cycles / self.clock_hz
        for comp, watts in self.leak_w.items():
            if watts:
                breakdown[comp] = breakdown.get(comp, 0.0) + watts * seconds
        return breakdown

    def port_cycles(self, level: str, reads, writes):
        """Cycles the SRAM `level` needs for these actions through its ports."""
        return self.extras.ports.get(level, PortSpec()).cycles(reads, writes)

    @property
    def total_area(self) -> float:
        return sum(self.area.values())


def resolve_arch_path(name_or_path: str | Path) -> Path:
    path = Path(name_or_path)
    if path.suffix or path.exists():
        if not path.is_file():
            raise SpikeXInputError(path, "--arch", "file not found")
        return path
    if str(name_or_path) in BUNDLED_ARCHS:
        return Path(str(resources.files("spikex_plugin") / "data" / "arch_specs" / f"{name_or_path}.yaml"))
    raise SpikeXInputError(name_or_path, "--arch", f"unknown architecture; bundled: {', '.join(BUNDLED_ARCHS)}")


def load_arch(name_or_path: str | Path = "spikex", **params) -> SpikeXArch:
    """Load and price an architecture spec. `params` override its Jinja parameters
    (ROWS, COLS, GLB_KB, L1_KB, WEIGHT_BITS, TECH_NODE_NM, CLOCK_MHZ, DRAM_GBPS, ...);
    a name the spec does not use, or a value out of range, raises SpikeXInputError."""
    path = resolve_arch_path(name_or_path)
    params = check_parameters(path, params)
    return _load_arch(str(path.resolve()), tuple(sorted(params.items())))


# Parameters of the bundled specs: (whole number?, largest accepted value). The upper bounds
# keep the mapspace and the CACTI models in the range they were built for; lower bounds are
# checked on the spec fields they size (a zero-size buffer names the buffer).
PARAMETER_RULES: dict[str, tuple[bool, float]] = {
    "ROWS": (True, 256), "COLS": (True, 256), "WEIGHT_BITS": (True, 32), "VMEM_BITS": (True, 64),
    "VMEM_ENTRIES": (True, 1024), "SRAM_PORT_BITS": (True, 4096), "GLB_KB": (False, 65536),
    "L1_KB": (False, 65536), "TECH_NODE_NM": (False, 1000), "CLOCK_MHZ": (False, 100_000),
    "DRAM_GBPS": (False, 100_000),
}


def spec_parameters(path: str | Path) -> list[str]:
    """The Jinja parameters a spec reads (`{% set ROWS = ROWS | default(8) %}` and the like)."""
    import jinja2
    import jinja2.meta

    try:
        ast = jinja2.Environment().parse(Path(path).read_text())
    except jinja2.TemplateSyntaxError as e:
        raise SpikeXInputError(path, f"line {e.lineno}", f"Jinja: {e.message}") from None
    return sorted(jinja2.meta.find_undeclared_variables(ast))


def check_parameters(path: str | Path, params: dict) -> dict:
    """Every override names a parameter of the spec and is a finite number in its range
    (a whole number where the spec counts things, returned as an int)."""
    known = spec_parameters(path)
    for name, value in params.items():
        if name not in known:
            raise SpikeXInputError("--set", name, f"{Path(path).name} has no parameter '{name}'; "
                                   f"its parameters: {', '.join(known) or 'none'}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise SpikeXInputError("--set", name, f"{value!r} is not a finite number")
        whole, top = PARAMETER_RULES.get(name, (False, math.inf))
        if whole and value != int(value):
            raise SpikeXInputError("--set", name, f"{value} is not a whole number")
        if value > top:
            raise SpikeXInputError("--set", name, f"{value} is above the largest supported value {top:g}")
    return {name: int(value) if PARAMETER_RULES.get(name, (False,))[0] else value for name, value in params.items()}


_DUMMY_WORKLOAD = """workload:
  iteration_space_shape: {t: 0 <= t < 2, m: 0 <= m < 2, c: 0 <= c < 2}
  bits_per_value: {Sin: 1, Wt: 8, Sout: 1}
  einsums:
  - name: probe
    tensor_accesses:
    - {name: Sin, projection: [t, c]}
    - {name: Wt, projection: [m, c]}
    - {name: Sout, projection: [t, m], output: True}
    renames: {input: Sin, weight: Wt, output: Sout}
"""


def accelforge_spec(path: str | Path, params: dict, *extra_yaml: str):
    """An `accelforge.Spec` of the arch file plus extra YAML files (workload, mapping)."""
    import accelforge as af

    from spikex_plugin.hardware.cacti import ensure_cacti
    ensure_cacti()
    try:
        spec = af.Spec.from_yaml(str(path), *extra_yaml, jinja_parse_data=dict(params))
    except ValidationError as e:
        err = from_validation_error(str(path), e, raw_spec(path, params))
        unknown = UNKNOWN_FIELD.match(err.message)
        if unknown:  # AccelForge's own check of unknown fields, raised inside pydantic
            raise SpikeXInputError(path, f"{err.field}.{unknown[1]}", f"unknown field (a typo?) in {unknown[2]}") from None
        raise err from None
    except Exception as e:  # AccelForge reports YAML/Jinja/field problems as plain exceptions
        raise _spec_error(path, e, params) from None
    spec.config.add_component_models(_component_models_module())
    return spec


UNKNOWN_FIELD = re.compile(r"Field (\S+) is not supported for (\w+)")  # AccelForge's wording


def raw_spec(path: str | Path, params: dict) -> dict | None:
    """The spec as plain data (Jinja rendered, YAML tags dropped), to name fields in errors;
    None when it does not parse."""
    import jinja2
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.add_multi_constructor("!", lambda loader, suffix, node: loader.construct_mapping(node, deep=True)
                                 if isinstance(node, yaml.MappingNode) else loader.construct_object(node))
    try:
        text = jinja2.Environment().from_string(Path(path).read_text()).render(**params)
        data = yaml.load(text, Loader=Loader)
    except Exception:  # an error message only loses entry names
        return None
    return data if isinstance(data, dict) else None


def _key_path(data, key: str, prefix: str = "") -> str | None:
    """Where `key` appears in the raw spec, list entries named by their `name`."""
    if isinstance(data, dict):
        if key in data:
            return f"{prefix}{key}"
        items = data.items()
    elif isinstance(data, list):
        items = ((d.get("name", i) if isinstance(d, dict) else i, d) for i, d in enumerate(data))
    else:
        return None
    for k, v in items:
        found = _key_path(v, key, f"{prefix}{k}.")
        if found:
            return found
    return None


def _spec_error(path: str | Path, e: Exception, params: dict) -> SpikeXInputError:
    """The field (or line) at fault in an error AccelForge passes through from its YAML
    parser (ruamel), Jinja or its expression evaluator."""
    import jinja2
    from accelforge.util.exceptions import EvaluationError

    mark = getattr(e, "problem_mark", None)
    if mark is not None:
        return SpikeXInputError(path, f"line {mark.line + 1}", f"malformed YAML: {getattr(e, 'problem', e)}")
    if isinstance(e, jinja2.TemplateSyntaxError):
        return SpikeXInputError(path, f"line {e.lineno}", f"Jinja: {e.message}")
    if isinstance(e, EvaluationError) and e._fields:  # fields innermost first; arch ones lack a prefix
        where = ".".join(map(str, e._fields[::-1]))
        where = where.removeprefix("Spec().") if where.startswith("Spec().") else f"arch.{where}"
        return SpikeXInputError(path, where, str(e.message).splitlines()[0][:400])
    unknown = UNKNOWN_FIELD.match(str(e))
    if unknown:
        key, owner = unknown.groups()
        where = _key_path(raw_spec(path, params), key) or key
        return SpikeXInputError(path, where, f"unknown field '{key}' (a typo?) in {owner}")
    return SpikeXInputError(path, "arch", str(e).splitlines()[0][:500])


def _component_models_module():
    from spikex_plugin.hardware import components
    return components


def forget_loaded_archs() -> None:
    """Drop the specs this process has loaded, so the next `load_arch` reads the disk cache
    (or prices the spec) again."""
    _load_arch.cache_clear()


@functools.lru_cache(maxsize=64)
def _load_arch(path: str, params: tuple) -> SpikeXArch:
    """The priced spec, from the disk cache when this rendered spec was priced before by the
    same tools (AccelForge's parse and CACTI take seconds; a cache hit imports neither)."""
    arch = cached("arch", arch_cache_key(path, dict(params)), lambda: _price_arch(path, params),
                  valid=lambda a: isinstance(a, SpikeXArch))
    return replace(arch, name=Path(path).stem, path=path, params=params)


PRICING_PACKAGES = ("spikex-plugin", "accelforge", "hwcomponents", "hwcomponents-cacti", "hwcomponents-library",
                    "pydantic")


def arch_cache_key(path: str | Path, params: dict) -> str:
    """What a priced spec depends on: the rendered spec, the pricing tools' versions and
    this package's own pricing code (component models, spec checks)."""
    import jinja2

    rendered = jinja2.Environment().from_string(Path(path).read_text()).render(**params)
    own = list(Path(__file__).parent.glob("*.py"))  # the spec checks and the component models
    return "\n".join(["spikex-arch/1", package_versions(*PRICING_PACKAGES), sources_digest(*own), rendered])


def _price_arch(path: str, params: tuple) -> SpikeXArch:
    """Parse the spec with AccelForge and price its components with HWComponents/CACTI."""
    with tempfile.TemporaryDirectory() as tmp:
        wl = Path(tmp) / "probe.yaml"
        wl.write_text(_DUMMY_WORKLOAD)
        spec = accelforge_spec(path, dict(params), str(wl))
        raw_extras = (spec.variables.model_dump() if hasattr(spec.variables, "model_dump") else dict(spec.variables)).get("spikex")
        if raw_extras is None:
            raise SpikeXInputError(path, "variables.spikex", "missing SpikeX section (clock_hz, dram_bytes_per_s, ...)")
        try:
            extras = SpikeXExtras.model_validate(raw_extras)
        except ValidationError as e:
            err = from_validation_error(path, e, raw_extras)
            raise SpikeXInputError(path, f"variables.spikex.{err.field}", err.message) from None
        missing_parts = sorted(set(PE_LOGIC_PARTS) - {p.name for p in extras.pe_logic})
        if missing_parts:
            raise SpikeXInputError(path, "variables.spikex.pe_logic",
                                   f"the SpikeX cost model needs parts named {', '.join(PE_LOGIC_PARTS)}; "
                                   f"missing: {', '.join(missing_parts)}")
        nodes = {n.name: n for n in spec.arch.nodes}
        missing = [n for n in (*LEVELS, "PEArray", "Accumulator") if n not in nodes]
        if missing:
            raise SpikeXInputError(path, "arch.nodes", f"SpikeX needs components named {missing}")
        if {s.name for s in nodes["PEArray"].spatial} != {"rows", "cols"}:
            raise SpikeXInputError(path, "arch.nodes.PEArray.spatial", "needs exactly 'rows' and 'cols' fanouts")
        try:
            spec = spec._spec_eval_expressions(einsum_name="probe")
        except Exception as e:
            raise _spec_error(path, e, dict(params)) from None
        _check_values(spec, path, dict(params))
        fan = {s.name: int(s.fanout) for s in spec.arch.find("PEArray").spatial}
        try:
            with third_party_notices_silenced():
                costed = spec.calculate_component_costs()
        except Exception as e:
            raise _pricing_error(spec, path, e) from None
        energy, area, leak, bpa, sizes = {}, {}, {}, {}, {}
        for node in costed.arch.nodes:
            if not hasattr(node, "actions"):
                continue
            instances = fan["rows"] * fan["cols"] if node.name in ("Vmem", "WReg", "Accumulator") else 1
            for a in node.actions:
                energy[(node.name, a.name)] = float(a.energy)
                if getattr(a, "bits_per_action", None) is not None:
                    bpa[node.name] = float(a.bits_per_action)
            area[node.name] = float(node.area or 0) * instances
            leak[node.name] = float(node.leak_power or 0) * instances
            if hasattr(node, "size"):
                sizes[node.name] = float(node.size)
        vmem_bits = dict(spec.arch.find("Vmem").bits_per_value).get("Sout", 16)
        if not isinstance(vmem_bits, (int, float)) or not math.isfinite(vmem_bits) or vmem_bits < 1 \
                or vmem_bits != int(vmem_bits) or vmem_bits > sizes["Vmem"]:
            raise SpikeXInputError(path, "arch.nodes.Vmem.bits_per_value.Sout",
                                   f"must be a whole number of bits from 1 to the Vmem size, got {vmem_bits}")
        _price_pe_logic(extras, energy, area, leak, fan["rows"] * fan["cols"], spec, path)
        for part, action in ((p, a) for p, actions in PE_LOGIC_PARTS.items() for a in actions):
            if (part, action) not in energy:
                raise SpikeXInputError(path, f"variables.spikex.pe_logic.{part}.component_class",
                                       f"its model has no '{action}' action, which the cost model prices")
    for (comp, action), value in energy.items():
        if not math.isfinite(value) or value < 0:
            where = f"arch.nodes.{comp}" if comp in nodes else f"variables.spikex.pe_logic.{comp}"
            raise SpikeXInputError(path, f"{where}.actions.{action}.energy", f"{value} J is not a finite non-negative number")
    def plain(d: dict) -> dict:  # AccelForge's names are str subclasses; plain ones pickle without it
        return {(tuple(map(str, k)) if isinstance(k, tuple) else str(k)): v for k, v in d.items()}

    return SpikeXArch(name=Path(path).stem, path=path, params=params, rows=int(fan["rows"]), cols=int(fan["cols"]),
                      sizes_bits=plain(sizes), bits_per_action=plain(bpa), vmem_bits=int(vmem_bits), extras=extras,
                      energy=plain(energy), area=plain(area), leak_w=plain(leak))


def _check_values(spec, path: str, params: dict) -> None:
    """Reject values AccelForge accepts silently but SpikeX cannot use: a buffer of zero or
    negative size (CACTI then fails obscurely or prices a negative area), an array
    dimension below 1, a non-positive port width or technology node."""
    def bad(field: str, what: str, value) -> SpikeXInputError:
        hint = f" (parameters: {', '.join(f'{k}={v}' for k, v in sorted(params.items()))})" if params else ""
        return SpikeXInputError(path, field, f"{what}, got {value}{hint}")

    def positive(x) -> bool:
        return isinstance(x, (int, float)) and x > 0 and not math.isnan(x)

    for name in LEVELS:
        node = spec.arch.find(name)
        if not hasattr(node, "size"):
            raise SpikeXInputError(path, f"arch.nodes.{name}", "must be a !Memory (it holds tensors)")
        if not positive(node.size) or (name != "DRAM" and math.isinf(node.size)):
            raise bad(f"arch.nodes.{name}.size", "must be a positive number of bits" + ("" if name == "DRAM" else ", finite"), node.size)
        for a in node.actions:
            if not positive(a.bits_per_action) or math.isinf(a.bits_per_action):
                raise bad(f"arch.nodes.{name}.actions.{a.name}.bits_per_action", "must be a positive number of bits", a.bits_per_action)
    for dim in spec.arch.find("PEArray").spatial:
        if not positive(dim.fanout) or dim.fanout != int(dim.fanout):
            raise bad(f"arch.nodes.PEArray.spatial.{dim.name}.fanout", "must be a whole number >= 1", dim.fanout)
    tech = dict(spec.arch.extra_attributes_for_all_component_models).get("tech_node")
    if tech is not None and (not positive(tech) or math.isinf(tech)):
        raise bad("arch.extra_attributes_for_all_component_models.tech_node", "must be a positive length in metres", tech)


def _pricing_error(spec, path: str, e: Exception) -> SpikeXInputError:
    """Name the node whose component class has no HWComponents model, or the field
    AccelForge's evaluator names, when that is the cause."""
    from accelforge.util.exceptions import EvaluationError

    if isinstance(e, EvaluationError) and e._fields:
        return SpikeXInputError(path, "arch.nodes." + ".".join(map(str, e._fields[::-1])),
                                str(e.message).split(". This occurred")[0].splitlines()[0][:300])
    msg = str(e).splitlines()[0]
    for node in spec.arch.nodes:
        cls = getattr(node, "component_class", None)
        if cls and f"Component {cls} is not supported" in msg:
            return SpikeXInputError(path, f"arch.nodes.{node.name}.component_class",
                                    f"no HWComponents model for component class '{cls}'")
    return SpikeXInputError(path, "arch", f"pricing components failed: {msg[:400]}")


def _price_pe_logic(extras: SpikeXExtras, energy: dict, area: dict, leak: dict, pes: int, spec,
                    spec_source: str) -> None:
    import hwcomponents as hwc

    from spikex_plugin.hardware import components
    models = hwc.get_models(*components.MODELS, include_installed=False, _return_wrappers=True)
    tech = dict(spec.arch.extra_attributes_for_all_component_models).get("tech_node")
    for part in extras.pe_logic:
        attrs = {"tech_node": tech, **part.attributes}
        try:
            with third_party_notices_silenced():
                model = hwc.get_model(part.component_class, attrs, models=models)
        except Exception as e:
            raise SpikeXInputError(spec_source, f"variables.spikex.pe_logic.{part.name}.component_class",
                                   f"no HWComponents model for '{part.component_class}': {str(e).splitlines()[0][:200]}") from None
        for action in model.get_action_names():
            energy[(part.name, action)] = float(getattr(model, action)().energy)
        area[part.name] = float(model.area) * pes
        leak[part.name] = float(model.leak_power) * pes


def arch_summary(arch: SpikeXArch) -> dict:
    return {"name": arch.name, "rows": arch.rows, "cols": arch.cols,
            "glb_kb": arch.sizes_bits["GLB"] / 8192, "l1_kb": arch.sizes_bits["L1"] / 8192,
            "clock_hz": arch.clock_hz, "params": dict(arch.params), "area_mm2": arch.total_area * 1e6}
