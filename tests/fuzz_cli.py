"""Seeded fuzzer of `spikex` inputs: mutated arch specs, networks, statistics files and
command-line values, each run in-process through `spikex_plugin.cli.main` under a watchdog.

Every case must end in exit 0 with a valid result, or exit 2 with a message and no output;
never an exception escaping `main` (a traceback), never a hang. The suite runs a bounded
sample (tests/test_fuzz.py); a longer campaign:

    PYTHONPATH=. .venv/bin/python tests/fuzz_cli.py --cases 10000 --seed 1
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import json
import math
import random
import shutil
import signal
import tempfile
import time
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from spikex_plugin.cli import main
from spikex_plugin.hardware.arch import resolve_arch_path

TINY_NETWORK = {
    "name": "tiny", "T": 4, "input": {"channels": 2, "height": 4, "width": 4},
    "layers": [{"name": "conv1", "type": "conv", "out_channels": 4, "kernel": 3, "padding": 1},
               {"name": "pool1", "type": "pool", "kernel": 2},
               {"name": "fc1", "type": "fc", "out_features": 3}],
}
ARCH_TEXT = resolve_arch_path("spikex").read_text()
PARAMETERS = ["ROWS", "COLS", "GLB_KB", "L1_KB", "WEIGHT_BITS", "VMEM_BITS", "VMEM_ENTRIES", "TECH_NODE_NM",
              "CLOCK_MHZ", "DRAM_GBPS", "SRAM_PORT_BITS"]
# Values users type, mistype, or that reach the edges of every range.
NUMBERS = ["0", "-1", "1", "2", "3", "4", "7", "8", "16", "64", "0.5", "2.5", "1e9", "1e300", "-0", "inf", "-inf",
           "nan", "x", "", "1,2", "0x10", "1_000"]
VALUES = [0, -1, 1, 2, 3, 7, 2.5, 0.5, -0.5, 1e9, 10**18, float("nan"), float("inf"), "x", "", None, True, [], [1],
          {}, {"a": 1}, "3 * 4", "{{ROWS}}"]


class CaseTimeout(BaseException):
    """Raised by the watchdog inside a case that runs too long (a hang)."""


@dataclass
class Outcome:
    kind: str       # "ok", "refused", "traceback", "hang", "bad-exit", "bad-result", "left-output"
    detail: str = ""


def run_case(argv: list[str], out: Path | None, check_result, timeout_s: float) -> Outcome:
    """Run `spikex argv` in-process; classify how it ended."""
    err, existed = io.StringIO(), out is not None and out.exists()

    def on_alarm(signum, frame):
        raise CaseTimeout()

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, timeout_s)
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code = main(argv)
    except CaseTimeout:
        return Outcome("hang", f"over {timeout_s} s")
    except SystemExit as e:  # the console script exits with this status, printing no traceback
        code = e.code if isinstance(e.code, int) else 1
    except BaseException as e:  # noqa: BLE001 - anything escaping main is what the fuzzer looks for
        return Outcome("traceback", "".join(traceback.format_exception(e))[-1500:])
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    text = err.getvalue()
    if "Traceback (most recent call last)" in text:
        return Outcome("traceback", text[-1500:])
    if code == 2:
        if "error:" not in text:
            return Outcome("bad-exit", f"exit 2 without a message: {text[-300:]!r}")
        if out is not None and not existed and out.exists():
            return Outcome("left-output", f"{text.strip().splitlines()[-1]} but {out} was written")
        return Outcome("refused", text.strip().splitlines()[-1])
    if code != 0:
        return Outcome("bad-exit", f"exit {code}: {text[-300:]!r}")
    problem = check_result() if check_result else None
    return Outcome("bad-result", problem) if problem else Outcome("ok")


def valid_map_result(out: Path):
    def check() -> str | None:
        try:
            data = json.loads((out / "result.json").read_text())
        except (OSError, ValueError) as e:
            return f"result.json unreadable: {e}"
        energies = [l["energy_j"] for l in data["layers"]]
        if data.get("schema") != "spikex-result/1" or not energies:
            return "result.json without schema or layers"
        if not all(math.isfinite(e) and e >= 0 for e in energies) or not math.isfinite(data["total"]["cycles"]):
            return f"non-finite or negative energy/cycles: {energies}"
        if not math.isclose(sum(energies), data["total"]["energy_j"], rel_tol=1e-9):
            return "total energy is not the sum of the layers"
        if not all((out / f).stat().st_size > 1000 for f in ("energy_breakdown.png", "edp_vs_tws.png")):
            return "plots missing"
        return None
    return check


def _mutate_value(rng: random.Random, value):
    """A user-plausible bad (or good) replacement for one field."""
    if isinstance(value, (int, float)) and not isinstance(value, bool) and rng.random() < 0.5:
        return rng.choice([value * 2, value + 1, -value, value / 2, value * 10**rng.randint(3, 9), 0])
    return rng.choice(VALUES)


def mutate_tree(rng: random.Random, data, edits: int = 1):
    """Replace, delete or add a field somewhere in a JSON/YAML tree."""
    data = copy.deepcopy(data)
    for _ in range(edits):
        node, parent, key = data, None, None
        while isinstance(node, (dict, list)) and node and rng.random() < 0.75:
            parent, key = node, rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
            node = node[key]
        op = rng.random()
        if parent is None:
            if isinstance(data, dict):
                data[rng.choice(["extra", "Name", 3, "source", "layer"])] = rng.choice(VALUES)
            continue
        if op < 0.55:
            parent[key] = _mutate_value(rng, node)
        elif op < 0.75 and isinstance(parent, dict):
            del parent[key]
        elif op < 0.85 and isinstance(parent, list):
            parent.append(copy.deepcopy(node) if rng.random() < 0.5 else rng.choice(VALUES))
        elif isinstance(parent, dict):
            parent[rng.choice(["extra", "Kernel", 7, "strides", "name"])] = rng.choice(VALUES)
        else:
            parent.pop(key)
    return data


def mutate_text(rng: random.Random, text: str) -> str:
    """Character-level damage: truncation, a stray bracket or tab, a duplicated line."""
    lines = text.splitlines()
    op = rng.randrange(4)
    i = rng.randrange(len(lines))
    if op == 0:
        return "\n".join(lines[:i])
    if op == 1:
        lines[i] = lines[i] + rng.choice(["[", "}", ":", " : :", "\t", " !Memory", "{%", "{{"])
    elif op == 2:
        lines.insert(i, lines[i])
    else:
        del lines[i]
    return "\n".join(lines) + "\n"


def arch_case(rng: random.Random) -> str:
    """A spec with one line's value replaced, a line removed, or a field renamed."""
    lines = ARCH_TEXT.splitlines()
    candidates = [i for i, l in enumerate(lines) if ":" in l and not l.lstrip().startswith("#")]
    i = rng.choice(candidates)
    op = rng.random()
    if op < 0.5:  # replace a value
        head, _, _ = lines[i].partition(":")
        value = rng.choice(["0", "-8", "2.5", ".inf", ".nan", "1e12", "x", "null", "[]", "{}", "{{ROWS}} / 0",
                            "{{ROWS}} * 2.5", "1e-30", "-1e-9", "true"])
        lines[i] = f"{head}: {value}"
    elif op < 0.7:
        del lines[i]
    elif op < 0.85:
        lines[i] = lines[i].replace("name:", rng.choice(["nam:", "name: X", "name: GLB\n    extra: 1"]), 1)
    else:
        return mutate_text(rng, ARCH_TEXT)
    return "\n".join(lines) + "\n"


