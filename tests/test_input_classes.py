"""One test per class of bad input from issue 16: exit 2, a message naming the file (or
option) and the field in the user's terms, and nothing written."""

import json
import math
from pathlib import Path

import pytest
import yaml

from spikex_plugin.cli import main
from spikex_plugin.hardware.arch import resolve_arch_path
from spikex_plugin.workload.network import bundled_network_path

SPIKEX = resolve_arch_path("spikex").read_text()
TINY = {"name": "tiny", "T": 4, "input": {"channels": 2, "height": 4, "width": 4},
        "layers": [{"name": "conv1", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1},
                   {"name": "fc1", "type": "fc", "out_features": 3}]}
INTERNALS = ("Container", "chain[", "function-plain", "validate_raw_string", "unable to parse string", "Traceback")


def refused(argv: list[str], capsys, out: Path | None) -> str:
    """Run spikex; it must exit 2 with one message and leave `out` absent."""
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 2, err
    assert "error:" in err and not any(word in err for word in INTERNALS), err
    if out is not None:
        assert not out.exists()
    return err


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.fixture
def tiny(tmp_path) -> Path:
    return write(tmp_path, "tiny.yaml", yaml.safe_dump(TINY, sort_keys=False))


@pytest.mark.parametrize("option,value,said", [
    ("--tws", "7", "choose one of [1, 2, 4]"), ("--tws", "64", "choose one of [1, 2, 4]"),
    ("--tws", "-1", "argument --tws: -1 is below 1"), ("--tws", "0", "argument --tws: 0 is below 1"),
    ("--workers", "0", "argument --workers: 0 is below 1"), ("--workers", "-3", "argument --workers: -3 is below 1"),
    ("--density", "inf", "argument --density: inf is not a finite number"),
])
def test_cli_values(tmp_path, capsys, tiny, option, value, said):
    out = tmp_path / "o"
    err = refused(["map", "--network", str(tiny), option, value, "--out", str(out)], capsys, out)
    assert said in err


@pytest.mark.parametrize("extra,field", [({3: 4}, "field '3'"), ({"source": "x"}, "field 'source'"),
                                         ({"layer": []}, "field 'layer': unknown field")])
def test_network_unknown_keys(tmp_path, capsys, extra, field):
    net = write(tmp_path, "net.yaml", yaml.safe_dump({**TINY, **extra}, sort_keys=False))
    out = tmp_path / "o"
    err = refused(["map", "--network", str(net), "--out", str(out)], capsys, out)
    assert str(net) in err and field in err


def test_layer_field_named_by_layer(tmp_path, capsys):
    data = json.loads(json.dumps(TINY))
    data["layers"][1]["out_features"] = "many"
    net = write(tmp_path, "net.yaml", yaml.safe_dump(data, sort_keys=False))
    err = refused(["map", "--network", str(net), "--out", str(tmp_path / "o")], capsys, tmp_path / "o")
    assert "field 'layers.fc1.out_features'" in err


def test_arch_without_pe_logic(tmp_path, capsys, tiny):
    arch = write(tmp_path, "arch.yaml", SPIKEX.split("    pe_logic:")[0])
    out = tmp_path / "o"
    err = refused(["map", "--arch", str(arch), "--network", str(tiny), "--out", str(out)], capsys, out)
    assert str(arch) in err and "variables.spikex.pe_logic" in err and "Comparator" in err


@pytest.mark.parametrize("setting,said", [
    ("VMEM_BITS=0.5", "field 'VMEM_BITS': 0.5 is not a whole number"),
    ("VMEM_BITS=8.5", "field 'VMEM_BITS': 8.5 is not a whole number"),
    ("ROWS=2.5", "field 'ROWS': 2.5 is not a whole number"),
    ("CLOCK_MHZ=inf", "field 'CLOCK_MHZ': inf is not a finite number"),
    ("GLB_KB=nan", "field 'GLB_KB': nan is not a finite number"),
    ("ROWS=100000", "field 'ROWS': 100000 is above the largest supported value 256"),
    ("ROW=16", "has no parameter 'ROW'; its parameters: CLOCK_MHZ, COLS,"),
])
def test_set_values(tmp_path, capsys, tiny, setting, said):
    out = tmp_path / "o"
    err = refused(["map", "--network", str(tiny), "--set", setting, "--out", str(out)], capsys, out)
    assert "--set" in err and said in err


def test_set_unknown_in_components(capsys):
    err = refused(["components", "--set", "ROW=16"], capsys, None)
    assert "ROWS" in err


