"""`spikex export-timeloop`: the emitted Timeloop v0.4 / Sparseloop files against the v0.4
vocabulary, the layers, our mapper's mappings, the firing statistics and our energy numbers."""

from __future__ import annotations

import argparse
import csv
import math
import re
import shutil

import numpy as np
import pytest
import yaml

from spikex_plugin.cost_model.dense import dense_actions
from spikex_plugin.cost_model.spikex import widths_of
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.export import timeloop as tlx
from spikex_plugin.export.cli import add_export_parser
from spikex_plugin.mapping.mapping import SpikeXMapping
from spikex_plugin.sparsity.stats import FiringStats, layer_stats_from_rate
from spikex_plugin.workload.network import Layer, load_network

DIMS = set(tlx.DIMS)
DATA_SPACES = {"Weights", "Inputs", "Outputs"}
FILES = ("arch.yaml", "problem.yaml", "sparse_optimizations.yaml", "mapper.yaml", "constraints.yaml",
         "mapping.yaml")
BUFFER_CLASSES = ("DRAM", "SRAM", "regfile", "smartbuffer", "storage")  # timeloopfe's class keywords
COMPUTE_CLASSES = ("mac", "intmac", "fpmac", "compute")
PE_PROXIES = ("Comparator", "Vmem_membrane", "Accumulator_leak", "TagLogic", "PEController")


class TaggedLoader(yaml.SafeLoader):
    """Independent of the exporter: accepts any `!Tag` mapping and records the tag."""


TaggedLoader.add_multi_constructor(
    "!", lambda loader, suffix, node: {"__tag__": "!" + suffix, **loader.construct_mapping(node, deep=True)})


def load(path):
    return yaml.load(path.read_text(), Loader=TaggedLoader)


def cli(argv: list[str]) -> int:
    """What `spikex` main() does with the sub-command (wired in spikex_plugin/cli.py)."""
    parser = argparse.ArgumentParser(prog="spikex")
    add_export_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except SpikeXInputError:
        return 2


@pytest.fixture(scope="module")
def nmnist(tmp_path_factory, spikex_arch):
    out = tmp_path_factory.mktemp("export") / "nmnist"
    assert cli(["export-timeloop", "--network", "nmnist", "--density", "0.01", "--out", str(out),
                "--workers", "1"]) == 0
    return out, load_network("nmnist")


@pytest.fixture(scope="module")
def dvsg_profiled(tmp_path_factory, spikex_arch):
    """dvsg-medium with a statistics file whose layers fire at different rates."""
    net = load_network("dvsg-medium")
    rates = {l.name: 0.001 * (i + 1) for i, l in enumerate(net.resolved)}
    stats = FiringStats(network=net.name, layers={
        l.name: layer_stats_from_rate(l.input_shape, l.T, rates[l.name], correlation=0.3) for l in net.resolved})
    base = tmp_path_factory.mktemp("export")
    stats.save(base / "stats.json")
    index = tlx.export_timeloop(spikex_arch, net, profile=str(base / "stats.json"), out_dir=base / "dvsg")
    return base / "dvsg", net, stats, index


def layer_dirs(out):
    index = load(out / "index.yaml")
    return [(l, out / l["dir"]) for l in index["layers"]]


def test_layout_index_and_readme(nmnist):
    out, net = nmnist
    index = load(out / "index.yaml")
    assert [l["name"] for l in index["layers"]] == [l.name for l in net.weighted_layers]
    assert [s["name"] for s in index["skipped"]] == ["pool1", "pool2"]
    for _, d in layer_dirs(out):
        assert sorted(p.name for p in d.iterdir()) == sorted(FILES + ("model", "mapper"))
    readme = (out / "README.md").read_text()
    assert "pool1" in readme and "OR-pool" in readme and "tl model" in readme and "Zero-window" in readme
    assert (out / "energy_tables" / "spikex.table.yaml").is_file()


