"""Bad input: clear message naming file and field, exit 2, no output files."""

import json

import pytest

from spikex_plugin.cli import main


def run_cli(args, capsys):
    code = main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize("body,field", [
    ("name: n\nT: 8\ninput: {channels: 2, height: 8, width: 8}\nlayers:\n  - {name: c, type: conv, kernel: 3}\n", "layers"),
    ("name: n\nT: 0\ninput: {channels: 2, height: 8, width: 8}\nlayers:\n  - {name: f, type: fc, out_features: 4}\n", "T"),
    ("name: n\nT: 8\ninput: {channels: 2, height: 1, width: 1}\nlayers:\n  - {name: p, type: pool, kernel: 2}\n", "layers.0.kernel"),
    ("name: n\nT: 8\ninput: {channels: 2, height: 8, width: 8}\nlayers:\n  - {name: f, type: dense, out_features: 4}\n", "layers.f.type"),
    ("name: n\nT: 8\ninput: {channels: 2\n", "line"),
])
def test_bad_network(tmp_path, capsys, body, field):
    net = tmp_path / "net.yaml"
    net.write_text(body)
    out = tmp_path / "out"
    code, err = run_cli(["map", "--network", str(net), "--out", str(out)], capsys)
    assert code == 2
    assert str(net) in err and field in err
    assert not out.exists()


def test_unknown_names(tmp_path, capsys):
    code, err = run_cli(["map", "--network", "no-such-net", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "no-such-net" in err and "dvsg-medium" in err
    code, err = run_cli(["map", "--arch", "warp-drive", "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "warp-drive" in err
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize("density", ["-0.1", "1.5", "nan"])
def test_density_out_of_range(tmp_path, capsys, density):
    code, err = run_cli(["map", "--density", density, "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "density" in err
    assert not (tmp_path / "o").exists()


def _nmnist_stats():
    from spikex_plugin.sparsity.stats import network_stats_from_rate
    from spikex_plugin.workload.network import load_network
    return network_stats_from_rate(load_network("nmnist"), 0.02).model_dump()


@pytest.mark.parametrize("mutate,field", [
    (lambda d: d["layers"]["conv2"]["window_occupancy"].__setitem__(3, float("nan")), "conv2.window_occupancy"),
    (lambda d: d["layers"]["conv2"]["window_occupancy"].__setitem__(5, 1.5), "conv2.window_occupancy"),
    (lambda d: d["layers"]["conv2"]["window_occupancy"].__setitem__(5, 0.0), "conv2"),
    (lambda d: d["layers"]["fc1"]["spikes_per_step"].__setitem__(0, -3.0), "fc1"),
    (lambda d: d["layers"].pop("fc1"), "fc1"),
])
def test_bad_profile(tmp_path, capsys, mutate, field):
    data = _nmnist_stats()
    mutate(data)
    prof = tmp_path / "stats.json"
    prof.write_text(json.dumps(data))
    code, err = run_cli(["map", "--network", "nmnist", "--profile", str(prof), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and str(prof) in err and all(part in err for part in field.split(".")), err
    assert not (tmp_path / "o").exists()


def test_map_writes_results(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["map", "--network", "nmnist", "--density", "0.01", "--out", str(out)]) == 0
    data = json.loads((out / "result.json").read_text())
    assert (out / "energy_breakdown.png").stat().st_size > 1000
    assert (out / "edp_vs_tws.png").stat().st_size > 1000
    total = sum(l["energy_j"] for l in data["layers"])
    assert data["total"]["energy_j"] == pytest.approx(total)
    for l in data["layers"]:
        assert l["edp_js"] == pytest.approx(l["energy_j"] * l["latency_s"])
        assert sum(l["breakdown_j"].values()) == pytest.approx(l["energy_j"])


def test_profile_of_another_network(tmp_path, capsys):
    prof = tmp_path / "stats.json"
    prof.write_text(json.dumps(_nmnist_stats()))
    code, err = run_cli(["map", "--network", "dvsg-medium", "--profile", str(prof), "--out", str(tmp_path / "o")], capsys)
    assert code == 2 and "layers.conv1.shape" in err and "[2, 64, 64]" in err
    assert not (tmp_path / "o").exists()
