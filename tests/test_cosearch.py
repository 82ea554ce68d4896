"""Hardware co-search: exact fast mapping, Pareto front, resume, Dask, baselines, report."""

import json

import numpy as np
import pytest

from spikex_plugin.api import densities_for, run_map
from spikex_plugin.cosearch import search
from spikex_plugin.cli import main
from spikex_plugin.cosearch.fastmap import FastMapper
from spikex_plugin.cosearch.space import ArchPoint, ComponentPrices, SearchSpace
from spikex_plugin.hardware.arch import load_arch
from spikex_plugin.mapping.mapper import map_network
from spikex_plugin.workload.network import load_network

# A reduced grid (3 x 3 x 3 x 2 = 54 points) and a 10-point sample of it.
SMALL = ["--rows", "4,8,16", "--cols", "4,8,16", "--glb-kb", "32,54,128", "--l1-kb", "2,4",
         "--weight-bits", "8", "--points", "10"]
CMD = ["cosearch", "--network", "dvsg-medium", "--density", "0.005", *SMALL]


def front_of(out):
    return [(r["key"], r["energy_j"], r["latency_s"], r["area_mm2"]) for r in
            json.loads((out / "pareto.json").read_text())["front"]]


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    out = tmp_path_factory.mktemp("cs") / "full"
    assert main([*CMD, "--out", str(out)]) == 0
    return out


def test_compose_matches_load_arch():
    space = SearchSpace(rows=(16,), cols=(4,), glb_kb=(32,), l1_kb=(4,), weight_bits=(16,))
    p = ArchPoint(16, 4, 32, 4, 16)
    a, b = ComponentPrices.price("spikex", space).compose(p), load_arch("spikex", **p.params())
    assert (a.rows, a.cols, a.sizes_bits, a.bits_per_action, a.weight_bits) == \
        (b.rows, b.cols, b.sizes_bits, b.bits_per_action, b.weight_bits)
    for table in ("energy", "area", "leak_w"):
        x, y = getattr(a, table), getattr(b, table)
        assert set(x) == set(y) and all(x[k] == pytest.approx(y[k], rel=1e-12) for k in y)


@pytest.mark.parametrize("arch,params,tws", [
    ("spikex", {"ROWS": 16, "COLS": 4, "GLB_KB": 32, "L1_KB": 1}, None),
    ("spikex", {"ROWS": 4, "COLS": 16, "GLB_KB": 128, "L1_KB": 4, "WEIGHT_BITS": 16}, None),
    ("ptb", {"ROWS": 8}, 5),
])
def test_fast_mapper_matches_map_network(arch, params, tws):
    net = load_network("nmnist")
    dens, _ = densities_for(net, 0.002)
    a = load_arch(arch, **params)
    ref = map_network(net.resolved, a, dens, workers=1, tws=tws)
    picks = FastMapper(net.resolved, dens).map(a, tws=tws)
    for r, p in zip(ref, picks):
        assert p.mapping == r.cost.mapping
        assert p.energy_j == pytest.approx(r.cost.energy_j, rel=1e-12)
        assert p.cycles == pytest.approx(r.cost.cycles, rel=1e-12)


def test_fast_mapper_global_tws_matches_run_map():
    net = load_network("nmnist")
    ref = run_map("ptb", net, density=0.002, workers=1, ROWS=8)
    picks = FastMapper(net.resolved, densities_for(net, 0.002)[0]).best(load_arch("ptb", ROWS=8))
    assert sum(p.energy_j for p in picks) == pytest.approx(ref.energy_j, rel=1e-12)
    assert sum(p.cycles for p in picks) == pytest.approx(ref.cycles, rel=1e-12)
    assert {p.mapping.tws for p in picks if p.mapping} == {l.mapping.tws for l in ref.layers if l.mapping}


def test_pareto_front_matches_brute_force():
    rng = np.random.default_rng(3)
    rows = [{"key": f"p{i}", "energy_j": float(e), "latency_s": float(l), "area_mm2": float(a)}
            for i, (e, l, a) in enumerate(rng.integers(1, 6, size=(60, 3)))]
    rows += [dict(rows[0], key="twin")]  # an exact tie: neither dominates the other
    for r in rows:
        r["edp_js"] = r["energy_j"] * r["latency_s"]
    objs = search.OBJECTIVES

    def dominated(r):
        return any(all(o[k] <= r[k] for k in objs) and any(o[k] < r[k] for k in objs) for o in rows)
    assert {r["key"] for r in search.pareto_front(rows)} == {r["key"] for r in rows if not dominated(r)}


def test_search_against_baselines_writes_outputs(searched):
    data = json.loads((searched / "pareto.json").read_text())
    best = data["summary"]["best"]["edp_js"]
    # PTB-8x8 is the paper's like-for-like baseline; PTB-16x8 (PTB's own model since issue 11,
    # docs/ptb.md) has 2x the array. Since PTB's windows chain only inside a GLB time tile and
    # its passes hand off through two L1 buffers (issue 12, third round, docs/simulator.md:
    # dvsg-medium conv1 at 0.5 % was 2.6x the simulator's cycles before, 6.8 % under them
    # now), PTB-8x8 (global TW 2) has 0.73x the EDP of this 10-point search's best at a
    # uniform 0.5 %, PTB-16x8 0.57x.
    ptb = data["baselines"]["ptb-8x8"]["edp_js"]
    assert best["edp_js"] < data["baselines"]["dense-8x8"]["edp_js"]
    assert ptb < best["edp_js"] < 1.6 * ptb
    assert data["baselines"]["ptb-16x8"]["edp_js"] > 0
    assert data["baselines"]["ptb-8x8"]["global_tws"] is not None
    assert data["summary"]["complete"] and data["summary"]["evaluated"] == 10
    lines = (searched / "pareto.csv").read_text().splitlines()
    assert len(lines) == 1 + len(data["front"]) and "conv1:" in lines[1]
    assert all(l["tws"] for l in best["layers"] if l["name"].startswith(("conv", "fc")))
    for png in ("front_energy_latency.png", "edp_area.png"):
        assert (searched / png).read_bytes()[:4] == b"\x89PNG"