def test_yaml_parses_and_uses_v04_tags(nmnist):
    out, _ = nmnist
    for _, d in layer_dirs(out):
        for name in FILES:
            text = (d / name).read_text()
            ours, theirs = tlx.load_timeloop_yaml(d / name), yaml.load(text, Loader=TaggedLoader)
            assert ours is not None and theirs is not None
        with pytest.raises(yaml.constructor.ConstructorError):  # the tags really are there
            yaml.safe_load((d / "arch.yaml").read_text())
        nodes = tlx.load_timeloop_yaml(d / "arch.yaml")["architecture"]["nodes"]
        assert {type(n).__name__ for n in nodes} == {"Container", "Component"}
        assert yaml.load(tlx.dump_yaml(nodes), Loader=tlx.TimeloopLoader) == nodes  # dump/load round trip


def test_vocabulary(nmnist, spikex_arch):
    out, _ = nmnist
    for _, d in layer_dirs(out):
        arch = load(d / "arch.yaml")["architecture"]
        assert arch["version"] == 0.4
        names = set()
        for node in arch["nodes"]:
            assert node["__tag__"] in {"!Container", "!Component", "!Parallel", "!Hierarchical", "!Nothing"}
            names.add(node["name"])
            if node["__tag__"] == "!Container" and "spatial" in node:
                assert node["spatial"] == {"meshX": spikex_arch.cols, "meshY": spikex_arch.rows}
            if node["__tag__"] != "!Component":
                continue
            cls, attrs = node["class"], node["attributes"]
            assert any(k in cls for k in BUFFER_CLASSES + COMPUTE_CLASSES), cls
            if any(k in cls for k in BUFFER_CLASSES):
                for key in ("depth", "width", "datawidth"):
                    assert isinstance(attrs[key], int) and attrs[key] > 0, (node["name"], key)
                assert attrs["width"] % attrs["datawidth"] == 0
                if node["name"] not in PE_PROXIES:  # proxies of SpikeX logic have no port to limit
                    assert any(k in attrs for k in ("read_bandwidth", "shared_bandwidth"))
        assert node["class"] == "compute" and "mac" not in node.get("subclass", "")  # accumulate-only, last
        tech = re.search(r'technology: "(\d+nm)"', (d / "arch.yaml").read_text())
        assert tech, "technology must be quoted (timeloopfe evaluates bare attribute values)"

        problem = load(d / "problem.yaml")["problem"]
        assert problem["version"] == 0.4 and set(problem["shape"]["dimensions"]) == DIMS
        assert {ds["name"] for ds in problem["shape"]["data_spaces"]} == DATA_SPACES
        assert [ds.get("read_write", False) for ds in problem["shape"]["data_spaces"]] == [False, False, True]
        for ds, dens in problem["instance"]["densities"].items():
            assert ds in DATA_SPACES and dens["distribution"] in {"fixed_structured", "hypergeometric", "banded"}

        sparse = load(d / "sparse_optimizations.yaml")["sparse_optimizations"]
        assert sparse["version"] == 0.4
        for t in sparse["targets"]:
            assert t["target"] in names
            for opt in t.get("action_optimization", []):
                assert opt["type"] in {"gating", "skipping", "spatial_skipping"}
                for o in opt["options"]:
                    assert o["target"] in DATA_SPACES and set(o["condition_on"]) <= DATA_SPACES
            for opt in t.get("compute_optimization", []):
                assert opt["type"] in {"gating", "skipping"}
        skipped = {(t["target"], o["target"]) for t in sparse["targets"]
                   for a in t.get("action_optimization", []) for o in a["options"]}
        assert {("WReg", "Weights"), ("Vmem", "Outputs"), ("L1_weights", "Weights")} <= skipped

        mapper = load(d / "mapper.yaml")["mapper"]
        assert mapper["version"] == 0.4 and mapper["optimization_metrics"] == ["edp"]
        assert mapper["algorithm"] in {"random", "exhaustive", "linear_pruned", "hybrid", "random_pruned"}

        constraints = load(d / "constraints.yaml")["constraints"]
        assert constraints["version"] == 0.4
        for targets in (constraints["targets"], load(d / "mapping.yaml")["mapping"]):
            for t in targets:
                assert t["target"] in names and t["type"] in {"temporal", "spatial", "dataspace"}
                if t["type"] == "dataspace":
                    assert set(t["keep"]) | set(t["bypass"]) == DATA_SPACES
                    assert not set(t["keep"]) & set(t["bypass"])
                else:
                    assert sorted(t["permutation"]) == sorted(DIMS)
                    for f in t["factors"]:
                        assert re.fullmatch(r"[A-Z](=|<=|>=)\d+", f) and f[0] in DIMS, f
                if t["type"] == "spatial":
                    assert 0 <= t["split"] <= len(DIMS)


