"""Hardware-aware training of a small SpikingJelly conv SNN on CPU (two-stage schedule).

Stage 1 trains with beta = 0 for E1 epochs; stage 2 adds beta * L_hw for E2 epochs (see
loss.py). `train` writes, into its output directory: model.pt (state dict + the config
that rebuilds the model), network.yaml (shapes.py), stats.json (firing statistics of the
test set), metrics.json (accuracy, per-layer occupancy at w = 4, EDP on SpikeX).
`sweep_betas` pretrains once, fine-tunes one model per beta and plots accuracy vs EDP.
"""

from __future__ import annotations

import copy
import json
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
from spikex_plugin.training.recorder import SpikeRecorder
from spikex_plugin.training.shapes import network_from_model, write_network_yaml
from spikex_plugin.workload.network import Network

WINDOW = 4


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

    def validate(self) -> "TrainConfig":
        for k in ("pretrain_epochs", "hw_epochs"):
            if getattr(self, k) < 0:
                raise SpikeXInputError("--epochs", k, "must be >= 0")
        for k in ("batch_size", "window"):
            if getattr(self, k) < 1:
                raise SpikeXInputError(f"--{k.replace('_', '-')}", k, "must be >= 1")
        if not self.lr > 0:
            raise SpikeXInputError("--lr", "lr", "must be > 0")
        return self


def datasets(cfg: TrainConfig) -> tuple[SpikeDataset, SpikeDataset]:
    kw = dict(cfg.data)
    if cfg.task == "digits":
        kw.setdefault("coding", cfg.coding)
        return (load_task("digits", "train", cfg.T, cfg.seed, **kw), load_task("digits", "test", cfg.T, cfg.seed, **kw))
    train_kw = {"n": 1200, **kw}
    test_kw = {"n": 400, **kw}
    return (load_task(cfg.task, "train", cfg.T, cfg.seed, **train_kw), load_task(cfg.task, "test", cfg.T, cfg.seed, **test_kw))


def build_model(cfg: TrainConfig, data: SpikeDataset, classes: int) -> ConvSNN:
    c, h, w = data.input_shape
    if h != w or h % 4:
        raise SpikeXInputError(cfg.task, "input", f"input {h}x{w} must be square and divisible by 4")
    torch.manual_seed(cfg.seed)
    return ConvSNN(c, h, classes, tuple(cfg.channels))


def _reset(model: nn.Module) -> None:
    from spikingjelly.activation_based import functional
    functional.reset_net(model)


def evaluate(model: nn.Module, data: SpikeDataset, batch_size: int = 256) -> float:
    """Test accuracy (run inside a SpikeRecorder to record firing statistics too)."""
    model.eval()
    correct = 0
    with torch.no_grad():
        for x, y in data.batches(batch_size):
            correct += int((model(x).argmax(1) == y).sum())
            _reset(model)
    return correct / len(data)


def mean_occupancy(model: nn.Module, hw: HardwareLoss, data: SpikeDataset, batch_size: int = 256) -> dict[str, float]:
    """Sample-weighted mean window occupancy per L_hw layer (for calibrating E_ref)."""
    model.eval()
    sums: dict[str, float] = {}
    with torch.no_grad(), hw:
        for x, _ in data.batches(batch_size):
            model(x)
            _reset(model)
            for n, o in hw.occupancy.items():
                sums[n] = sums.get(n, 0.0) + float(o) * x.shape[1]
            hw.occupancy = {}
    return {n: s / len(data) for n, s in sums.items()}


def fit(model: nn.Module, data: SpikeDataset, epochs: int, cfg: TrainConfig, beta: float = 0.0,
        hw: HardwareLoss | None = None, desc: str = "train", epoch0: int = 0) -> list[dict]:
    """Adam on cross-entropy (+ beta * L_hw); returns per-epoch loss records."""
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    log = []
    use_hw = beta > 0 and hw is not None
    bar = tqdm(range(epochs), desc=desc, leave=False)
    for e in bar:
        model.train()
        tot = acc_l = hw_l = 0.0
        for x, y in data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + epoch0 + e):
            if use_hw:
                with hw:
                    out = model(x)
                l_hw = hw()
            else:
                out, l_hw = model(x), torch.zeros(())
            l_acc = F.cross_entropy(out, y)
            loss = l_acc + beta * l_hw
            opt.zero_grad()
            loss.backward()
            opt.step()
            _reset(model)
            n = x.shape[1]
            tot, acc_l, hw_l = tot + n, acc_l + l_acc.item() * n, hw_l + l_hw.item() * n
        log.append({"epoch": epoch0 + e + 1, "beta": beta, "loss_acc": acc_l / tot, "loss_hw": hw_l / tot})
        bar.set_postfix(loss=f"{acc_l / tot:.3f}", hw=f"{hw_l / tot:.3f}")
    return log


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


