"""Bad architecture specs: `spikex map` exits 2 naming the file and the field, writes nothing.

AccelForge accepts some of these silently (a zero-size buffer, a zero-wide array), so the
SpikeX loader must catch them before pricing."""

import pytest

from spikex_plugin.cli import main
from spikex_plugin.hardware.arch import resolve_arch_path

SPIKEX = resolve_arch_path("spikex").read_text()


def _replace(old: str, new: str) -> str:
    assert old in SPIKEX, old
    return SPIKEX.replace(old, new, 1)


BAD_FILES = {
    "glb-without-size": (_replace("    size: {{GLB_KB}} * 1024 * 8\n", ""), "arch.nodes.GLB.size"),
    "no-clock": (_replace("    clock_hz: {{CLOCK_MHZ}}e6\n", ""), "clock_hz"),
    "unknown-component-class": (_replace("component_class: weight_register", "component_class: flux_capacitor"),
                                "arch.nodes.WReg.component_class"),
    "malformed-yaml": (_replace("    name: Accumulator", "    name: [Accumulator"), "field 'line "),
    "bad-jinja": (_replace("{% set ROWS = ROWS | default(8) %}", "{% set ROWS = ROWS | default(8) "), "field 'line "),
    "missing-node": (_replace("    name: WReg\n", "    name: WeightReg\n"), "arch.nodes"),
    "literal-size-zero": (_replace("    size: {{WEIGHT_BITS}}\n", "    size: 0\n"), "arch.nodes.WReg.size"),
    "negative-energy": (_replace("    - {name: read, bits_per_action: 64}", "    - {name: read, bits_per_action: 64, energy: -1}"),
                        "arch.nodes.DRAM.actions.read.energy"),
}


def _fails_cleanly(args: list[str], source: str, field: str, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["map", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert source in err and field in err, err
    assert not out.exists()


@pytest.mark.parametrize("case", BAD_FILES)
def test_bad_arch_file(tmp_path, capsys, case):
    body, field = BAD_FILES[case]
    bad = tmp_path / f"{case}.yaml"
    bad.write_text(body)
    _fails_cleanly(["--arch", str(bad)], str(bad), field, tmp_path, capsys)


@pytest.mark.parametrize("setting,field", [
    ("GLB_KB=0", "arch.nodes.GLB.size"),
    ("L1_KB=-2", "arch.nodes.L1.size"),
    ("VMEM_ENTRIES=0", "arch.nodes.Vmem.size"),
    ("ROWS=0", "arch.nodes.PEArray.spatial.rows.fanout"),
    ("COLS=-4", "arch.nodes.PEArray.spatial.cols.fanout"),
    ("TECH_NODE_NM=-5", "tech_node"),
    ("CLOCK_MHZ=0", "clock_hz"),
    ("SRAM_PORT_BITS=0", "arch.nodes.GLB.extra_attributes_for_component_model.depth"),
])
def test_bad_parameter(tmp_path, capsys, setting, field):
    _fails_cleanly(["--set", setting], "spikex.yaml", field, tmp_path, capsys)
