"""SpikeX HWComponents models, their discovery, the CACTI rebuild, and AccelForge costing.

Source numbers: Horowitz ISSCC 2014 (45 nm) and the Aladdin 40 nm tables shipped in
hwcomponents_library; CACTI targets are independent measurements recorded in the
project's ecosystem notes (32 nm, 64-bit port: 54 KB read 13.4 pJ, write 9.97 pJ;
2 KB read 1.49 pJ).
"""

from __future__ import annotations

import math
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hwcomponents
import pytest
from hwcomponents.scaling import tech_node_energy, tech_node_leak
from hwcomponents_library.library import aladdin

from spikex_plugin.hardware import cacti, components
from spikex_plugin.util import third_party_notices_silenced
from spikex_plugin.hardware.components import (
    MODELS,
    ActivityTagLogic,
    PEController,
    SpikeAccumulator,
    SpikeComparator,
    VmemScratchpad,
    WeightRegister,
)

ARCH = Path(__file__).resolve().parents[1] / "arch_specs" / "spikex.yaml"
PJ, UM2 = 1e-12, 1e-12
exact = lambda x: pytest.approx(x, rel=1e-9)  # noqa: E731

FC_WORKLOAD = """
workload:
  iteration_space_shape:
    t: 0 <= t < 8
    m: 0 <= m < 16
    c: 0 <= c < 32
  bits_per_value: {Sin: 1, Wt: 8, Sout: 1}
  einsums:
  - name: FC
    tensor_accesses:
    - {name: Sin, projection: [t, c]}
    - {name: Wt, projection: [m, c]}
    - {name: Sout, projection: [t, m], output: True}
    renames: {input: Sin, weight: Wt, output: Sout}
"""


def _energies(model: object) -> dict[str, float]:
    return {name: getattr(model, name)().energy for name in type(model).get_action_names()}


# ---------------------------------------------------------------- source numbers


def test_accumulator_matches_horowitz_45nm() -> None:
    add32 = SpikeAccumulator(tech_node=45e-9, width=32)
    assert add32.compute().energy == exact(0.1 * PJ)
    assert add32.area == exact(137 * UM2)
    assert add32.leak_power == exact(2.40e-6 * tech_node_leak(45e-9, 40e-9))
    add16 = SpikeAccumulator(tech_node=45e-9, width=16)
    assert add16.compute().energy == exact(0.05 * PJ)  # Horowitz's own 16-bit figure
    assert add16.area == pytest.approx(67 * UM2, rel=0.05)  # Horowitz: 67 um^2


def test_registers_match_aladdin_40nm() -> None:
    for width in (1, 8):
        reg = WeightRegister(tech_node=40e-9, width=width)
        ref = aladdin.AladdinRegister(tech_node=40e-9, width=width)
        assert reg.read().energy == exact(0.009 * PJ * width) == exact(ref.read().energy)
        assert reg.write().energy == exact(0.009 * PJ * width)
        assert reg.area == exact(5.98 * UM2 * width) == exact(ref.area)
        assert reg.leak_power == exact(2.40e-6 / 32 * width)  # our assumption


def test_vmem_scratchpad_register_file() -> None:
    one_entry = VmemScratchpad(tech_node=40e-9, width=16, depth=1)
    assert one_entry.read().energy == exact(WeightRegister(40e-9, 16).read().energy)
    vmem = VmemScratchpad(tech_node=40e-9, width=16, depth=16)
    assert vmem.read().energy == exact(16 * 0.009 * PJ * (1 + 4))
    assert vmem.write().energy == exact(16 * 0.009 * PJ * (1 + 4))
    assert vmem.area == exact(16 * 16 * 5.98 * UM2)
    reads = [VmemScratchpad(40e-9, 16, d).read().energy for d in (1, 2, 4, 16, 64)]
    assert reads == sorted(reads) and len(set(reads)) == len(reads)
    assert vmem.read(bits_per_action=32).energy == exact(2 * vmem.read().energy)


def test_composed_models_match_aladdin_40nm() -> None:
    comparator = SpikeComparator(tech_node=40e-9, width=32)
    adds = 2 * 0.1 * PJ * tech_node_energy(40e-9, 45e-9)
    assert comparator.compare().energy == exact(adds + 0.02947 * PJ)

    tags = ActivityTagLogic(tech_node=40e-9, fan_in=32)
    assert tags.update().energy == exact(0.02947 * PJ + 0.009 * PJ)
    assert tags.check().energy == exact(0.009 * PJ)
    assert tags.area == exact((71 + 5.98) * UM2)

    controller = PEController(tech_node=40e-9, counter_width=32)
    assert controller.dispatch().energy == exact((0.25074 + 0.02947) * PJ)
    assert controller.area == exact((495.5 + 71) * UM2)
    assert controller.leak_power == exact(3.21e-7 + 2.51e-8)