def save_run(model: ConvSNN, cfg: TrainConfig, beta: float, test: SpikeDataset, out: Path,
             log: list[dict], curve_source: str, first_layer: str) -> dict:
    """Write model.pt, network.yaml, stats.json and metrics.json for a trained model."""
    out.mkdir(parents=True, exist_ok=True)
    name = f"{cfg.task}-snn"
    net = network_from_model(model, test.input_shape, test.T, name)
    write_network_yaml(net, out / "network.yaml")
    with SpikeRecorder(model, test.T) as rec:
        accuracy = evaluate(model, test)
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
    torch.save({"state_dict": model.state_dict(), "config": metrics["config"], "classes": model.fc.out_features,
                "input_shape": list(test.input_shape), "T": test.T}, out / "model.pt")
    (out / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n")
    return metrics


def _prepare(cfg: TrainConfig):
    cfg.validate()
    train_set, test_set = datasets(cfg)
    classes = int(max(train_set.y.max(), test_set.y.max())) + 1
    model = build_model(cfg, train_set, classes)
    net = Network(**network_from_model(model, train_set.input_shape, train_set.T, f"{cfg.task}-snn"))
    curves, source = hardware_curves(net, cfg.window)
    return train_set, test_set, model, net, curves, source


def _hw_loss(model, cfg, train_set, curves) -> tuple[HardwareLoss, dict[str, float]]:
    hw = HardwareLoss(model, train_set.T, curves, cfg.window)
    occ0 = mean_occupancy(model, hw, train_set)
    hw.calibrate(occ0)  # E_ref: the pretrained (beta = 0) network
    return hw, occ0


def train(task: str = "digits", beta: float = 0.0, epochs: tuple[int, int] = (15, 10),
          out_dir: str | Path = "train-out", **config) -> dict:
    """Two-stage training (E1 = epochs[0] with beta = 0, then E2 = epochs[1] with beta);
    writes the run into out_dir and returns its metrics."""
    if beta < 0 or beta != beta:
        raise SpikeXInputError("--beta", "beta", f"{beta} must be >= 0")
    cfg = TrainConfig(task=task, pretrain_epochs=epochs[0], hw_epochs=epochs[1], **config)
    train_set, test_set, model, net, curves, source = _prepare(cfg)
    log = fit(model, train_set, cfg.pretrain_epochs, cfg, desc="pretrain")
    hw, _ = _hw_loss(model, cfg, train_set, curves)
    log += fit(model, train_set, cfg.hw_epochs, cfg, beta, hw, desc=f"beta={beta:g}", epoch0=cfg.pretrain_epochs)
    return save_run(model, cfg, beta, test_set, Path(out_dir), log, source, net.layers[0].name)


def sweep_betas(task: str = "digits", betas: list[float] = (0.0, 0.5, 2.0), epochs: tuple[int, int] = (15, 10),
                out_dir: str | Path = "sweep-out", **config) -> list[dict]:
    """Pretrain once, fine-tune one copy per beta (beta = 0 continues without L_hw, the fair
    baseline), write each run under out_dir/beta_<b>/ and plot accuracy vs EDP."""
    if any(b < 0 or b != b for b in betas):
        raise SpikeXInputError("--beta", "beta", "every beta must be >= 0")
    cfg = TrainConfig(task=task, pretrain_epochs=epochs[0], hw_epochs=epochs[1], **config)
    train_set, test_set, model, net, curves, source = _prepare(cfg)
    log0 = fit(model, train_set, cfg.pretrain_epochs, cfg, desc="pretrain")
    pretrained = copy.deepcopy(model.state_dict())
    out, results = Path(out_dir), []
    for beta in betas:
        model.load_state_dict(pretrained)
        hw, _ = _hw_loss(model, cfg, train_set, curves)
        log = log0 + fit(model, train_set, cfg.hw_epochs, cfg, beta, hw, desc=f"beta={beta:g}",
                         epoch0=cfg.pretrain_epochs)
        results.append(save_run(model, cfg, beta, test_set, out / f"beta_{beta:g}", log, source, net.layers[0].name))
    write_sweep(results, out)
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
        model = ConvSNN(c, h, ckpt["classes"], tuple(ckpt["config"]["channels"]))
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
    ds = load_task(data, split, ckpt["T"], cfg.get("seed", 0) if seed is None else seed, **kw)
    if list(ds.input_shape) != list(ckpt["input_shape"]):
        raise SpikeXInputError("--data", "data", f"'{data}' gives inputs {list(ds.input_shape)}, the model "
                               f"takes {ckpt['input_shape']}")
    if batch_size < 1:
        raise SpikeXInputError("--batch-size", "batch_size", "must be >= 1")
    with SpikeRecorder(model, ds.T) as rec:
        evaluate(model, ds, batch_size)
    stats = rec.to_stats(net.name)
    check_stats_match_network(stats, net, str(net_path))
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    stats.save(out)
    return stats
