"""`spikex cosearch` and `spikex report`.

Register both in the main CLI with `add_cosearch_parser(sub)` and `add_report_parser(sub)`.
Handlers import their machinery when run, so `spikex --help` stays fast.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Callable

from spikex_plugin.cli_types import finite_number, whole_number
from spikex_plugin.errors import SpikeXInputError


SEED_MAX = 2**32 - 1  # numpy's and torch's seeds; training derives per-epoch seeds from it


def _ints(text: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of integers") from None


def _floats(text: str) -> tuple[float, ...]:
    return tuple(finite_number(v) for v in text.split(","))


def cmd_cosearch(args) -> int:
    if args.joint:
        return _cmd_joint(args)
    from spikex_plugin.cli_types import parse_set
    from spikex_plugin.cosearch.search import CHECKPOINT, SearchConfig, layers_text, run_search
    from spikex_plugin.cosearch.space import SearchSpace
    from spikex_plugin.util import check_output_dir

    args.resume_hint = (f"run the same command again to resume from {Path(args.out) / CHECKPOINT} "
                        "(points evaluated so far are kept)")
    check_output_dir(args.out)

    space = SearchSpace(args.rows, args.cols, args.glb_kb, args.l1_kb, args.weight_bits, args.max_area_mm2,
                        args.max_onchip_kb)
    cfg = SearchConfig(args.arch, args.network, args.density, args.profile, space, args.points, args.seed,
                       args.objective, parse_set(args.set), args.workers, args.scheduler, args.budget,
                       baselines=not args.no_baselines)
    t0 = time.perf_counter()
    res = run_search(cfg, args.out)
    s = res.summary
    state = "complete" if s["complete"] else f"partial: run again to resume ({s['evaluated']}/{s['selected']})"
    print(f"{s['evaluated']} points evaluated ({s['feasible']} feasible), front of {s['front_size']}; "
          f"{state}; {time.perf_counter() - t0:.1f} s")
    if s["best"]:
        b = s["best"]["edp_js"]
        print(f"best EDP {b['edp_js']:.4g} J*s: {b['rows']}x{b['cols']} GLB {b['glb_kb']} KB L1 {b['l1_kb']} KB "
              f"{b['weight_bits']}-bit weights, {b['area_mm2']:.3f} mm2; {layers_text(b)}")
    for name, g in s.get("gains", {}).items():
        base = res.baselines[name]
        print(f"  vs {name} (EDP {base['edp_js']:.4g} J*s, global TWS {base['global_tws']}): EDP {g['edp_js']:.2f}x, "
              f"energy {g['energy_j']:.2f}x, latency {g['latency_s']:.2f}x lower")
    print(f"wrote {Path(args.out) / 'pareto.csv'}, pareto.json, front_energy_latency.png, edp_area.png")
    return 0


def _cmd_joint(args) -> int:
    try:
        from spikex_plugin.cosearch.joint import JOINT_CHECKPOINT, JointConfig, joint_search, write_joint
    except ImportError as e:
        raise SpikeXInputError("--joint", "joint", f"needs the [train] extra (torch, spikingjelly): {e}") from None
    from spikex_plugin.util import atomic_output_dir, check_output_dir

    cfg = JointConfig(args.task, args.betas, args.epochs, args.arch, train={"seed": args.seed})
    args.resume_hint = (f"run the same command again to resume from {Path(args.out) / JOINT_CHECKPOINT} "
                        "(finished epochs and betas are kept)")
    check_output_dir(args.out)
    t0 = time.perf_counter()
    result = joint_search(cfg, Path(args.out) / JOINT_CHECKPOINT)
    with atomic_output_dir(args.out) as stage:
        write_joint(result, stage)
    for r in result["rows"]:
        print(f"beta={r['beta']:g}: accuracy {100 * r['accuracy']:.2f} %, EDP {r['edp_js']:.4g} J*s "
              f"(mapper's TWS {r['edp_js_mapper_tws']:.4g}); TWS " + " ".join(f"{n}:{t}" for n, t in r["tws"].items()))
    c = result["comparison"]
    if c:
        print(f"beta={c['beta']:g} vs beta=0: EDP {c['edp_gain']:.2f}x lower at accuracy "
              f"{100 * c['accuracy']:.2f} % vs {100 * c['baseline_accuracy']:.2f} %")
    else:
        print("no beta > 0 run kept accuracy within 1 point of beta = 0")
    print(f"wrote {Path(args.out) / 'pareto.csv'}, pareto.json, accuracy_edp.png ({time.perf_counter() - t0:.0f} s)")
    return 0


def cmd_report(args) -> int:
    from spikex_plugin.report.report import build_report
    from spikex_plugin.util import check_output_dir

    check_output_dir(args.out)

    path = build_report(args.out, quick=args.quick, workers=args.workers)
    print(f"wrote {path}")
    return 0


def add_cosearch_parser(subparsers) -> Callable:
    p = subparsers.add_parser("cosearch", help="hardware architecture search (Pareto front), or the joint "
                                               "search with hardware-aware training (--joint)")
    p.add_argument("--arch", default="spikex", help="bundled name (spikex, ptb, dense) or YAML path")
    p.add_argument("--network", default="dvsg-medium", help="bundled name or network YAML path")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--density", type=finite_number, help="uniform firing rate in [0, 1] (default 0.005)")
    g.add_argument("--profile", help="firing-statistics file (JSON/YAML)")
    p.add_argument("--out", default="cosearch-out", help="output (and checkpoint) directory")
    p.add_argument("--points", type=whole_number(1), help="evaluate the first N points of the seeded order (default: all)")
    p.add_argument("--seed", type=whole_number(0, SEED_MAX), default=0, help="seed of the sample order (--joint: of the training)")
    p.add_argument("--budget", type=whole_number(0), help="evaluate at most N new points now (resume later)")
    p.add_argument("--workers", type=whole_number(1), default=2, help="local worker processes")
    p.add_argument("--scheduler", help="Dask scheduler address (tcp://host:8786): run on that cluster")
    p.add_argument("--objective", choices=["edp", "energy", "latency"], default="edp",
                   help="what the mapper minimises per layer")
    p.add_argument("--rows", type=_ints, default=(2, 4, 8, 16, 32), help="array rows to try, e.g. 4,8,16")
    p.add_argument("--cols", type=_ints, default=(2, 4, 8, 16, 32))
    p.add_argument("--glb-kb", type=_ints, default=(16, 32, 54, 64, 96, 128, 192, 256))
    p.add_argument("--l1-kb", type=_ints, default=(1, 2, 4, 8, 16))
    p.add_argument("--weight-bits", type=_ints, default=(8, 16))
    p.add_argument("--max-area-mm2", type=finite_number, help="chip area limit")
    p.add_argument("--max-onchip-kb", type=finite_number, help="on-chip memory limit (GLB + L1 + PE scratchpads)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="fix another arch parameter")
    p.add_argument("--no-baselines", action="store_true", help="skip the PTB and dense baselines")
    p.add_argument("--joint", action="store_true", help="joint search: hardware-aware training + per-layer TWS")
    p.add_argument("--task", choices=["digits", "events"], default="digits", help="--joint: training task")
    p.add_argument("--betas", type=_floats, default=(0.0, 0.5, 2.0), help="--joint: hardware-loss weights")
    p.add_argument("--epochs", type=_ints, default=(10, 5), help="--joint: E1,E2 (pretrain, then per beta)")
    p.set_defaults(func=cmd_cosearch)
    return cmd_cosearch


def add_report_parser(subparsers) -> Callable:
    p = subparsers.add_parser("report", help="regenerate the reproduction report (Markdown + PNG)")
    p.add_argument("--out", default="report", help="output directory")
    p.add_argument("--quick", action="store_true", help="reduced CI-sized settings (< 2 min)")
    p.add_argument("--workers", type=whole_number(1), default=2)
    p.set_defaults(func=cmd_report)
    return cmd_report