def test_comparator_is_sum_of_parts_at_32nm() -> None:
    parts = (
        2 * SpikeAccumulator(32e-9, 16).compute().energy
        + aladdin.AladdinComparator(32e-9, 16).compare().energy
    )
    assert SpikeComparator(32e-9, 16).compare().energy == exact(parts)


# ---------------------------------------------------------------- scaling


@pytest.mark.parametrize("cls", MODELS, ids=lambda c: c.__name__)
def test_32nm_cheaper_than_45nm(cls: type) -> None:
    new, old = cls(tech_node=32e-9), cls(tech_node=45e-9)
    assert new.area < old.area and new.leak_power < old.leak_power
    for action, energy in _energies(new).items():
        assert 0 < energy < _energies(old)[action], action
        assert math.isfinite(getattr(new, action)().throughput)


@pytest.mark.parametrize(
    "cls, attr, actions",
    [
        (SpikeAccumulator, "width", ["compute"]),
        (SpikeComparator, "width", ["compare"]),
        (VmemScratchpad, "width", ["read", "write"]),
        (WeightRegister, "width", ["read", "write"]),
        (ActivityTagLogic, "fan_in", ["update"]),  # `check` reads one bit at any fan-in
        (PEController, "counter_width", ["dispatch"]),
    ],
    ids=lambda x: getattr(x, "__name__", None),
)
def test_cost_grows_with_width(cls: type, attr: str, actions: list[str]) -> None:
    narrow, wide = cls(tech_node=32e-9, **{attr: 8}), cls(tech_node=32e-9, **{attr: 16})
    assert wide.area > narrow.area
    for action in actions:
        assert getattr(wide, action)().energy > getattr(narrow, action)().energy, action


def test_accumulator_linear_in_width() -> None:
    e = {w: SpikeAccumulator(32e-9, w).compute().energy for w in (8, 16, 32)}
    assert e[16] == exact(2 * e[8]) and e[32] == exact(2 * e[16])


# ---------------------------------------------------------------- discovery


def test_hwcomponents_discovers_models(monkeypatch: pytest.MonkeyPatch) -> None:
    """hwcomponents finds top-level `hwcomponents_*` modules on sys.path (a regular
    install puts ours in site-packages; a setuptools editable install does not expose it
    to pkgutil, so the test puts its parent folder on sys.path) and our priority wins."""
    import hwcomponents.find_models as find_models
    import hwcomponents_spikex

    monkeypatch.syspath_prepend(str(Path(hwcomponents_spikex.__file__).parents[1]))
    monkeypatch.setattr(find_models, "_ALL_ESTIMATORS", None)
    # get_models() first: hwcomponents caches whichever kind (classes or wrappers) the
    # first discovery returns, and get_models() breaks on cached wrappers.
    found = {m.__name__ for m in hwcomponents.get_models()}
    assert {m.__name__ for m in MODELS} <= found
    attrs = {"tech_node": 32e-9, "width": 16}
    cost = hwcomponents.get_action_cost("spike_accumulator", attrs, "compute", {})
    assert cost.energy == exact(SpikeAccumulator(**attrs).compute().energy)
    area = hwcomponents.get_area("vmem_scratchpad", {**attrs, "depth": 16})
    assert area == exact(VmemScratchpad(32e-9, 16, 16).area)


# ---------------------------------------------------------------- CACTI