def test_whole_number_given_as_float_is_used_as_int():
    from spikex_plugin.hardware.arch import load_arch
    assert load_arch("spikex", ROWS=16.0).rows == 16


@pytest.mark.parametrize("old,new,field", [
    ("bits_per_value: {Sout: {{VMEM_BITS}}}", "bits_per_value: {Sout: .inf}", "arch.nodes.Vmem.bits_per_value.Sout"),
    ("{name: rows, fanout: {{ROWS}}", "{name: rows, fanout: 2.5", "arch.nodes.PEArray.spatial.rows.fanout"),
    ("\nvariables:", "\nbogus: 1\nvariables:", "field 'bogus': unknown field"),
    ("    name: GLB\n", "    name: GLB\n    sise: 4\n", "arch.nodes.GLB.sise"),
])
def test_arch_fields_in_user_terms(tmp_path, capsys, tiny, old, new, field):
    assert old in SPIKEX
    arch = write(tmp_path, "arch.yaml", SPIKEX.replace(old, new, 1))
    out = tmp_path / "o"
    err = refused(["map", "--arch", str(arch), "--network", str(tiny), "--out", str(out)], capsys, out)
    assert str(arch) in err and field in err


def test_network_too_big_for_any_mapping(tmp_path, capsys):
    # A 45x45 kernel: one filter row of one channel is 45 * 45 * 8 bits, double-buffered
    # 32,400 bits, more than the 2 KB (16,384-bit) L1 holds.
    net = write(tmp_path, "net.yaml", yaml.safe_dump({
        "name": "wide", "T": 4, "input": {"channels": 1, "height": 45, "width": 45},
        "layers": [{"name": "big", "type": "conv", "out_channels": 2, "kernel": 45}]}))
    out = tmp_path / "o"
    err = refused(["map", "--network", str(net), "--out", str(out)], capsys, out)
    assert str(net) in err and "layers.0 (big)" in err and "no SpikeX mapping" in err


@pytest.mark.parametrize("where,value,said", [
    ("T", 10**9, "time steps T = 1,000,000,000 is above the limit"),
    ("out_channels", 10**9, "output channels/features = 1,000,000,000 is above the limit"),
    ("height", 10**9, "padded input height = 1,000,000,002 is above the limit"),
])
def test_size_limits_before_work(tmp_path, capsys, where, value, said):
    data = yaml.safe_load(bundled_network_path("dvsg-large").read_text())
    if where == "T":
        data["T"] = value
    elif where == "height":
        data["input"]["height"] = value
    else:
        data["layers"][0]["out_channels"] = value
    net = write(tmp_path, "large.yaml", yaml.safe_dump(data))
    out = tmp_path / "o"
    err = refused(["map", "--network", str(net), "--out", str(out)], capsys, out)
    assert str(net) in err and said in err


def test_mapspace_limit(tmp_path, capsys):
    # 720720 has 240 divisors: with a 256 x 256 array every one of them is a row, column
    # and channel-tile choice, far over the limit, though no dimension is.
    net = write(tmp_path, "net.yaml", yaml.safe_dump({
        "name": "composite", "T": 720720, "input": {"channels": 720720},
        "layers": [{"name": "fc1", "type": "fc", "out_features": 720720}]}))
    out = tmp_path / "o"
    err = refused(["map", "--network", str(net), "--set", "ROWS=256", "--set", "COLS=256", "--out", str(out)],
                  capsys, out)
    assert "mappings to price" in err and "above the limit 1,000,000" in err and "GiB" in err


def test_stats_extra_layer_and_nan_edge(tmp_path, capsys, tiny):
    from spikex_plugin.sparsity.stats import network_stats_from_rate
    from spikex_plugin.workload.network import load_network

    stats = network_stats_from_rate(load_network(tiny), 0.05).model_dump()
    extra = json.loads(json.dumps(stats))
    extra["layers"]["ghost"] = extra["layers"]["conv1"]
    nan_edge = json.loads(json.dumps(stats))
    nan_edge["layers"]["fc1"]["line_spike_histogram"]["edges"][1] = math.nan
    for data, field in ((extra, "layers.ghost"), (nan_edge, "layers.fc1.line_spike_histogram")):
        prof = write(tmp_path, "stats.json", json.dumps(data))
        out = tmp_path / "o"
        err = refused(["map", "--network", str(tiny), "--profile", str(prof), "--out", str(out)], capsys, out)
        assert str(prof) in err and field in err