def test_every_tensor_is_kept_in_words_of_its_own_width(nmnist, spikex_arch):
    """Timeloop has one word size per level: a level keeping a tensor must use that tensor's
    bits per value (weights weight_bits, spikes 1, membrane partial sums vmem_bits), and every
    SpikeX buffer keeps its tensors somewhere, loops only once."""
    out, _ = nmnist
    bits = {"Weights": spikex_arch.weight_bits, "Inputs": 1, "Outputs": 1}
    for _, d in layer_dirs(out):
        nodes = {n["name"]: n for n in load(d / "arch.yaml")["architecture"]["nodes"]}
        kept_at: dict[str, list[str]] = {}
        loops_at = {}
        for t in load(d / "mapping.yaml")["mapping"]:
            if t["type"] == "dataspace":
                width = nodes[t["target"]]["attributes"]["datawidth"]
                for ds in t["keep"]:
                    kept_at.setdefault(ds, []).append(t["target"])
                    in_pe = t["target"] in ("Vmem", "Vmem_membrane", "Comparator")  # membrane potentials
                    want = spikex_arch.vmem_bits if (in_pe and ds == "Outputs") else bits[ds]
                    assert width == want, (t["target"], ds)
            elif t["type"] == "temporal":
                loops_at[t["target"]] = any(not f.endswith("=1") for f in t["factors"])
        assert kept_at["Weights"] == ["DRAM_weights", "GLB_weights", "L1_weights", "WReg"]
        assert kept_at["Inputs"] == ["DRAM", "GLB", "L1"]
        # every finished output value passes the membrane-step levels once, then the GLB and DRAM
        assert kept_at["Outputs"] == ["DRAM", "GLB_outputs", "Comparator", "Vmem_membrane", "Vmem"]
        assert not loops_at["DRAM"]  # the DRAM loops sit on DRAM_weights, below the spikes' home
        # the two levels of a buffer have its size and port, in their own words
        for buffer in ("GLB", "L1"):
            a, w = nodes[buffer]["attributes"], nodes[buffer + "_weights"]["attributes"]
            assert a["depth"] * a["width"] == w["depth"] * w["width"] == spikex_arch.sizes_bits[buffer]
            assert a["read_bandwidth"] * a["datawidth"] == w["read_bandwidth"] * w["datawidth"] == a["width"]
            assert w["width"] == w["datawidth"] == spikex_arch.weight_bits  # a storage block of one weight


def test_tiles_are_refilled_as_spikex_refills_them(nmnist, dvsg_profiled):
    """SpikeX refills a spike tile whole (no sliding-window halo reuse); its GLB keeps the tile
    across the innermost loops that do not index it, its L1 keeps nothing from one tile to the
    next (the weights are tailored to each tile's spikes). So: GLB, L1 and L1_weights say
    no_reuse; the loops just above the GLB (outer to inner, bound > 1) never end with an M loop
    (it sits below the GLB's spike level instead); the L1 spike level carries no loop."""
    for out, net in (nmnist, dvsg_profiled[:2]):
        for entry, d in layer_dirs(out):
            temporal = {t["target"]: t for t in load(d / "mapping.yaml")["mapping"] if t["type"] == "temporal"}
            assert temporal["GLB"]["no_reuse"] == temporal["L1"]["no_reuse"] == ["Inputs"]
            assert temporal["L1_weights"]["no_reuse"] == ["Weights"]
            bounds = dict(f.split("=") for f in temporal["DRAM_weights"]["factors"])
            inner_to_outer = [dim for dim in temporal["DRAM_weights"]["permutation"] if int(bounds[dim]) > 1]
            assert not inner_to_outer or inner_to_outer[0] != "M", entry["name"]
            assert all(f.split("=")[0] == "M" or f.endswith("=1") for f in temporal["GLB"]["factors"])
            assert all(f.endswith("=1") for f in temporal["L1"]["factors"])
            assert "no_reuse" not in temporal["Vmem"] and "no_reuse" not in temporal["GLB_weights"]


def _extent(rank: list, sizes: dict, coefs: dict) -> int:
    """A rank's extent: 1 + sum of coefficient * (dimension size - 1) over its terms."""
    return 1 + sum((coefs[term[1]] if len(term) > 1 else 1) * (sizes[term[0]] - 1) for term in rank)


