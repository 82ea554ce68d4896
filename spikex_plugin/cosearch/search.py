"""Fixed-statistics hardware search: the Pareto front of energy, latency, EDP and area.

Every point of a seeded sample of the `SearchSpace` grid is mapped with `FastMapper`
(per-layer TWS and dispatch mode chosen by the mapper for that point). Points go in
rounds, each split between local processes or Dask workers (each keeps its FastMapper, so
a mapping is priced once per worker); a round's records are appended to `points.jsonl` in
the output directory. A killed search re-run with the same
command skips what the file holds (it loses at most the round in flight) and gives the same
front, since each point's result depends on nothing but the point. `search.json` records
what the checkpoint belongs to, so a different search never mixes into it.
"""

from __future__ import annotations

import csv
import hashlib
import json
import multiprocessing
import os
import sys
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from spikex_plugin.api import NetworkResult, densities_for, run_map
from spikex_plugin.cosearch.fastmap import FastMapper, LayerPick, NoMapping
from spikex_plugin.cosearch.space import ArchPoint, ComponentPrices, SearchSpace, onchip_kb, sample_order
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.hardware.arch import SpikeXArch
from spikex_plugin.mapping.limits import check_dimensions
from spikex_plugin.mapping.mapper import Objective
from spikex_plugin.sparsity.density import DensityModel
from spikex_plugin.util import atomic_output_dir, ignore_interrupt, write_json
from spikex_plugin.workload.network import Network, load_network

OBJECTIVES = ("energy_j", "latency_s", "edp_js", "area_mm2")
CHECKPOINT = "points.jsonl"
IDENTITY = "search.json"
BASELINES = "baselines.json"


@dataclass
class SearchConfig:
    arch: str = "spikex"
    network: str = "dvsg-medium"
    density: float | None = None
    profile: str | None = None
    space: SearchSpace = field(default_factory=SearchSpace)
    points: int | None = None          # first N of the seeded order; None: the whole grid
    seed: int = 0
    objective: Objective = "edp"       # per-layer mapping objective
    fixed: dict = field(default_factory=dict)  # other spec parameters (--set)
    workers: int = 2
    scheduler: str | None = None       # Dask scheduler address
    budget: int | None = None          # evaluate at most this many new points in this run
    chunk: int = 64                    # points per round (checkpoint granularity)
    baselines: bool = True


@dataclass
class SearchContext:
    """What a worker needs to map points; `key` names the search (and its cached FastMapper)."""
    key: str
    layers: list
    densities: dict[str, DensityModel]
    prices: ComponentPrices
    objective: Objective


@dataclass
class SearchResult:
    records: list[dict]                # evaluated points of the sample, in sample order
    front: list[dict]
    baselines: dict[str, dict]
    selected: int                      # points in the sample
    summary: dict


# ---- evaluation ---------------------------------------------------------------------------

_MAPPERS: dict[str, FastMapper] = {}


def mapper_for(ctx: SearchContext) -> FastMapper:
    """This process's FastMapper for `ctx` (its tables and memoised densities persist)."""
    if ctx.key not in _MAPPERS:
        _MAPPERS.clear()
        _MAPPERS[ctx.key] = FastMapper(ctx.layers, ctx.densities, ctx.objective, whole_tables=True)
    return _MAPPERS[ctx.key]


def record(fm: FastMapper, p: ArchPoint, arch: SpikeXArch) -> dict:
    """The checkpoint record of one point: its knobs, area, totals and per-layer choice."""
    rec = {"key": p.key, **vars(p), "area_mm2": arch.total_area * 1e6, "onchip_kb": onchip_kb(arch)}
    try:
        picks = fm.best(arch)
    except NoMapping as e:
        return {**rec, "feasible": False, "reason": str(e)}
    return {**rec, "feasible": True, **totals(picks, arch.clock_hz), "layers": [_layer_json(l) for l in picks]}


def totals(picks: list[LayerPick], clock_hz: float) -> dict:
    energy, cycles = sum(l.energy_j for l in picks), sum(l.cycles for l in picks)
    return {"energy_j": energy, "cycles": cycles, "latency_s": cycles / clock_hz,
            "edp_js": energy * cycles / clock_hz}


def _layer_json(l: LayerPick) -> dict:
    return {"name": l.name, "mode": l.mapping.mode if l.mapping else None, "tws": l.mapping.tws if l.mapping else None,
            "energy_j": l.energy_j, "cycles": l.cycles}


