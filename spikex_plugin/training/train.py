"""Hardware-aware training of a SpikingJelly conv SNN (two-stage schedule; CPU, or a GPU
with device "auto" when torch sees one).

Stage 1 trains with beta = 0 for E1 epochs; stage 2 adds beta * L_hw for E2 epochs (see
loss.py). The model is the small `ConvSNN`, or with `network` set the model built from a
network YAML (model.py). `train` writes, into its output directory: model.pt (state dict +
the config that rebuilds the model), network.yaml (shapes.py), stats.json (firing
statistics of the test set), metrics.json (accuracy, per-layer occupancy at w = 4, EDP on
SpikeX). `sweep_betas` pretrains once, fine-tunes one model per beta and plots accuracy vs
EDP. Both save a checkpoint after every epoch under out/checkpoints/ and resume from it when
rerun with the same output directory; long time series train in chunks of `chunk` steps
(truncated backpropagation through time: the membrane state carries over, its gradient does not).
"""

from __future__ import annotations

import copy
import json
import os
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.sparsity.stats import FiringStats
from spikex_plugin.training.data import SpikeDataset, load_task
from spikex_plugin.training.loss import HardwareLoss, hardware_weights_from_cost_model
from spikex_plugin.training.model import NetworkSNN
from spikex_plugin.training.recorder import SpikeRecorder
from spikex_plugin.training.shapes import network_from_model, write_network_yaml
from spikex_plugin.workload.network import Network, load_network

WINDOW = 4
TRACE_T = 2   # steps of the shape-tracing pass: these models' layer shapes do not depend on T