def test_projections_match_layers(nmnist, dvsg_profiled):
    for out, net in (nmnist, dvsg_profiled[:2]):
        for entry, d in layer_dirs(out):
            layer = net.layer(entry["name"])
            problem = load(d / "problem.yaml")["problem"]
            inst = problem["instance"]
            coefs = {c["name"]: inst.get(c["name"], c["default"]) for c in problem["shape"]["coefficients"]}
            assert coefs == {"Hstride": layer.stride, "Wstride": layer.stride}
            ext = {ds["name"]: [_extent(r, inst, coefs) for r in ds["projection"]]
                   for ds in problem["shape"]["data_spaces"]}
            assert ext["Weights"] == [layer.M, layer.C, layer.R, layer.S]
            assert ext["Inputs"] == [1, layer.T, layer.C, layer.H, layer.W]
            assert ext["Outputs"] == [1, layer.T, layer.M, layer.P, layer.Q]
            assert math.prod(ext["Inputs"]) == layer.T * layer.C * layer.H * layer.W


def test_mapping_factors_multiply_out_to_the_layer(nmnist, dvsg_profiled):
    for out, net in (nmnist, dvsg_profiled[:2]):
        for entry, d in layer_dirs(out):
            layer, m = net.layer(entry["name"]), SpikeXMapping(**entry["mapping"])
            inst = load(d / "problem.yaml")["problem"]["instance"]
            want = {"N": 1, "T": layer.T, "C": layer.C, "M": layer.M, "P": layer.P, "Q": layer.Q,
                    "R": layer.R, "S": layer.S}
            assert {k: inst[k] for k in want} == want
            product = dict.fromkeys(want, 1)
            factors = {}
            for t in load(d / "mapping.yaml")["mapping"]:
                for f in t.get("factors", []):
                    dim, n = f.split("=")
                    product[dim] *= int(n)
                    factors[(t["target"], t["type"], dim)] = int(n)
            assert product == want
            # the mapping is ours: rows <- M, columns <- T windows or Q, one window in the register
            assert factors[("PE", "spatial", "M")] == m.rows
            assert factors[("PE", "spatial", "T" if m.mode == "temporal" else "Q")] == m.cols
            assert factors[("WReg", "temporal", "T")] == m.tws
            assert factors[("Vmem", "temporal", "C")] == m.c_l1


def test_densities_equal_statistics(dvsg_profiled):
    out, net, stats, index = dvsg_profiled
    assert {l["name"] for l in index["layers"]} == {l.name for l in net.weighted_layers}
    for entry, d in layer_dirs(out):
        layer, rate = net.layer(entry["name"]), stats.layers[entry["name"]].rate
        dens = load(d / "problem.yaml")["problem"]["instance"]["densities"]
        assert dens["Inputs"]["distribution"] == "hypergeometric"
        assert entry["firing_rate"] == rate
        # padding never spikes: the rate over the taps that read real lines (exactly the rate unpadded)
        assert dens["Inputs"]["density"] == pytest.approx(rate * layer.valid_tap_fraction, rel=1e-12)
        if layer.padding == 0:
            assert dens["Inputs"]["density"] == rate
        assert dens["Weights"]["density"] == dens["Outputs"]["density"] == 1.0
    assert any(net.layer(l["name"]).padding for l in index["layers"])  # both cases covered


def test_dense_compute_count_equals_dense_accumulates(nmnist, dvsg_profiled, spikex_arch):
    for out, net in (nmnist, dvsg_profiled[:2]):
        for entry, d in layer_dirs(out):
            layer, m = net.layer(entry["name"]), SpikeXMapping(**entry["mapping"])
            inst = load(d / "problem.yaml")["problem"]["instance"]
            computes = math.prod(inst[k] for k in tlx.DIMS)
            assert computes == dense_actions(layer, m, widths_of(spikex_arch))[("Accumulator", "None", "compute")]