class Runner:
    """Runs fn(ctx, task) for many tasks and yields results as they finish: in this process,
    on local worker processes or on a Dask cluster (ctx is sent to each worker once). Local
    task i always goes to worker i (mod workers), so a worker keeps meeting the same points'
    weight widths and GLB sizes and prices their mapspaces only once."""

    def __init__(self, workers: int = 2, scheduler: str | None = None):
        self.workers: list[Executor] = []
        self.client = _dask_client(scheduler) if scheduler else None
        self._scattered: dict[str, object] = {}
        if self.client is None and workers > 1:
            # Forking after torch started its threads can deadlock: spawn fresh workers then.
            mp = multiprocessing.get_context("spawn" if "torch" in sys.modules else "fork")
            self.workers = [ProcessPoolExecutor(1, mp_context=mp, initializer=_die_with_parent)
                            for _ in range(workers)]

    def map(self, fn: Callable, ctx: SearchContext, tasks: list) -> Iterator:
        if self.client is not None:
            from dask.distributed import as_completed as dask_completed
            if ctx.key not in self._scattered:
                self._scattered = {ctx.key: self.client.scatter(ctx, broadcast=True)}
            futures = [self.client.submit(fn, self._scattered[ctx.key], t, pure=False) for t in tasks]
            return (f.result() for f in dask_completed(futures))
        if self.workers:
            futures = [self.workers[i % len(self.workers)].submit(fn, ctx, t) for i, t in enumerate(tasks)]
            return (f.result() for f in as_completed(futures))
        return (fn(ctx, t) for t in tasks)

    def price_components(self, spec: str, space: SearchSpace, fixed: dict) -> ComponentPrices:
        """`ComponentPrices.price`, on a pool of the local workers' size when there are several."""
        if len(self.workers) < 2:
            return ComponentPrices.price(spec, space, None, **fixed)
        mp = multiprocessing.get_context("spawn" if "torch" in sys.modules else "fork")
        with ProcessPoolExecutor(len(self.workers), mp_context=mp, initializer=_die_with_parent) as pool:
            return ComponentPrices.price(spec, space, pool, **fixed)

    def close(self) -> None:
        for worker in self.workers:  # on Ctrl-C, drop queued tasks instead of finishing them
            worker.shutdown(wait=True, cancel_futures=True)
        if self.client is not None:
            self.client.close()


def _die_with_parent() -> None:
    """Pool workers end when the search is killed (Linux), instead of idling as orphans, and
    leave Ctrl-C to the parent."""
    ignore_interrupt()
    if sys.platform.startswith("linux"):
        import ctypes
        import signal
        ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _dask_client(address: str):
    try:
        from dask.distributed import Client
    except ImportError:
        raise SpikeXInputError("--scheduler", "scheduler", "needs the [dist] extra: pip install 'spikex-plugin[dist]'") from None
    try:
        return Client(address, timeout="15s")
    except (OSError, TimeoutError, ValueError) as e:
        raise SpikeXInputError(address, "--scheduler", f"cannot connect to a Dask scheduler: {e}") from None


_MAPPER_LOCK = threading.Lock()


def record_task(ctx: SearchContext, points: list[ArchPoint]) -> list[dict]:
    """Worker side: the records of some points (the worker's FastMapper keeps its tables;
    threads of one worker take turns, as its tables grow while mapping)."""
    with _MAPPER_LOCK:
        fm = mapper_for(ctx)
        return [record(fm, p, ctx.prices.compose(p)) for p in points]


def evaluate_rounds(ctx: SearchContext, pending: list[ArchPoint], runner: Runner, round_size: int,
                    parts: int) -> Iterator[list[dict]]:
    """Records of `pending`, one round of points at a time, each round split into `parts`
    tasks run in parallel (by weight width and GLB size: the tables a point needs); a kill
    loses at most the round in flight."""
    groups = sorted({(p.weight_bits, p.glb_kb) for p in pending})
    part_of = {g: i % parts for i, g in enumerate(groups)}
    for start in range(0, len(pending), round_size):
        batch = pending[start:start + round_size]
        tasks = [[p for p in batch if part_of[(p.weight_bits, p.glb_kb)] == i] for i in range(parts)]
        done: dict[str, dict] = {}
        for records in runner.map(record_task, ctx, tasks):
            done.update((r["key"], r) for r in records)
        yield [done[p.key] for p in batch]


# ---- Pareto front ---------------------------------------------------------------------------

def pareto_front(rows: list[dict], keys: tuple[str, ...] = OBJECTIVES) -> list[dict]:
    """Rows no other row dominates (<= in every key, < in one), sorted by EDP then key."""
    if not rows:
        return []
    v = np.array([[r[k] for k in keys] for r in rows], dtype=float)
    keep = [r for r, x in zip(rows, v) if not np.any(np.all(v <= x, axis=1) & np.any(v < x, axis=1))]
    return sorted(keep, key=lambda r: (r["edp_js"], r["key"]))


# ---- the search -----------------------------------------------------------------------------