def test_interrupted_search_resumes_to_the_same_front(searched, tmp_path):
    out = tmp_path / "resume"
    assert main([*CMD, "--out", str(out), "--no-baselines", "--budget", "4"]) == 0
    checkpoint = out / search.CHECKPOINT
    assert len(checkpoint.read_text().splitlines()) == 4
    with open(checkpoint, "a") as f:  # a record cut short by the kill
        f.write('{"key": "r8c8g54l2w8", "rows": 8, "co')
    assert main([*CMD, "--out", str(out), "--no-baselines"]) == 0
    assert front_of(out) == front_of(searched)
    keys = [json.loads(l)["key"] for l in checkpoint.read_text().splitlines()[:4]]
    assert len(set(keys)) == 4  # the 4 earlier points were kept, not re-evaluated
    assert len(checkpoint.read_text().splitlines()) == 11  # 4 + the cut line + 6 new


def test_dask_cluster_gives_the_same_front(tmp_path):
    distributed = pytest.importorskip("distributed")
    cmd = ["cosearch", "--network", "nmnist", "--density", "0.002", *SMALL, "--no-baselines"]
    assert main([*cmd, "--out", str(tmp_path / "local"), "--workers", "1"]) == 0
    search._MAPPERS.clear()  # map on the cluster, not from this process's tables
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=":0") as cluster:
        assert main([*cmd, "--out", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address]) == 0
        assert "record_task" in cluster.scheduler.task_prefixes
    assert front_of(tmp_path / "dask") == front_of(tmp_path / "local")


def test_bad_input_exits_2_and_writes_nothing(searched, tmp_path, capsys):
    out = tmp_path / "bad"
    assert main([*CMD[:-2], "--points", "0", "--out", str(out)]) == 2
    assert "points" in capsys.readouterr().err and not out.exists()
    assert main(["cosearch", "--network", "dvsg-medium", "--density", "0.001", *SMALL, "--out", str(searched)]) == 2
    assert "different search" in capsys.readouterr().err


def test_report_quick_writes_markdown_and_pngs(tmp_path):
    out = tmp_path / "report"
    assert main(["report", "--quick", "--out", str(out)]) == 0
    assert not (tmp_path / "report.resume").exists()  # the searches' checkpoints go once the report is written
    assert (out / "cosearch-nmnist" / "points.jsonl").is_file()
    md = (out / "report.md").read_text()
    for heading in ("Main case: SpikeX vs PTB on the trained profiles", "Gain against firing structure",
                    "Sensitivity: uniform synthetic firing", "SpikeX vs PTB per network", "Firing-rate sweep",
                    "EDP against TWS", "Energy breakdown", "The paper's numbers beside ours", "Attributing the gap"):
        assert heading in md
    for png in ("trained_gains.png", "knobs.png", "network_energy_latency.png", "rate_sweep_spikex.png",
                "edp_vs_tws.png", "energy_breakdown.png"):
        assert png in md and (out / png).read_bytes()[:4] == b"\x89PNG"
    # the main table's like-for-like EDP gain, against `spikex map` (map_network, PTB's own global-TW search)
    row = next(line for line in md.splitlines() if line.startswith("| nmnist-trained |")).split(" | ")
    spikex = run_map("spikex", "nmnist", profile="nmnist-trained", workers=1).edp_js
    ptb = run_map("ptb", "nmnist", profile="nmnist-trained", workers=1, ROWS=8).edp_js
    assert row[2].startswith("88.0 %") and float(row[7].strip("*x")) == pytest.approx(ptb / spikex, abs=0.006)


def test_relaxed_tws_moves_alpha_to_the_cheapest_window():
    torch = pytest.importorskip("torch")
    pytest.importorskip("spikingjelly")
    from spikex_plugin.cosearch.joint import RelaxedTWS, accuracy_front, compare_to_baseline
    from spikex_plugin.training.loss import PiecewiseLinear

    model = torch.nn.Sequential(torch.nn.Linear(4, 3))
    curves = {"0": [PiecewiseLinear.linear(3.0), PiecewiseLinear.linear(1.0), PiecewiseLinear.linear(2.0)]}
    relax = RelaxedTWS(model, 4, [1, 2, 4], curves)
    opt = torch.optim.SGD([relax.alpha], lr=1.0)
    occ = {"0": [torch.tensor(0.5)] * 3}
    for _ in range(20):
        opt.zero_grad()
        relax.cost(occ, relax.alpha).backward()
        opt.step()
    assert relax.choice() == {"0": 2}
    rows = [{"beta": 0.0, "accuracy": 0.90, "edp_js": 4.0, "edp_js_mapper_tws": 3.0},
            {"beta": 1.0, "accuracy": 0.895, "edp_js": 2.0, "edp_js_mapper_tws": 2.0},
            {"beta": 5.0, "accuracy": 0.80, "edp_js": 1.0, "edp_js_mapper_tws": 1.0}]
    assert [r["beta"] for r in accuracy_front(rows)] == [5.0, 1.0, 0.0]
    c = compare_to_baseline(rows)
    assert c["beta"] == 1.0 and c["edp_gain"] == 2.0 and c["edp_gain_mapper_tws"] == 1.5