def test_energy_tables_carry_our_numbers(nmnist, spikex_arch):
    out, _ = nmnist
    ert = {t["name"]: {a["name"]: a["energy"] for a in t["actions"]}
           for t in load(out / "ERT.yaml")["ERT"]["tables"]}
    art = {t["name"]: t["area"] for t in load(out / "ART.yaml")["ART"]["tables"]}
    pes = spikex_arch.rows * spikex_arch.cols
    for (comp, action), joules in spikex_arch.energy.items():
        n = pes if comp not in ("DRAM", "GLB", "L1") else 1
        key = f"system_top_level.{comp}[1..{n}]"
        assert ert[key][action] == pytest.approx(joules * 1e12, rel=1e-12)
        assert art[key] * n == pytest.approx(spikex_arch.area[comp] * 1e12, rel=1e-12)
    assert ert["system_top_level.Accumulator[1..64]"]["compute_skipped"] == 0.0  # skipping is free
    # what Timeloop's data path lacks, priced on the proxy levels: per finished output value a
    # membrane step (compare; Vmem read for the step and the window's first accumulation, and a
    # write); the GLB's output drain (Timeloop counts no read for it) in its write; leakage of
    # every instance (Timeloop's compute does not leak)
    e = spikex_arch.energy
    cycle = 1e12 / spikex_arch.clock_hz
    assert ert["system_top_level.Comparator[1..64]"]["update"] == pytest.approx(e[("Comparator", "compare")] * 1e12)
    assert ert["system_top_level.Vmem_membrane[1..64]"]["update"] == pytest.approx(
        (2 * e[("Vmem", "read")] + e[("Vmem", "write")]) * 1e12)
    assert ert["system_top_level.GLB_outputs[1..1]"]["update"] == pytest.approx(
        (e[("GLB", "read")] + e[("GLB", "write")]) * 1e12)
    for comp, level in (("Accumulator", "Accumulator_leak"), ("Comparator", "Comparator"), ("Vmem", "Vmem"),
                        ("TagLogic", "TagLogic"), ("PEController", "PEController"), ("GLB", "GLB")):
        n = 1 if comp == "GLB" else pes
        assert ert[f"system_top_level.{level}[1..{n}]"]["leak"] * n == pytest.approx(spikex_arch.leak_w[comp] * cycle)
    assert ert["system_top_level.Accumulator[1..64]"]["leak"] == ert["system_top_level.GLB_weights[1..1]"]["leak"] == 0
    assert ert["system_top_level.Vmem[1..64]"]["update"] == ert["system_top_level.Vmem[1..64]"]["write"]
    ident = yaml.safe_load((out / "energy_tables" / "spikex.table.yaml").read_text())
    assert {"name", "technology", "accuracy", "path_to_data_dir"} <= set(ident)
    with open(out / "energy_tables" / "data" / "spikex_sram.csv") as f:
        rows = list(csv.DictReader(f))
    assert {"technology", "width", "depth", "action", "energy", "area"} <= set(rows[0])
    glb_read = [r for r in rows if r["action"] == "read" and int(r["depth"]) * int(r["width"]) ==
                spikex_arch.sizes_bits["GLB"]]
    assert float(glb_read[0]["energy"]) == pytest.approx(spikex_arch.energy[("GLB", "read")] * 1e12)
    assert all(r["technology"] == ident["technology"] for r in rows)


def test_pooling_only_network_has_nothing_to_export(tmp_path):
    net = tmp_path / "pool.yaml"
    net.write_text("name: p\nT: 4\ninput: {channels: 2, height: 8, width: 8}\n"
                   "layers:\n  - {name: p1, type: pool, kernel: 2}\n")
    out = tmp_path / "out"
    with pytest.raises(SpikeXInputError, match="nothing to export"):
        tlx.export_timeloop("spikex", str(net), out_dir=out)
    assert cli(["export-timeloop", "--network", str(net), "--out", str(out)]) == 2
    assert not out.exists()