class ConvSNN(nn.Module):
    """conv-BN-LIF-pool x 2, then a linear readout averaged over time (multi-step mode)."""

    def __init__(self, in_channels: int, size: int, classes: int, channels: tuple[int, int] = (16, 32),
                 v_threshold: float = 0.5, tau: float = 2.0):
        super().__init__()
        from spikingjelly.activation_based import functional, layer, neuron, surrogate

        def lif():
            return neuron.LIFNode(tau=tau, v_threshold=v_threshold, surrogate_function=surrogate.ATan(),
                                  detach_reset=True)
        c1, c2 = channels
        self.conv1, self.bn1, self.lif1 = layer.Conv2d(in_channels, c1, 3, padding=1, bias=False), layer.BatchNorm2d(c1), lif()
        self.pool1 = layer.MaxPool2d(2)
        self.conv2, self.bn2, self.lif2 = layer.Conv2d(c1, c2, 3, padding=1, bias=False), layer.BatchNorm2d(c2), lif()
        self.pool2 = layer.MaxPool2d(2)
        self.flat = layer.Flatten()
        self.fc = layer.Linear(c2 * (size // 4) ** 2, classes)
        functional.set_step_mode(self, "m")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool1(self.lif1(self.bn1(self.conv1(x))))
        x = self.pool2(self.lif2(self.bn2(self.conv2(x))))
        return self.fc(self.flat(x)).mean(0)


@dataclass
class TrainConfig:
    task: str = "digits"
    T: int | None = None              # default: 16 (digits), 20 (events)
    pretrain_epochs: int = 15         # E1, beta = 0
    hw_epochs: int = 10               # E2, L_acc + beta * L_hw
    batch_size: int = 64
    lr: float = 2e-3
    window: int = WINDOW
    channels: tuple[int, int] = (16, 32)
    seed: int = 0
    coding: str = "rate"              # digits only
    data: dict = field(default_factory=dict)
    network: str | None = None        # bundled name or YAML: train the model built from it
    device: str = "cpu"               # "cpu", "cuda", or "auto" (a GPU when torch sees one)
    chunk: int | None = None          # truncated-BPTT chunk length (steps); None: whole series
    train_samples: int | None = None  # emulated event tasks: samples per split (None: task default)
    test_samples: int | None = None
    eval_batch: int = 256             # batch size of evaluation / recording
    calib_samples: int = 256          # training samples that calibrate E_ref of L_hw

    def validate(self) -> "TrainConfig":
        for k in ("pretrain_epochs", "hw_epochs"):
            if getattr(self, k) < 0:
                raise SpikeXInputError("--epochs", k, "must be >= 0")
        for k in ("batch_size", "window", "eval_batch", "calib_samples"):
            if getattr(self, k) < 1:
                raise SpikeXInputError(f"--{k.replace('_', '-')}", k, "must be >= 1")
        if not self.lr > 0:
            raise SpikeXInputError("--lr", "lr", "must be > 0")
        for k in ("chunk", "train_samples", "test_samples"):
            if getattr(self, k) is not None and getattr(self, k) < 1:
                raise SpikeXInputError(f"--{k.replace('_', '-')}", k, "must be >= 1")
        if self.device not in ("cpu", "cuda", "auto"):
            raise SpikeXInputError("--device", "device", f"'{self.device}' is not cpu, cuda or auto")
        if self.device == "cuda" and not torch.cuda.is_available():
            raise SpikeXInputError("--device", "device", "cuda requested but torch sees no GPU (use auto)")
        return self

    @property
    def torch_device(self) -> torch.device:
        if self.device == "auto":
            return torch.device("cuda" if torch.cuda.is_available() else "cpu")
        return torch.device(self.device)


def datasets(cfg: TrainConfig) -> tuple[SpikeDataset, SpikeDataset]:
    """Train and test split of the task (with `network` set, at the network's T by default)."""
    if cfg.network and cfg.T is None:
        cfg.T = load_network(cfg.network).T
    kw = dict(cfg.data)
    if cfg.task == "digits":
        kw.setdefault("coding", cfg.coding)
        return (load_task("digits", "train", cfg.T, cfg.seed, **kw), load_task("digits", "test", cfg.T, cfg.seed, **kw))
    default_n = {"events": (1200, 400), "nmnist": (None, None), "dvsgesture": (330, 110)}.get(cfg.task, (None, None))
    n_train = cfg.train_samples or default_n[0]
    n_test = cfg.test_samples or default_n[1]
    if cfg.task == "dvsgesture" and cfg.network:
        kw.setdefault("size", load_network(cfg.network).input.height)
    train_kw = {**kw, **({"n": n_train} if n_train else {})}
    test_kw = {**kw, **({"n": n_test} if n_test else {})}
    return (load_task(cfg.task, "train", cfg.T, cfg.seed, **train_kw), load_task(cfg.task, "test", cfg.T, cfg.seed, **test_kw))


def build_model(cfg: TrainConfig, data: SpikeDataset, classes: int) -> nn.Module:
    c, h, w = data.input_shape
    torch.manual_seed(cfg.seed)
    if cfg.network:  # the compiled LIF runs on the CPU; on a GPU SpikingJelly's own kernels do
        return network_model(cfg.network, data, classes, "spikingjelly" if cfg.torch_device.type == "cuda" else "fast")
    if h != w or h % 4:
        raise SpikeXInputError(cfg.task, "input", f"input {h}x{w} must be square and divisible by 4")
    return ConvSNN(c, h, classes, tuple(cfg.channels))


def network_model(network: str, data: SpikeDataset, classes: int, neuron: str = "fast") -> NetworkSNN:
    """The model of a network YAML, checked against the task's input, T and classes."""
    net = load_network(network)
    shape = (net.input.channels, net.input.height, net.input.width)
    if tuple(data.input_shape) != shape or data.T != net.T:
        raise SpikeXInputError(network, "input", f"the network reads {list(shape)} x T={net.T}; the task gives "
                               f"{list(data.input_shape)} x T={data.T}")
    model = NetworkSNN(net, neuron=neuron)
    if model.classes != classes:
        raise SpikeXInputError(network, f"layers.{net.layers[-1].name}",
                               f"{model.classes} outputs, the task has {classes} classes")
    return model


def _reset(model: nn.Module) -> None:
    from spikingjelly.activation_based import functional
    functional.reset_net(model)


def evaluate(model: nn.Module, data: SpikeDataset, batch_size: int = 256) -> float:
    """Test accuracy (run inside a SpikeRecorder to record firing statistics too)."""
    model.eval()
    correct = 0
    device = next(model.parameters()).device
    with torch.no_grad():
        for x, y in data.batches(batch_size):
            correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
            _reset(model)
    return correct / len(data)


def mean_occupancy(model: nn.Module, hw: HardwareLoss, data: SpikeDataset, batch_size: int = 256,
                   limit: int | None = None) -> dict[str, float]:
    """Sample-weighted mean window occupancy per L_hw layer over the first `limit` samples
    (for calibrating E_ref)."""
    model.eval()
    sums: dict[str, float] = {}
    device = next(model.parameters()).device
    seen = 0
    hw.T = data.T
    with torch.no_grad(), hw:
        for x, _ in data.batches(batch_size):
            if limit is not None and seen >= limit:
                break
            seen += x.shape[1]
            model(x.to(device))
            _reset(model)
            for n, o in hw.occupancy.items():
                sums[n] = sums.get(n, 0.0) + float(o) * x.shape[1]
            hw.occupancy = {}
    return {n: s / seen for n, s in sums.items()}


def fit(model: nn.Module, data: SpikeDataset, epochs: int, cfg: TrainConfig, beta: float = 0.0,
        hw: HardwareLoss | None = None, desc: str = "train", epoch0: int = 0,
        checkpoint: Path | None = None) -> list[dict]:
    """Adam on cross-entropy (+ beta * L_hw); returns per-epoch loss records. With
    `checkpoint`, the model, optimizer and log are saved there after every epoch and a
    run resumes from the epochs the file holds."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    log, done = restore_checkpoint(checkpoint, model, opt)
    use_hw = beta > 0 and hw is not None
    device = next(model.parameters()).device
    bar = tqdm(range(done, epochs), desc=desc, leave=False)
    for e in bar:
        model.train()
        tot = acc_l = hw_l = 0.0
        for x, y in data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch0 + e):
            x, y = x.to(device), y.to(device)
            for t0 in range(0, x.shape[0], cfg.chunk or x.shape[0]):
                l_acc, l_hw = train_step(model, opt, x[t0:t0 + (cfg.chunk or x.shape[0])], y, beta, hw if use_hw else None)
            _reset(model)
            n = x.shape[1]
            tot, acc_l, hw_l = tot + n, acc_l + l_acc * n, hw_l + l_hw * n
        log.append({"epoch": epoch0 + e + 1, "beta": beta, "loss_acc": acc_l / tot, "loss_hw": hw_l / tot})
        bar.set_postfix(loss=f"{acc_l / tot:.3f}", hw=f"{hw_l / tot:.3f}")
        save_checkpoint(checkpoint, model, opt, log)
    return log


def train_step(model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, beta: float,
               hw: HardwareLoss | None) -> tuple[float, float]:
    """One update on time steps x [t, N, ...]; the membrane state carries into the next
    chunk without its gradient. Returns (L_acc, L_hw) of the chunk."""
    from spikingjelly.activation_based import functional
    if hw is not None:
        hw.T = x.shape[0]
        with hw:
            out = model(x)
        l_hw = hw()
    else:
        out, l_hw = model(x), torch.zeros(())
    l_acc = F.cross_entropy(out, y)
    opt.zero_grad()
    (l_acc + beta * l_hw).backward()
    opt.step()
    functional.detach_net(model)
    return l_acc.item(), l_hw.item()


def save_checkpoint(path: Path | None, model: nn.Module, opt: torch.optim.Optimizer, log: list[dict]) -> None:
    """Write atomically (a Ctrl-C mid-write leaves the previous checkpoint intact)."""
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "log": log}, tmp)
    os.replace(tmp, path)


def restore_checkpoint(path: Path | None, model: nn.Module, opt: torch.optim.Optimizer) -> tuple[list[dict], int]:
    """(log, epochs done) from a checkpoint, loading model and optimizer; ([], 0) without one."""
    if path is None or not path.is_file():
        return [], 0
    state = torch.load(path, map_location=next(model.parameters()).device, weights_only=True)
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["opt"])
    return state["log"], len(state["log"])


def hardware_curves(network: Network, tws: int = WINDOW) -> tuple[dict, str]:
    """c_l: each layer's EDP against occupancy from the SpikeX cost model."""
    from spikex_plugin.hardware.arch import load_arch
    return hardware_weights_from_cost_model(network, load_arch(), tws), "cost_model"


def spikex_edp(network_yaml: Path, stats_json: Path) -> float | None:
    """Network EDP (J*s) on the default SpikeX arch with the recorded statistics."""
    try:
        from spikex_plugin.api import run_map
        return float(run_map("spikex", str(network_yaml), profile=str(stats_json), workers=1).edp_js)
    except Exception as e:  # the cost model is optional for training; report why it is missing
        warnings.warn(f"no SpikeX EDP: {type(e).__name__}: {e}")
        return None


def save_run(model: nn.Module, cfg: TrainConfig, beta: float, test: SpikeDataset, out: Path,
             log: list[dict], curve_source: str, first_layer: str) -> dict:
    """Write model.pt, network.yaml, stats.json and metrics.json for a trained model."""
    out.mkdir(parents=True, exist_ok=True)
    name = model_name(cfg)
    net = network_from_model(model, test.input_shape, test.T, name, trace_T=TRACE_T)
    write_network_yaml(net, out / "network.yaml")
    with SpikeRecorder(model, test.T) as rec:
        accuracy = evaluate(model, test, cfg.eval_batch)
    stats = rec.to_stats(name)
    stats.save(out / "stats.json")
    occ = {n: s.window_occupancy[min(cfg.window, s.T) - 1] for n, s in stats.layers.items()}
    after_first = {n: o for n, o in occ.items() if n != first_layer}
    metrics = {
        "task": cfg.task, "beta": beta, "accuracy": accuracy, "window": cfg.window,
        "occupancy": occ, "occupancy_after_first_sum": float(sum(after_first.values())),
        "rate": {n: s.rate for n, s in stats.layers.items()},
        "edp_js": spikex_edp(out / "network.yaml", out / "stats.json"),
        "hw_curves": curve_source, "config": {**asdict(cfg), "channels": list(cfg.channels)}, "log": log,
    }
    classes = model.classes if isinstance(model, NetworkSNN) else model.fc.out_features
    torch.save({"state_dict": model.state_dict(), "config": metrics["config"], "classes": classes,
                "input_shape": list(test.input_shape), "T": test.T}, out / "model.pt")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics


def model_name(cfg: TrainConfig) -> str:
    return load_network(cfg.network).name if cfg.network else f"{cfg.task}-snn"


def _prepare(cfg: TrainConfig):
    cfg.validate()
    train_set, test_set = datasets(cfg)
    classes = int(max(train_set.y.max(), test_set.y.max())) + 1
    model = build_model(cfg, train_set, classes).to(cfg.torch_device)
    net = Network(**network_from_model(model, train_set.input_shape, train_set.T, model_name(cfg), trace_T=TRACE_T))
    curves, source = hardware_curves(net, cfg.window)
    return train_set, test_set, model, net, curves, source


def _hw_loss(model, cfg, train_set, curves) -> tuple[HardwareLoss, dict[str, float]]:
    hw = HardwareLoss(model, train_set.T, curves, cfg.window).to(next(model.parameters()).device)
    occ0 = mean_occupancy(model, hw, train_set, cfg.eval_batch, cfg.calib_samples)
    hw.calibrate(occ0)  # E_ref: the pretrained (beta = 0) network
    return hw, occ0


def train(task: str = "digits", beta: float = 0.0, epochs: tuple[int, int] = (15, 10),
          out_dir: str | Path = "train-out", **config) -> dict:
    """Two-stage training (E1 = epochs[0] with beta = 0, then E2 = epochs[1] with beta);
    writes the run into out_dir and returns its metrics."""
    return _run(task, [beta], epochs, Path(out_dir), config, per_beta_dirs=False)[0]


def sweep_betas(task: str = "digits", betas: list[float] = (0.0, 0.5, 2.0), epochs: tuple[int, int] = (15, 10),
                out_dir: str | Path = "sweep-out", **config) -> list[dict]:
    """Pretrain once, fine-tune one copy per beta (beta = 0 continues without L_hw, the fair
    baseline), write each run under out_dir/beta_<b>/ and plot accuracy vs EDP."""
    results = _run(task, list(betas), epochs, Path(out_dir), config, per_beta_dirs=True)
    write_sweep(results, Path(out_dir))
    return results


def _run(task: str, betas: list[float], epochs: tuple[int, int], out: Path, config: dict,
         per_beta_dirs: bool) -> list[dict]:
    """Pretrain (checkpointed), then per beta fine-tune from the pretrained weights and save;
    a beta whose metrics.json exists is read back, not retrained."""
    if any(b < 0 or b != b for b in betas):
        raise SpikeXInputError("--beta", "beta", "every beta must be >= 0")
    cfg = TrainConfig(task=task, pretrain_epochs=epochs[0], hw_epochs=epochs[1], **config)
    train_set, test_set, model, net, curves, source = _prepare(cfg)
    ckpt = out / "checkpoints"
    log0 = fit(model, train_set, cfg.pretrain_epochs, cfg, desc="pretrain", checkpoint=ckpt / "pretrain.pt")
    pretrained = copy.deepcopy(model.state_dict())
    results, hw = [], None
    for beta in betas:
        run_dir = out / f"beta_{beta:g}" if per_beta_dirs else out
        if (run_dir / "metrics.json").is_file() and (run_dir / "model.pt").is_file():
            results.append(json.loads((run_dir / "metrics.json").read_text()))
            continue
        model.load_state_dict(pretrained)
        if beta > 0 and hw is None:   # E_ref is the pretrained network's: the same for every beta
            hw, _ = _hw_loss(model, cfg, train_set, curves)
        log = log0 + fit(model, train_set, cfg.hw_epochs, cfg, beta, hw, desc=f"beta={beta:g}",
                         epoch0=cfg.pretrain_epochs, checkpoint=ckpt / f"beta_{beta:g}.pt")
        results.append(save_run(model, cfg, beta, test_set, run_dir, log, source, net.layers[0].name))
    return results


def write_sweep(results: list[dict], out: Path) -> None:
    """sweep.json (one row per beta) and sweep.png (accuracy vs EDP, or vs occupancy)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [{k: r[k] for k in ("beta", "accuracy", "occupancy", "occupancy_after_first_sum", "edp_js")}
            for r in results]
    (out / "sweep.json").write_text(json.dumps(rows, indent=1) + "\n")
    use_edp = all(r["edp_js"] for r in rows)
    xs = [r["edp_js"] if use_edp else r["occupancy_after_first_sum"] for r in rows]
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.plot(xs, [100 * r["accuracy"] for r in rows], "o-")
    for i, (x, r) in enumerate(zip(xs, rows)):  # alternate label offsets: nearby betas overlap
        ax.annotate(f"β={r['beta']:g}", (x, 100 * r["accuracy"]), textcoords="offset points",
                    xytext=(4, 4 if i % 2 else -12))
    ax.set_xlabel("EDP on SpikeX (J·s)" if use_edp else f"summed window occupancy (w={WINDOW}), layers after the first")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(f"{results[0]['task']}: accuracy vs hardware cost")
    fig.tight_layout()
    fig.savefig(out / "sweep.png", dpi=120)
    plt.close(fig)


def load_model(path: str | Path) -> tuple[ConvSNN, dict]:
    """Rebuild a model saved by `train` (model.pt)."""
    path = Path(path)
    if not path.is_file():
        raise SpikeXInputError(path, "<file>", "file not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        c, h, _ = ckpt["input_shape"]
        network = ckpt["config"].get("network")
        model = NetworkSNN(load_network(network)) if network else \
            ConvSNN(c, h, ckpt["classes"], tuple(ckpt["config"]["channels"]))
        model.load_state_dict(ckpt["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError, EOFError) as e:
        raise SpikeXInputError(path, "<model>", f"not a model saved by `spikex train`: {type(e).__name__}: {e}") from None
    model.eval()
    return model, ckpt


def profile_model(model_path: str | Path, data: str, out: str | Path, network: str | Path | None = None,
                  split: str = "test", batch_size: int = 256, seed: int | None = None) -> FiringStats:
    """Record the firing statistics of a saved model on a data set and write them (the
    `spikex profile` command). The network YAML (default: network.yaml next to the model)
    must name the same layers, so `spikex map --network ... --profile out` accepts the file."""
    from spikex_plugin.sparsity.stats import check_stats_match_network
    from spikex_plugin.workload.network import load_network

    model, ckpt = load_model(model_path)
    net_path = Path(network) if network else Path(model_path).with_name("network.yaml")
    net = load_network(net_path)
    cfg = ckpt["config"]
    kw = {"coding": cfg.get("coding", "rate")} if data == "digits" else {}
    if data == "events":
        kw["n"] = 400 if split == "test" else 1200
    if data == "dvsgesture":
        kw["size"] = ckpt["input_shape"][-1]
    if data in ("dvsgesture", "nmnist") and cfg.get(f"{split}_samples"):
        kw["n"] = cfg[f"{split}_samples"]
    ds = load_task(data, split, ckpt["T"], cfg.get("seed", 0) if seed is None else seed, **kw)
    if list(ds.input_shape) != list(ckpt["input_shape"]):
        raise SpikeXInputError("--data", "data", f"'{data}' gives inputs {list(ds.input_shape)}, the model "
                               f"takes {ckpt['input_shape']}")
    if batch_size < 1:
        raise SpikeXInputError("--batch-size", "batch_size", "must be >= 1")
    with SpikeRecorder(model, ds.T) as rec:
        evaluate(model, ds, min(batch_size, cfg.get("eval_batch", batch_size)))
    stats = rec.to_stats(net.name)
    check_stats_match_network(stats, net, str(net_path))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    stats.save(out)
    return stats