def _sram(kbytes: int, action: str) -> float:
    bits = kbytes * 1024 * 8
    attrs = {"tech_node": 32e-9, "width": 64, "depth": bits // 64, "size": bits}
    with third_party_notices_silenced():
        cost = hwcomponents.get_action_cost(
            "SRAM", attrs, action, {"bits_per_action": 64}, models=hwcomponents.get_models()
        )
    return cost.energy


def test_cacti_sram_energies_after_rebuild() -> None:
    assert cacti.cacti_runs(cacti.ensure_cacti())
    assert _sram(54, "read") == pytest.approx(13.4 * PJ, rel=0.05)
    assert _sram(54, "write") == pytest.approx(9.97 * PJ, rel=0.05)
    assert _sram(2, "read") == pytest.approx(1.49 * PJ, rel=0.05)


def test_cacti_runs_rejects_unloadable_binary(tmp_path: Path) -> None:
    fake = tmp_path / "cacti"
    fake.write_text("#!/bin/sh\necho \"version 'GLIBC_2.38' not found\" >&2\nexit 1\n")
    fake.chmod(0o755)
    assert not cacti.cacti_runs(fake)
    assert not cacti.cacti_runs(tmp_path / "missing")


@pytest.mark.parametrize("missing, message", [("make", "'make'"), ("c++", r"C\+\+ compiler")])
def test_ensure_cacti_names_missing_tool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, missing: str, message: str
) -> None:
    monkeypatch.setattr(cacti, "cacti_dir", lambda: tmp_path)  # no runnable binary here
    monkeypatch.delenv("CXX", raising=False)
    absent = {"make"} if missing == "make" else {"g++", "c++", "clang++"}
    real_which = shutil.which
    monkeypatch.setattr(cacti.shutil, "which", lambda t: None if t in absent else real_which(t))
    with pytest.raises(RuntimeError, match=message):
        cacti.ensure_cacti()


@pytest.mark.slow
@pytest.mark.skipif(not (shutil.which("make") and shutil.which("g++")), reason="needs make, g++")
def test_ensure_cacti_rebuilds_broken_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A copy of the bundled source with an unloadable binary is rebuilt once, even when
    two callers race (the second waits on the lock and finds a working binary)."""
    src = tmp_path / "cacti"
    shutil.copytree(cacti.cacti_dir(), src, ignore=shutil.ignore_patterns("obj_*", "cacti"))
    (src / "cacti").write_text("#!/bin/sh\nexit 1\n")
    (src / "cacti").chmod(0o755)
    monkeypatch.setattr(cacti, "cacti_dir", lambda: src)
    with ThreadPoolExecutor(2) as pool:
        built = list(pool.map(lambda _: cacti.ensure_cacti(), range(2)))
    assert built == [src / "cacti"] * 2 and cacti.cacti_runs(src / "cacti")
    run = subprocess.run(["./cacti", "-infile", "cache.cfg"], cwd=src, capture_output=True, timeout=300)
    assert run.returncode == 0


# ---------------------------------------------------------------- AccelForge


def test_accelforge_costs_spikex_arch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import accelforge as af
    import hwcomponents.find_models as find_models
    from accelforge.frontend.arch import Component
    from accelforge.util import _yaml

    cacti.ensure_cacti()
    raw = _yaml.load_yaml(str(ARCH))  # Jinja-rendered with the file's defaults
    # The SpikeX extras sit in `variables.spikex`; Spec rejects unknown top-level keys,
    # so an older top-level `spikex:` section is taken out before building the Spec.
    extras = raw.pop("spikex", None) or raw["variables"]["spikex"]
    (tmp_path / "fc.yaml").write_text(FC_WORKLOAD)
    workload = af.Workload.from_yaml(str(tmp_path / "fc.yaml"), top_key="workload")
    spec = af.Spec(**raw, workload=workload)
    spec.config.add_component_models(components)
    # AccelForge calls hwcomponents.get_models(), which fails if an earlier plain
    # get_action_cost/get_area call cached model wrappers (hwcomponents 1.0.114).
    monkeypatch.setattr(find_models, "_ALL_ESTIMATORS", None)
    with third_party_notices_silenced():
        costed = spec.calculate_component_costs()

    leaves = list(costed.arch.get_nodes_of_type(Component))
    assert {c.component_class for c in leaves} >= {
        "SRAM", "vmem_scratchpad", "weight_register", "spike_accumulator"
    }
    for c in leaves:
        assert c.area >= 0 and math.isfinite(c.area), c.name
        for a in c.actions:
            assert 0 < a.energy < 1e-9 and a.throughput > 0, (c.name, a.name)
    by_name = {c.name: c for c in leaves}
    assert by_name["Accumulator"].actions["compute"].energy == exact(
        SpikeAccumulator(32e-9, 16).compute().energy
    )
    assert by_name["GLB"].actions["read"].energy == pytest.approx(13.4 * PJ, rel=0.05)

    tech_node = float(raw["arch"]["extra_attributes_for_all_component_models"]["tech_node"])
    for entry in extras["pe_logic"]:
        attrs = {"tech_node": tech_node, **entry["attributes"]}
        model = hwcomponents.get_model(entry["component_class"], attrs, models=list(MODELS))
        for action in model.get_action_names():
            cost = hwcomponents.get_action_cost(
                entry["component_class"], attrs, action, {}, models=list(MODELS)
            )
            assert 0 < cost.energy < 1e-12, (entry["name"], action)
