"""`spikex train` and `spikex profile` (need the [train] extra: torch, spikingjelly).

This module imports neither torch nor spikingjelly: the handlers do, when run. It raises
ImportError when they are not installed so the main CLI leaves the commands out.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec
from typing import Callable

from spikex_plugin.errors import SpikeXInputError

if find_spec("torch") is None or find_spec("spikingjelly") is None:
    raise ImportError("spikex train/profile need the [train] extra (torch, spikingjelly)")

TASKS = ("digits", "events", "nmnist", "dvsgesture")   # as training.data.TASKS (this module avoids torch)
TASK_OF_NETWORK = {"nmnist": "nmnist", "dvsg-medium": "dvsgesture", "dvsg-large": "dvsgesture"}


def cmd_train(args) -> int:
    from spikex_plugin.training.train import sweep_betas, train

    epochs = _epochs(args.epochs)
    task = args.task or TASK_OF_NETWORK.get(args.network or "", None if args.network else "digits")
    if task is None:
        raise SpikeXInputError("--task", "task", f"give the task to train network '{args.network}' on")
    extra = {"batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "window": args.window,
             "network": args.network, "device": args.device, "chunk": args.chunk, "eval_batch": args.eval_batch,
             "train_samples": args.train_samples, "test_samples": args.test_samples,
             "calib_samples": args.calib_samples}
    if args.T is not None:
        extra["T"] = args.T
    if task == "digits":
        extra["coding"] = args.coding
    betas = args.beta or [0.0]
    try:
        if len(betas) == 1:
            rows = [train(task, betas[0], epochs, args.out, **extra)]
        else:
            rows = sweep_betas(task, betas, epochs, args.out, **extra)
    except KeyboardInterrupt:
        print(f"spikex train: interrupted; rerun the same command to resume from the last epoch saved in "
              f"{args.out}/checkpoints", file=sys.stderr)
        return 130
    for m in rows:
        occ = " ".join(f"{n}={o:.3f}" for n, o in m["occupancy"].items())
        edp = f"{m['edp_js']:.3e} J*s" if m["edp_js"] else "n/a"
        print(f"beta={m['beta']:g} accuracy={100 * m['accuracy']:.2f}% EDP={edp} occupancy(w={m['window']}): {occ}")
    print(f"wrote {args.out}")
    return 0


def cmd_profile(args) -> int:
    if (args.model is None) == (args.structure is None):
        raise SpikeXInputError("--model/--structure", "profile", "give a trained --model (with --data) or a "
                               "--structure to generate")
    if args.structure is not None:
        return _generate_profile(args)
    if args.data is None:
        raise SpikeXInputError("--data", "data", "recording a model's statistics needs the data set")
    from spikex_plugin.training.train import profile_model

    stats = profile_model(args.model, args.data, args.out, network=args.network, split=args.split,
                          batch_size=args.batch_size, seed=args.seed)
    print(f"wrote {args.out} ({len(stats.layers)} layers, {next(iter(stats.layers.values())).samples} samples)")
    return 0


def _generate_profile(args) -> int:
    """Structured synthetic statistics (sparsity/generator.py) for every layer of --network."""
    from pathlib import Path

    from spikex_plugin.sparsity.generator import StructureKnobs, network_structured_stats
    from spikex_plugin.workload.network import load_network

    knobs = {}
    for item in args.structure.split(","):
        key, sep, value = item.partition("=")
        if not sep or key not in StructureKnobs.__dataclass_fields__:
            raise SpikeXInputError("--structure", item, f"expected KEY=VALUE with KEY one of "
                                   f"{', '.join(StructureKnobs.__dataclass_fields__)}")
        try:
            knobs[key] = float(value)
        except ValueError:
            raise SpikeXInputError("--structure", key, f"'{value}' is not a number") from None
    try:
        structure = StructureKnobs(**knobs)
    except ValueError as e:
        raise SpikeXInputError("--structure", "structure", str(e)) from None
    if args.network is None:
        raise SpikeXInputError("--network", "network", "--structure needs the network whose layers it fills")
    stats = network_structured_stats(load_network(args.network), structure, args.samples, args.seed or 0)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    stats.save(args.out)
    print(f"wrote {args.out} ({len(stats.layers)} layers, {structure})")
    return 0


def _epochs(text: str) -> tuple[int, int]:
    """'E1,E2' (pretrain, hardware-aware) or 'E' (E pretrain epochs, then E/2 with beta)."""
    try:
        parts = [int(p) for p in str(text).split(",")]
    except ValueError:
        raise SpikeXInputError("--epochs", "epochs", f"'{text}' is not E or E1,E2") from None
    if len(parts) == 1:
        parts = [parts[0], max(parts[0] // 2, 1)]
    if len(parts) != 2 or min(parts) < 0:
        raise SpikeXInputError("--epochs", "epochs", f"'{text}' is not E or E1,E2 with non-negative counts")
    return parts[0], parts[1]


def add_train_parser(subparsers) -> Callable:
    p = subparsers.add_parser("train", help="hardware-aware SNN training (CPU): L = L_acc + beta * L_hw")
    p.add_argument("--task", choices=TASKS, help="data set (default: digits, or the bundled network's own task)")
    p.add_argument("--network", help="train the model built from this network (bundled name or YAML); "
                                     "nmnist and dvsg-* imply their emulated event task")
    p.add_argument("--device", choices=["cpu", "cuda", "auto"], default="cpu", help="auto: a GPU when torch sees one")
    p.add_argument("--chunk", type=int, help="train in chunks of this many time steps (truncated BPTT)")
    p.add_argument("--train-samples", type=int, help="emulated event tasks: training samples")
    p.add_argument("--test-samples", type=int, help="emulated event tasks: held-out samples (statistics)")
    p.add_argument("--eval-batch", type=int, default=256, help="batch size of evaluation and recording")
    p.add_argument("--calib-samples", type=int, default=256,
                   help="training samples whose occupancy sets the hardware loss's reference E_ref")
    p.add_argument("--beta", type=float, nargs="+", help="one beta, or several for a sweep (default 0)")
    p.add_argument("--epochs", default="15,10", help="E1,E2: pretrain epochs, then epochs with beta")
    p.add_argument("--T", type=int, help="time steps (default 16 digits, 20 events)")
    p.add_argument("--coding", choices=["rate", "latency"], default="rate", help="digits spike coding")
    p.add_argument("--window", type=int, default=4, help="time window of the occupancy loss")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="train-out", help="output directory")
    p.set_defaults(func=cmd_train)
    return cmd_train


def add_profile_parser(subparsers) -> Callable:
    p = subparsers.add_parser("profile", help="record firing statistics of a trained model on data, "
                                              "or generate structured ones (--structure)")
    p.add_argument("--model", help="model.pt written by `spikex train`")
    p.add_argument("--data", choices=TASKS)
    p.add_argument("--network", help="network YAML or bundled name (default with --model: network.yaml next to it)")
    p.add_argument("--structure", help="generate instead: rate=R,channel_skew=S,active_fraction=A,burstiness=B "
                                       "(any subset; see sparsity/generator.py)")
    p.add_argument("--samples", type=int, default=4, help="--structure: samples per layer trace")
    p.add_argument("--split", choices=["train", "test"], default="test")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--seed", type=int, help="data seed (default: the model's training seed)")
    p.add_argument("--out", default="stats.json", help="statistics file to write (JSON)")
    p.set_defaults(func=cmd_profile)
    return cmd_profile