def cli_values(rng: random.Random) -> list[str]:
    argv: list[str] = []
    if rng.random() < 0.4:
        argv += ["--tws", rng.choice(NUMBERS)]
    if rng.random() < 0.4:
        argv += ["--workers", rng.choice(["1", "1", "2", "0", "-3", "2.5", "x"])]
    if rng.random() < 0.4:
        argv += ["--density", rng.choice(NUMBERS + ["0.005", "0.02", "1"])]
    for _ in range(rng.choice([0, 0, 1, 2])):
        name = rng.choice(PARAMETERS + ["ROW", "rows", "GLB", "=", ""])
        argv += ["--set", f"{name}={rng.choice(NUMBERS)}" if name != "=" else rng.choice(["=", "ROWS", "ROWS=="])]
    if rng.random() < 0.2:
        argv += ["--objective", rng.choice(["edp", "energy", "latency", "power"])]
    return argv


class Campaign:
    """Generates and runs cases; counts outcomes per case kind."""

    def __init__(self, root: Path, seed: int, timeout_s: float = 30.0):
        self.root, self.seed, self.timeout_s = root, seed, timeout_s
        self.counts: Counter = Counter()
        self.failures: list[tuple[str, list[str], Outcome]] = []
        self.network = root / "tiny.yaml"
        self.network.write_text(yaml.safe_dump(TINY_NETWORK, sort_keys=False))
        self.a_file = root / "a-file"
        self.a_file.write_text("x")
        from spikex_plugin.sparsity.stats import network_stats_from_rate
        from spikex_plugin.workload.network import load_network
        self.stats = network_stats_from_rate(load_network(self.network), 0.05, 0.3).model_dump()

    def case(self, i: int) -> tuple[str, list[str], Path | None, object]:
        rng = random.Random(self.seed * 1_000_003 + i)
        d = self.root / f"c{i}"
        d.mkdir()
        out = d / "out"
        kind = rng.choices(["cli", "network", "network-text", "stats", "arch", "out", "cosearch"],
                           weights=[30, 22, 6, 18, 10, 6, 3])[0]
        base = ["map", "--network", str(self.network), "--workers", "1", "--out", str(out)]
        if kind == "cli":
            return kind, base + cli_values(rng), out, valid_map_result(out)
        if kind == "network":
            path = d / "net.yaml"
            path.write_text(yaml.safe_dump(mutate_tree(rng, TINY_NETWORK, rng.choice([1, 1, 2])), sort_keys=False))
            return kind, ["map", "--network", str(path), "--workers", "1", "--out", str(out)], out, valid_map_result(out)
        if kind == "network-text":
            path = d / "net.yaml"
            path.write_text(mutate_text(rng, yaml.safe_dump(TINY_NETWORK, sort_keys=False)))
            return kind, ["map", "--network", str(path), "--workers", "1", "--out", str(out)], out, valid_map_result(out)
        if kind == "stats":
            path = d / rng.choice(["stats.json", "stats.yaml"])
            data = mutate_tree(rng, self.stats, rng.choice([1, 1, 2]))
            text = json.dumps(data) if path.suffix == ".json" else yaml.safe_dump(data)
            path.write_text(text if rng.random() < 0.9 else text[: rng.randrange(len(text))])
            argv = ["map", "--network", str(self.network), "--profile", str(path), "--workers", "1", "--out", str(out)]
            return kind, argv, out, valid_map_result(out)
        if kind == "arch":
            path = d / "arch.yaml"
            path.write_text(arch_case(rng))
            if rng.random() < 0.5:
                return kind, ["components", "--arch", str(path)], None, None
            return kind, base + ["--arch", str(path)], out, valid_map_result(out)
        if kind == "out":
            target = rng.choice([str(self.a_file), str(self.a_file / "sub"), "/proc/spikex-fuzz", str(d / "new/deeper")])
            argv = ["map", "--network", str(self.network), "--workers", "1", "--out", target]
            return kind, argv, Path(target), (valid_map_result(Path(target)) if "new" in target else None)
        argv = ["cosearch", "--network", str(self.network), "--no-baselines", "--workers", "1", "--out", str(out),
                "--rows", rng.choice(["2,4", "4", "0,4", "-2", "4,x"]), "--cols", rng.choice(["2,4", "4", "100000"]),
                "--glb-kb", rng.choice(["16", "54", "0", "16,54"]), "--l1-kb", rng.choice(["2", "1,2", "-1"]),
                "--weight-bits", rng.choice(["8", "8,16", "0"])]
        for option, values in (("--budget", ["0", "1", "-1", "x"]), ("--seed", ["0", "-1", "7", str(2**40)]),
                               ("--points", ["1", "3", "0", "-2"]), ("--max-area-mm2", ["0", "1e-9", "100", "nan"])):
            if rng.random() < 0.3:
                argv += [option, rng.choice(values)]
        check = (lambda: None if (out / "pareto.json").is_file() else "no pareto.json")
        return kind, argv, out, check

    def run(self, cases: int, start: int = 0, progress_every: int = 0) -> int:
        """Run cases start .. start + cases - 1; print the counts every `progress_every` cases."""
        done = 0
        for i in range(start, start + cases):
            if progress_every and done and done % progress_every == 0:
                print(self.report().splitlines()[0], flush=True)
            kind, argv, out, check = self.case(i)
            outcome = run_case(argv, out, check, self.timeout_s)
            shutil.rmtree(self.root / f"c{i}", ignore_errors=True)
            self.counts[(kind, outcome.kind)] += 1
            if outcome.kind not in ("ok", "refused"):
                self.failures.append((kind, argv, outcome))
            done += 1
        return done

    def report(self) -> str:
        by_outcome = Counter()
        for (_, outcome), n in self.counts.items():
            by_outcome[outcome] += n
        lines = [f"{sum(self.counts.values())} cases: " + ", ".join(f"{k} {n}" for k, n in sorted(by_outcome.items()))]
        for kind in sorted({k for k, _ in self.counts}):
            lines.append(f"  {kind:13s} " + ", ".join(f"{o} {n}" for (k, o), n in sorted(self.counts.items()) if k == kind))
        for kind, argv, outcome in self.failures[:20]:
            lines.append(f"FAIL {kind} {outcome.kind}: spikex {' '.join(argv)}\n{outcome.detail}")
        return "\n".join(lines)


def _main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", type=int, default=0, help="first case number (to split a campaign)")
    p.add_argument("--timeout", type=float, default=30.0, help="seconds per case before it counts as a hang")
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="spikex-fuzz-") as tmp:
        campaign = Campaign(Path(tmp), args.seed, args.timeout)
        t0 = time.perf_counter()
        campaign.run(args.cases, args.start, progress_every=250)
        print(campaign.report())
        print(f"{time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    _main()