def test_unsupported_mappings_raise(spikex_arch, monkeypatch):
    layer = Layer(name="c", type="conv", T=32, C=2, M=8, H=10, W=10, R=3, S=3, P=8, Q=8)
    with pytest.raises(SpikeXInputError, match="Vmem"):  # one partial sum per window step
        tlx.check_exportable(spikex_arch, layer, SpikeXMapping("spatial", 32, 8, 8, 2, 32, 8, 8))
    with pytest.raises(SpikeXInputError, match="array is 8x8"):
        tlx.check_exportable(spikex_arch, layer, SpikeXMapping("spatial", 4, 16, 8, 2, 32, 16, 8))
    big = Layer(name="b", type="conv", T=128, C=64, M=8, H=10, W=10, R=3, S=3, P=8, Q=8)
    with pytest.raises(SpikeXInputError, match="does not fit L1"):  # spike + weight tile, double-buffered
        tlx.check_exportable(spikex_arch, big, SpikeXMapping("spatial", 16, 8, 8, 64, 16, 8, 1))
    ok = SpikeXMapping("temporal", 4, 8, 8, 2, 32, 8, 8)
    tlx.check_exportable(spikex_arch, layer, ok)
    real = tlx.loop_nest
    # a loop between the PE fanout and a PE buffer has no Timeloop counterpart
    monkeypatch.setattr(tlx, "loop_nest", lambda l, m: [*real(l, m)[:13], ("temporal", "c", 1, 1),
                                                        *real(l, m)[13:]])
    with pytest.raises(SpikeXInputError, match="no Timeloop counterpart"):
        tlx.mapping_spec(layer, ok)


def test_failed_export_leaves_earlier_output_alone(tmp_path, nmnist):
    out = tmp_path / "out"
    shutil.copytree(nmnist[0], out)
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert cli(["export-timeloop", "--network", "nmnist", "--density", "1.5", "--out", str(out)]) == 2
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    assert load(out / "index.yaml")["density"] == "uniform:0.01"


def timeloopfe_areas(path) -> dict[str, float]:
    """What timeloopfe's output parser (v4 output_parsing.get_area_from_art) reads from
    <out>/timeloop-<app>.ART.yaml after a run: per component, instances x area in m^2."""
    areas = {}
    for t in yaml.safe_load(path.read_text())["ART"]["tables"]:
        name = t["name"].split(".", 1)[1]
        count = int(name.split("..")[1].rstrip("]")) if "[" in name else 1
        areas[name.split("[")[0]] = count * t["area"] / 1e12
    return areas


def test_run_dirs_hold_the_area_table_timeloopfe_reads(nmnist, spikex_arch):
    """Given ERT/ART, Timeloop dumps no ART, yet `tl model ... -o model` parses model/timeloop-model.ART.yaml
    afterwards: the export ships it (and mapper/timeloop-mapper.ART.yaml for `-o mapper`)."""
    out, _ = nmnist
    readme = (out / "README.md").read_text()
    assert re.search(r"tl model .*ERT\.yaml .*ART\.yaml -o model\b", readme)
    assert re.search(r"tl mapper .*ERT\.yaml .*ART\.yaml -o mapper\b", readme)
    for _, d in layer_dirs(out):
        for app in ("model", "mapper"):
            areas = timeloopfe_areas(d / app / f"timeloop-{app}.ART.yaml")
            for comp, m2 in spikex_arch.area.items():
                assert areas[comp] + areas.get(comp + "_weights", 0.0) == pytest.approx(m2, rel=1e-12), comp


def table_plugin_energy(csv_path, attributes: dict, action: str, arguments: dict) -> float | None:
    """The Accelergy table plug-in's row match (accelergy-table-based-plug-ins walk_csv): the
    query's attributes must equal the row where the CSV has that column, and every action
    argument must be a column whose text equals str(value)."""
    with open(csv_path) as f:
        for row in csv.DictReader(f):
            if any(k in row and row[k] != str(v) for k, v in attributes.items()) or row["action"] != action:
                continue
            if all(k in row and row[k] == str(v) for k, v in arguments.items()):
                return float(row["energy"])
    return None