def run_search(cfg: SearchConfig, out: str | Path, progress: bool = True) -> SearchResult:
    """Search (resuming from `out/points.jsonl`), then write pareto.csv/json and plots to `out`."""
    out = Path(out)
    network = load_network(cfg.network)
    check_dimensions(network)
    densities, source = densities_for(network, cfg.density, cfg.profile)
    space = cfg.space.validate()
    for name, low in (("points", 1), ("budget", 0), ("workers", 1), ("chunk", 1)):
        value = getattr(cfg, name)
        if value is not None and (not isinstance(value, int) or value < low):
            raise SpikeXInputError(f"--{name}", name, f"{value} must be an integer >= {low}")
    identity = _identity(cfg, network, source)
    _check_identity(out, identity)
    runner = Runner(cfg.workers, cfg.scheduler)
    try:
        prices = runner.price_components(cfg.arch, space, cfg.fixed)
        selected = _select(space, prices, cfg)
        done = _read_checkpoint(out / CHECKPOINT, {p.key for p in selected})
        pending = [p for p in selected if p.key not in done]
        pending = pending[:cfg.budget] if cfg.budget is not None else pending
        out.mkdir(parents=True, exist_ok=True)
        _write_atomic(out / IDENTITY, identity)
        ctx = SearchContext(_sha(json.dumps(identity, sort_keys=True).encode()), network.resolved, densities,
                            prices, cfg.objective)
        _checkpointed(evaluate_rounds(ctx, pending, runner, cfg.chunk, cfg.workers), out / CHECKPOINT, done,
                      len(selected), progress)
    finally:
        runner.close()
    records = [done[p.key] for p in selected if p.key in done]
    baselines = _baselines(cfg, network, out, identity) if cfg.baselines else {}
    front = pareto_front([r for r in records if r["feasible"]])
    summary = summarize(records, front, baselines, len(selected))
    with atomic_output_dir(out) as stage:
        write_outputs(stage, identity, records, front, baselines, summary)
    return SearchResult(records, front, baselines, len(selected), summary)


def _identity(cfg: SearchConfig, network: Network, source: str) -> dict:
    """Everything that fixes each point's result, and the sample order (not its length)."""
    ident = {"arch": cfg.arch, "fixed": cfg.fixed, "network": network.name,
             "network_sha256": _sha(network.model_dump_json(exclude={"source"}).encode()),
             "density": source, "space": cfg.space.to_dict(), "seed": cfg.seed, "objective": cfg.objective}
    if cfg.profile is not None:
        ident["density"] = "profile"
        ident["profile_sha256"] = _sha(Path(cfg.profile).read_bytes())
    return ident


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _check_identity(out: Path, identity: dict) -> None:
    path = out / IDENTITY
    if not path.is_file():
        return
    old = json.loads(path.read_text())
    if old != identity:
        diff = sorted(k for k in set(old) | set(identity) if old.get(k) != identity.get(k))
        raise SpikeXInputError(out, IDENTITY, f"holds a different search (differs in {', '.join(diff)}); "
                               "use another --out or delete it")


def _select(space: SearchSpace, prices: ComponentPrices, cfg: SearchConfig) -> list[ArchPoint]:
    """Grid points meeting the area and on-chip memory limits, in seeded order, first N."""
    ok = []
    for p in space.grid():
        arch = prices.compose(p)
        if space.max_area_mm2 is not None and arch.total_area * 1e6 > space.max_area_mm2:
            continue
        if space.max_onchip_kb is not None and onchip_kb(arch) > space.max_onchip_kb:
            continue
        ok.append(p)
    if not ok:
        raise SpikeXInputError("--max-area-mm2/--max-onchip-kb", "constraints", "no point of the space meets them")
    return sample_order(ok, cfg.seed)[:cfg.points]


def _read_checkpoint(path: Path, wanted: set[str]) -> dict[str, dict]:
    """Records of wanted points; a line cut short by a kill is skipped (re-evaluated)."""
    done: dict[str, dict] = {}
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if rec.get("key") in wanted:
                done[rec["key"]] = rec
    return done


def _checkpointed(rounds: Iterator[list[dict]], checkpoint: Path, done: dict[str, dict], total: int,
                  progress: bool) -> None:
    """Append each round's records to the checkpoint (flushed to disk) as it completes."""
    from tqdm import tqdm

    if checkpoint.is_file() and not checkpoint.read_bytes().endswith(b"\n") and checkpoint.stat().st_size:
        with open(checkpoint, "a") as f:  # end a line cut short by a kill
            f.write("\n")
    with open(checkpoint, "a") as f, tqdm(total=total, initial=len(done), unit="pt", desc="cosearch",
                                          disable=not progress) as bar:
        for records in rounds:
            for rec in records:
                f.write(json.dumps(rec) + "\n")
                done[rec["key"]] = rec
            f.flush()
            os.fsync(f.fileno())
            bar.update(len(records))