def test_out_is_a_file_or_not_writable(tmp_path, capsys, tiny):
    a_file = write(tmp_path, "a-file", "x")
    err = refused(["map", "--network", str(tiny), "--out", str(a_file)], capsys, None)
    assert "exists and is not a directory" in err and a_file.read_text() == "x"
    err = refused(["map", "--network", str(tiny), "--out", str(a_file / "sub")], capsys, None)
    assert "--out" in err and "Not a directory" in err
    err = refused(["map", "--network", str(tiny), "--out", "/proc/spikex-test"], capsys, None)
    assert "/proc/spikex-test" in err and "--out" in err


def test_map_keeps_an_earlier_result_unless_forced(tmp_path, capsys, tiny):
    out = tmp_path / "o"
    assert main(["map", "--network", str(tiny), "--workers", "1", "--out", str(out)]) == 0
    first = (out / "result.json").read_bytes()
    err = refused(["map", "--network", str(tiny), "--density", "0.5", "--out", str(out)], capsys, None)
    assert "--force" in err and (out / "result.json").read_bytes() == first
    assert main(["map", "--network", str(tiny), "--density", "0.5", "--workers", "1", "--force", "--out", str(out)]) == 0
    assert json.loads((out / "result.json").read_text())["density"] == "uniform:0.5"


def test_cosearch_budget_zero_and_negative_seed(tmp_path, capsys, tiny):
    small = ["--network", str(tiny), "--no-baselines", "--workers", "1", "--rows", "2,4", "--cols", "2",
             "--glb-kb", "16", "--l1-kb", "2", "--weight-bits", "8"]
    out = tmp_path / "c"
    assert main(["cosearch", *small, "--budget", "0", "--out", str(out)]) == 0
    assert "0 points evaluated" in capsys.readouterr().out
    assert (out / "front_energy_latency.png").stat().st_size > 1000
    assert main(["cosearch", *small, "--out", str(out)]) == 0  # the rerun evaluates what is left
    assert "2 points evaluated (2 feasible)" in capsys.readouterr().out
    err = refused(["cosearch", *small, "--seed", "-1", "--out", str(tmp_path / "d")], capsys, tmp_path / "d")
    assert "argument --seed: -1 is below 0" in err


def test_cosearch_ctrl_c_prints_how_to_resume(tmp_path, capsys, tiny, monkeypatch):
    from spikex_plugin.cosearch import search

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
        yield  # a generator, like the one it replaces

    monkeypatch.setattr(search, "evaluate_rounds", interrupted)
    out = tmp_path / "c"
    code = main(["cosearch", "--network", str(tiny), "--no-baselines", "--workers", "1", "--rows", "2",
                 "--cols", "2", "--glb-kb", "16", "--l1-kb", "2", "--weight-bits", "8", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 130
    lines = [l for l in err.splitlines() if l.strip() and "cosearch:" not in l]  # tqdm's bar aside
    assert lines == [f"spikex: interrupted; run the same command again to resume from {out / 'points.jsonl'} "
                     "(points evaluated so far are kept)"]


def test_version(capsys):
    import spikex_plugin
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"spikex {spikex_plugin.__version__}"
    assert spikex_plugin.__version__[0].isdigit()
    assert spikex_plugin.load_arch is spikex_plugin.hardware.arch.load_arch  # the name the arch YAML gives


def test_result_json_header(tmp_path, tiny):
    import hashlib

    import spikex_plugin
    out = tmp_path / "o"
    assert main(["map", "--network", str(tiny), "--set", "ROWS=4", "--workers", "1", "--out", str(out)]) == 0
    data = json.loads((out / "result.json").read_text())
    assert data["schema"] == "spikex-result/1"
    assert data["tool"] == {"name": "spikex-plugin", "version": spikex_plugin.__version__}
    assert data["inputs"]["network"]["sha256"] == hashlib.sha256(tiny.read_bytes()).hexdigest()
    assert data["inputs"]["arch"]["sha256"] == hashlib.sha256(resolve_arch_path("spikex").read_bytes()).hexdigest()
    assert data["inputs"]["arch"]["params"] == {"ROWS": 4} and data["inputs"]["profile"] is None
    assert "expected values" in " ".join(data["notes"]) and data["units"]["cycles"] == "clock cycles"


def test_train_without_the_extra_says_how_to_install(capsys, monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "spikex_plugin.training.cli", None)  # import fails as without torch
    err = refused(["train", "--epochs", "1"], capsys, None)
    assert "pip install 'spikex-plugin[train]'" in err and "invalid choice" not in err
