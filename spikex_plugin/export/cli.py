"""`spikex export-timeloop`: write Timeloop v0.4 / Sparseloop specs for a design and network."""

from __future__ import annotations

import argparse
from pathlib import Path

from spikex_plugin.cli_types import finite_number, whole_number


def cmd_export_timeloop(args: argparse.Namespace) -> int:
    """Export; bad input raises SpikeXInputError, which `spikex` main() prints (exit 2)."""
    from spikex_plugin.cli_types import parse_set
    from spikex_plugin.export.timeloop import export_timeloop
    from spikex_plugin.util import check_output_dir

    check_output_dir(args.out)

    index = export_timeloop(args.arch, args.network, args.density, args.profile, out_dir=args.out,
                            workers=args.workers, **parse_set(args.set))
    names = ", ".join(l["name"] for l in index["layers"])
    print(f"wrote Timeloop specs for {len(index['layers'])} layers ({names}) to {Path(args.out)}")
    for s in index["skipped"]:
        print(f"  skipped {s['name']} ({s['type']}): {s['reason']}")
    print(f"see {Path(args.out) / 'README.md'} for the commands and what is approximated")
    return 0


def add_export_parser(subparsers) -> argparse.ArgumentParser:
    """Register `export-timeloop` on the `spikex` sub-command parser."""
    p = subparsers.add_parser("export-timeloop",
                              help="write Timeloop v0.4 / Sparseloop specs (arch, problem, mapping, energy tables)")
    p.add_argument("--arch", default="spikex", help="bundled name (spikex, ptb, dense) or YAML path")
    p.add_argument("--network", default="dvsg-medium", help="bundled name or network YAML path")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--density", type=finite_number, help="uniform firing rate in [0, 1] (default 0.005)")
    g.add_argument("--profile", help="firing-statistics file (JSON/YAML)")
    p.add_argument("--set", action="append", metavar="NAME=VALUE", help="override an arch parameter")
    p.add_argument("--workers", type=whole_number(1), default=2, help="mapper processes")
    p.add_argument("--out", required=True, help="output directory")
    p.set_defaults(func=cmd_export_timeloop)
    return p