def _write_atomic(path: Path, data) -> None:
    tmp = path.with_name(path.name + ".tmp")
    write_json(tmp, data)
    os.replace(tmp, path)


# ---- baselines ------------------------------------------------------------------------------

BASELINE_ARCHS = {"ptb-8x8": ("ptb", {"ROWS": 8}), "ptb-16x8": ("ptb", {}), "dense-8x8": ("dense", {})}


def _baselines(cfg: SearchConfig, network: Network, out: Path, identity: dict) -> dict[str, dict]:
    """PTB (best global TWS, 8x8 like-for-like and its own 16x8) and the dense array on the
    same energy tables and statistics; cached in out/baselines.json."""
    path = out / BASELINES
    if path.is_file():
        cached = json.loads(path.read_text())
        if cached.get("identity") == identity:
            return cached["baselines"]
    result = {name: baseline_record(run_map(arch, network, cfg.density, cfg.profile, cfg.objective,
                                            workers=cfg.workers, **cfg.fixed, **params))
              for name, (arch, params) in BASELINE_ARCHS.items()}
    _write_atomic(path, {"identity": identity, "baselines": result})
    return result


def baseline_record(res: NetworkResult) -> dict:
    a = res.arch
    tws = sorted({l.mapping.tws for l in res.layers if l.mapping})
    return {"arch": a.name, "rows": a.rows, "cols": a.cols, "glb_kb": a.sizes_bits["GLB"] / 8192,
            "l1_kb": a.sizes_bits["L1"] / 8192, "weight_bits": a.weight_bits, "area_mm2": a.total_area * 1e6,
            "onchip_kb": onchip_kb(a), "energy_j": res.energy_j, "cycles": res.cycles,
            "latency_s": res.latency_s, "edp_js": res.edp_js, "global_tws": tws[0] if len(tws) == 1 else None,
            "layers": [{"name": l.name, "mode": l.mapping.mode if l.mapping else None,
                        "tws": l.mapping.tws if l.mapping else None, "energy_j": l.energy_j, "cycles": l.cycles}
                       for l in res.layers]}


# ---- outputs --------------------------------------------------------------------------------

def summarize(records: list[dict], front: list[dict], baselines: dict, selected: int) -> dict:
    """Best points and their gains over the baselines."""
    feasible = [r for r in records if r["feasible"]]
    best = {k: min(feasible, key=lambda r: (r[k], r["key"])) for k in OBJECTIVES} if feasible else {}
    s = {"selected": selected, "evaluated": len(records), "feasible": len(feasible),
         "complete": len(records) == selected, "front_size": len(front), "best": best}
    ptb = baselines.get("ptb-8x8")
    if ptb and feasible:
        within = [r for r in feasible if r["area_mm2"] <= ptb["area_mm2"]]
        s["best_edp_within_ptb_8x8_area"] = min(within, key=lambda r: (r["edp_js"], r["key"])) if within else None
        s["gains"] = {name: {k: b[k] / best["edp_js"][k] for k in ("energy_j", "latency_s", "edp_js")}
                      for name, b in baselines.items()}
    return s


def layers_text(rec: dict) -> str:
    """Per-layer choice, e.g. 'conv1:T4 pool1:- fc1:S1' (T/S: temporal/spatial dispatch)."""
    return " ".join(f"{l['name']}:{l['mode'][0].upper()}{l['tws']}" if l["mode"] else f"{l['name']}:-"
                    for l in rec["layers"])


CSV_FIELDS = ("key", "rows", "cols", "glb_kb", "l1_kb", "weight_bits", "area_mm2", "onchip_kb",
              "energy_j", "latency_s", "edp_js", "cycles", "layers")


def write_outputs(stage: Path, identity: dict, records: list[dict], front: list[dict], baselines: dict,
                  summary: dict) -> None:
    from spikex_plugin.cosearch.plots import edp_area_png, front_png

    with open(stage / "pareto.csv", "w", newline="") as f:
        w = csv.DictWriter(f, CSV_FIELDS)
        w.writeheader()
        for r in front:
            w.writerow({**{k: r[k] for k in CSV_FIELDS[:-1]}, "layers": layers_text(r)})
    write_json(stage / "pareto.json", {"config": identity, "summary": summary, "baselines": baselines,
                                       "front": front})
    feasible = [r for r in records if r["feasible"]]
    title = f"hardware search: {identity['network']}, {len(feasible)} feasible points"
    front_png(feasible, front, baselines, stage / "front_energy_latency.png", title)
    edp_area_png(feasible, front, baselines, stage / "edp_area.png", title)
