"""`spikex` command line: map, sweep, components, cosearch, report, export-timeloop
(train/profile with the [train] extra)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from spikex_plugin.cli_types import finite_number, firing_rate, parse_set, whole_number
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.cosearch.cli import add_cosearch_parser, add_report_parser
from spikex_plugin.export.cli import add_export_parser


RESULT_FILES = ("result.json", "energy_breakdown.png", "edp_vs_tws.png")


def cmd_map(args) -> int:
    from spikex_plugin.api import run_map
    from spikex_plugin.util import atomic_output_dir, check_output_dir, write_json

    check_output_dir(args.out, RESULT_FILES, args.force)
    result = run_map(args.arch, args.network, args.density, args.profile, args.objective, workers=args.workers,
                     tws=args.tws, progress=True, engine=args.engine, curves=True, **parse_set(args.set))
    data = result.to_json()
    from spikex_plugin.report.plots import edp_vs_tws_png, energy_breakdown_png  # matplotlib: once there is a result
    from spikex_plugin.report.tables import print_layer_table

    print_layer_table(data)
    title = plot_title(result.network.name, result.arch.name, args.density, args.profile)
    chosen = {l.name: l.mapping.tws for l in result.layers if l.mapping}
    with atomic_output_dir(args.out) as out:
        write_json(out / "result.json", data)
        energy_breakdown_png(data["layers"], out / "energy_breakdown.png", title)
        edp_vs_tws_png(result.tws_curves, out / "edp_vs_tws.png", title, chosen)
    print(f"wrote {', '.join(RESULT_FILES)} in {args.out}")
    return 0


def plot_title(network: str, arch: str, density: float | None, profile: str | None) -> str:
    """'nmnist on spikex, uniform firing rate 0.5 %' or '..., firing statistics of stats.json'."""
    from spikex_plugin.api import DEFAULT_DENSITY

    if profile is not None:
        return f"{network} on {arch}, firing statistics of {Path(profile).name}"
    rate = DEFAULT_DENSITY if density is None else density
    return f"{network} on {arch}, uniform firing rate {100 * rate:g} %"


def cmd_sweep(args) -> int:
    from spikex_plugin.hardware.arch import load_arch
    from spikex_plugin.report.plots import rate_sweep_png
    from spikex_plugin.sweeps import rate_sweep
    from spikex_plugin.util import atomic_output_dir, check_output_dir, write_json
    from spikex_plugin.workload.network import load_network

    check_output_dir(args.out, ("rate_sweep.json", "rate_sweep.png"), args.force)
    for rate in args.rates:
        if not 0.0 <= rate <= 1.0:
            raise SpikeXInputError("--rates", "rates", f"{rate} is not a firing rate in [0, 1]")
    arch = load_arch(args.arch, **parse_set(args.set))
    network = load_network(args.network)
    rows = rate_sweep(network, arch, args.rates, args.objective, args.workers)
    print(f"{'rate %':>8} {'energy J':>12} {'latency s':>12} {'EDP J*s':>12}")
    for r in rows:
        print(f"{r['rate'] * 100:8.3f} {r['energy_j']:12.4g} {r['latency_s']:12.4g} {r['edp_js']:12.4g}")
    with atomic_output_dir(args.out) as out:
        write_json(out / "rate_sweep.json", rows)
        rate_sweep_png(rows, out / "rate_sweep.png", f"{network.name} on {arch.name}")
    print(f"wrote rate_sweep.json and rate_sweep.png in {args.out}")
    return 0


def cmd_components(args) -> int:
    from spikex_plugin.hardware.arch import load_arch
    from spikex_plugin.report.tables import print_components

    print_components(load_arch(args.arch, **parse_set(args.set)))
    return 0


def build_parser() -> argparse.ArgumentParser:
    from spikex_plugin import __version__

    p = argparse.ArgumentParser(prog="spikex", description="SpikeX sparse-SNN accelerator models")
    p.add_argument("--version", action="version", version=f"spikex {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("map", help="map a network on an architecture with the sparse SpikeX cost")
    m.add_argument("--arch", default="spikex", help="bundled name (spikex, ptb, dense) or YAML path")
    m.add_argument("--network", default="dvsg-medium", help="bundled name or network YAML path")
    g = m.add_mutually_exclusive_group()
    g.add_argument("--density", type=firing_rate, help="uniform firing rate in [0, 1] (default 0.005)")
    g.add_argument("--profile", help="firing-statistics file (JSON/YAML)")
    m.add_argument("--objective", choices=["edp", "energy", "latency"], default="edp")
    m.add_argument("--engine", choices=["spikex", "accelforge"], default="spikex",
                   help="spikex: fast sparse-aware mapper (default); accelforge: AccelForge's own "
                        "mapper and dense model in the SpikeX mapspace (slow: minutes per conv layer)")
    m.add_argument("--tws", type=whole_number(1), help="fix one time-window size for every layer")
    m.add_argument("--set", action="append", metavar="NAME=VALUE", help="override an arch parameter")
    m.add_argument("--workers", type=whole_number(1), default=2, help="mapper processes")
    m.add_argument("--out", default="out", help="output directory")
    m.add_argument("--force", action="store_true", help="replace the result of an earlier run in --out")
    m.set_defaults(func=cmd_map)
    w = sub.add_parser("sweep", help="energy, latency and EDP against a uniform firing rate")
    w.add_argument("--arch", default="spikex")
    w.add_argument("--network", default="dvsg-medium")
    w.add_argument("--rates", type=finite_number, nargs="+", default=[0.005, 0.002, 0.001, 0.0005, 0.0002, 0.0001])
    w.add_argument("--objective", choices=["edp", "energy", "latency"], default="edp")
    w.add_argument("--set", action="append", metavar="NAME=VALUE")
    w.add_argument("--workers", type=whole_number(1), default=2)
    w.add_argument("--out", default="out/sweep")
    w.add_argument("--force", action="store_true", help="replace the result of an earlier run in --out")
    w.set_defaults(func=cmd_sweep)
    c = sub.add_parser("components", help="per-action energy and area of every component")
    c.add_argument("--arch", default="spikex")
    c.add_argument("--set", action="append", metavar="NAME=VALUE")
    c.set_defaults(func=cmd_components)
    add_export_parser(sub)
    add_cosearch_parser(sub)
    add_report_parser(sub)
    _add_training_commands(sub)
    return p


def _add_training_commands(sub) -> None:
    """train/profile need torch; without the [train] extra they say how to install it."""
    try:
        from spikex_plugin.training.cli import add_profile_parser, add_train_parser
    except ImportError:
        for name in ("train", "profile"):
            p = sub.add_parser(name, help="needs the [train] extra (torch, spikingjelly)", add_help=False)
            p.set_defaults(func=_needs_train_extra)
        return
    add_train_parser(sub)
    add_profile_parser(sub)


def _needs_train_extra(args) -> int:
    raise SpikeXInputError(f"spikex {args.command}", "[train] extra",
                           "needs torch and spikingjelly: pip install 'spikex-plugin[train]' "
                           "(or bash scripts/setup.sh train)")


def main(argv: list[str] | None = None) -> int:
    """Run `spikex`; returns the exit status (2: bad input, message on stderr; 130: Ctrl-C)."""
    parser = build_parser()
    try:
        args, unknown = parser.parse_known_args(argv)
        if unknown and args.func is not _needs_train_extra:  # that one explains itself
            parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as e:  # argparse: --help/--version (0) or a bad option (2, message printed)
        return e.code if isinstance(e.code, int) else 2
    try:
        return args.func(args)
    except SpikeXInputError as e:
        print(f"spikex: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        hint = getattr(args, "resume_hint", None) or "nothing was written"
        print(f"\nspikex: interrupted; {hint}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