def test_energy_tables_answer_accelergy_04_queries(nmnist, spikex_arch):
    """Accelergy 0.4 sends every action with global_cycle_seconds (the clock period set on the
    system container) and action_latency_cycles (default 1): each storage and compute action
    of the exported components must still find its row, at our energy."""
    out, _ = nmnist
    _, d = layer_dirs(out)[0]
    nodes = load(d / "arch.yaml")["architecture"]["nodes"]
    period = next(n for n in nodes if n["__tag__"] == "!Container")["attributes"]["global_cycle_seconds"]
    assert period == pytest.approx(1 / spikex_arch.clock_hz, rel=1e-12)
    arguments = {"global_cycle_seconds": period, "action_latency_cycles": 1}
    tech = yaml.safe_load((out / "energy_tables" / "spikex.table.yaml").read_text())["technology"]
    checked = 0
    for node in nodes:
        if node["__tag__"] != "!Component":
            continue
        csv_path = out / "energy_tables" / "data" / f"{node['subclass']}.csv"
        attributes = {"technology": tech, **node["attributes"]}
        for (comp, action), joules in spikex_arch.energy.items():
            if comp != node["name"].removesuffix("_weights"):
                continue
            if node["name"].endswith("_weights"):  # one weight per access: its share of a port access
                joules *= spikex_arch.weight_bits / spikex_arch.bits_per_action[comp]
            if node["name"] in ("Comparator", "Vmem_membrane", "Accumulator_leak"):
                continue  # proxy levels: priced per membrane step, checked below
            assert table_plugin_energy(csv_path, attributes, action, arguments) == pytest.approx(joules * 1e12), \
                (node["name"], action)
            checked += 1
        assert table_plugin_energy(csv_path, attributes, "skipped_read" if node["class"] != "compute"
                                   else "compute_skipped", arguments) == 0.0
    assert checked >= 14
    # a period the tables were not written for finds nothing (the match really is on the argument)
    node = next(n for n in nodes if n["name"] == "GLB")
    assert table_plugin_energy(out / "energy_tables" / "data" / f"{node['subclass']}.csv",
                               {"technology": tech, **node["attributes"]}, "read",
                               {**arguments, "global_cycle_seconds": period * 2}) is None


@pytest.fixture(scope="module")
def nmnist_dense(tmp_path_factory, spikex_arch):
    out = tmp_path_factory.mktemp("export") / "nmnist-dense"
    index = tlx.export_timeloop(spikex_arch, "nmnist", density=1.0, out_dir=out, workers=1)
    return out, load_network("nmnist"), index


def timing_attributes_written(d) -> dict[str, dict]:
    """Per level, the attributes that set Timeloop's timing beyond words and ports."""
    keys = ("per_dataspace_bandwidth_consumption_scale", "network_fill_latency", "network_drain_latency")
    nodes = [n for n in load(d / "arch.yaml")["architecture"]["nodes"] if n["__tag__"] == "!Component"]
    return {n["name"]: {k: n["attributes"][k] for k in keys if k in n["attributes"]} for n in nodes
            if any(k in n["attributes"] for k in keys)}


def spatial_steps_reading_real_pixels(layer, cols: int) -> float:
    """Share of spatial steps (output row p, block of `cols` output columns, tap (r, s)) with
    a column on a real input pixel, counted over the padded frame's mask."""
    pad = layer.padding
    real = np.zeros((layer.H, layer.W), dtype=bool)
    real[pad:layer.H - pad, pad:layer.W - pad] = True
    st = layer.stride
    return float(np.mean([real[p * st + r, [(q0 + j) * st + s for j in range(cols)]].any()
                          for p in range(layer.P) for r in range(layer.R)
                          for q0 in range(0, layer.Q, cols) for s in range(layer.S)]))


def test_dense_timing_attributes_are_spikex_cycles_by_hand(nmnist_dense, spikex_arch):
    """At density 1 every window fires, so a PE runs TWS membrane steps per TWS-step window:
    one step per output value, after the C*R*S accumulations of that value (fewer by the taps
    over the zero padding). Spatial: a weight step of the cols output columns of a row is
    issued when one of them reads a real pixel (as in the simulator), so it takes TWS cycles
    unless its input row is padding, and the PE's own steps hold up its array: each Vmem
    Outputs access (one per accumulation) carries (C R S issued + 1) / (C R S real) port
    slots; temporal: a step is one tap, issued when real, and a row's `cols` windows of a
    neuron chain through its PEs, 1 + cols/(C R S real). The array feeds systolically: rows + cols - 1 cycles once. Nothing
    overlaps the first GLB tile (spikes and weights, written through the 64-bit GLB port;
    the DRAM's 480 bits a cycle are faster) and the first L1 tile (read from the GLB), nor
    the last output tile into the GLB and the GLB's output tile back to DRAM."""
    out, net, _ = nmnist_dense
    port = spikex_arch.bits_per_action["GLB"]
    dram = spikex_arch.extras.dram_bytes_per_s * 8 / spikex_arch.clock_hz   # bits per cycle
    assert port == 64 and dram > port  # the hand derivation below takes the GLB port as the limit
    for entry, d in layer_dirs(out):
        layer, m = net.layer(entry["name"]), SpikeXMapping(**entry["mapping"])
        timing = timing_attributes_written(d)
        assert set(timing) == {"Vmem", "L1_weights", "DRAM"}
        chained = m.cols if m.mode == "temporal" else 1
        scale = timing["Vmem"]["per_dataspace_bandwidth_consumption_scale"]
        taps = layer.C * layer.R * layer.S * layer.valid_tap_fraction  # taps over the padding never accumulate
        issued = layer.C * layer.R * layer.S * (spatial_steps_reading_real_pixels(layer, m.cols)
                                                if m.mode == "spatial" else layer.valid_tap_fraction)
        assert scale == {"Outputs": pytest.approx((issued + chained) / taps, rel=1e-3)}
        assert timing["L1_weights"] == {"network_fill_latency": m.rows + m.cols - 1}
        glb_rows = (m.p_glb - 1) * layer.stride + layer.R
        l1_cols = (m.q_cols - 1) * layer.stride + layer.S
        first_glb = m.tb_glb * layer.C * glb_rows * layer.W + m.m_glb * layer.C * layer.R * layer.S * 8
        first_l1 = m.tb * m.c_l1 * layer.R * l1_cols + m.rows * m.c_l1 * layer.R * layer.S * 8
        last_tile = math.ceil(m.rows * m.cols * m.tws / port)
        out_glb = m.m_glb * m.p_glb * layer.Q * m.tb_glb
        assert timing["DRAM"] == {"network_fill_latency": round((first_glb + first_l1) / port),
                                  "network_drain_latency": round(last_tile + out_glb / port)}, entry["name"]


def test_timeloop_timing_of_the_dense_export_is_ours(nmnist_dense):
    """Timeloop's cycles, as its model computes them from the written files (the slowest level,
    here the Vmem: accesses per PE over its port, times the consumption scale; plus every
    level's network fill and drain latency), equal our cycles: the dense layers are array-bound.
    (Measured with timeloop-model: docs/timeloop-export.md.)"""
    out, _, _ = nmnist_dense
    for entry, d in layer_dirs(out):
        problem = load(d / "problem.yaml")["problem"]["instance"]
        spatial = next(t for t in load(d / "mapping.yaml")["mapping"] if t["type"] == "spatial")
        pes = math.prod(int(f.split("=")[1]) for f in spatial["factors"])
        # one Vmem update per accumulation; the taps over the zero padding are skipped
        updates_per_pe = math.prod(problem[k] for k in tlx.DIMS) * problem["densities"]["Inputs"]["density"] / pes
        timing = timing_attributes_written(d)
        vmem = updates_per_pe * timing["Vmem"]["per_dataspace_bandwidth_consumption_scale"]["Outputs"]
        latencies = sum(v for attrs in timing.values() for k, v in attrs.items() if k.startswith("network_"))
        assert vmem + latencies == pytest.approx(entry["spikex_cycles"], rel=2e-3), entry["name"]


def test_sparse_timing_attributes_carry_our_cycle_parts(nmnist, dvsg_profiled):
    """Below density 1 the same attributes come from the layer's own cycle parts: the DRAM's
    latencies add up to our exposed transfers, L1_weights' to the fill/drain, and the Vmem's
    scale is the array's cycles (less fill/drain) per accumulation of a PE."""
    for out in (nmnist[0], dvsg_profiled[0]):
        for entry, d in layer_dirs(out):
            parts, timing = entry["spikex_cycle_parts"], timing_attributes_written(d)
            dram = timing["DRAM"]
            assert dram["network_fill_latency"] + dram["network_drain_latency"] == pytest.approx(parts["exposed"], abs=1)
            assert timing["L1_weights"]["network_fill_latency"] == round(parts["fill_drain"])
            m = SpikeXMapping(**entry["mapping"])
            per_pe = entry["spikex_actions"]["Accumulator.compute"] / (m.rows * m.cols)
            scale = timing["Vmem"]["per_dataspace_bandwidth_consumption_scale"]["Outputs"]
            assert scale == pytest.approx((parts["array"] - parts["fill_drain"]) / per_pe, rel=1e-12)
            assert scale > 1  # the membrane steps at least
