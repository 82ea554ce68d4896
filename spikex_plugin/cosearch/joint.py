"""Joint search: hardware-aware training with a relaxed per-layer TWS choice (bilevel,
DARTS-style, as the paper did), giving the front of accuracy against EDP.

The architecture parameter is the per-layer TWS (the paper: "alpha is mainly the per-layer
TWS"). Relaxed, layer l costs sum_k softmax(alpha_l)_k * c_lk(occ_lk), where c_lk is the
layer's EDP with TWS t_k against the time-window occupancy of its input at window t_k
(`edp_curve`, joined linearly) and occ_lk is measured on the batch (straight-through
gradient, `training.loss.window_occupancy`). Every batch alternates, first-order:
- weights: cross-entropy + beta * L_hw with alpha held;
- alpha: L_hw with the weights held. Alpha has no other loss, so the batch's occupancies
  are all it needs (no separate validation pass); it moves to the TWS with the lowest EDP at
  the occupancy the weights are moving to, while the weights are pushed hardest at the
  windows alpha favours.
At the end each layer takes argmax alpha and the trained network is mapped with those TWS
on the statistics recorded on the test set. Pretraining (beta = 0) is shared; beta = 0
fine-tuning is training without the hardware loss (alpha still picks the TWS, i.e. a
hardware search at that network's fixed statistics), the baseline of the comparison.
"""

from __future__ import annotations

import copy
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from spikex_plugin.cost_model.sensitivity import edp_curve
from spikex_plugin.errors import SpikeXInputError
from spikex_plugin.hardware.arch import SpikeXArch, load_arch
from spikex_plugin.mapping.mapper import map_layer
from spikex_plugin.sparsity.density import ActualDataDensity
from spikex_plugin.training.loss import InputOccupancyHooks, PiecewiseLinear, window_occupancy
from spikex_plugin.training.recorder import SpikeRecorder, recorded_modules
from spikex_plugin.training.shapes import network_from_model
from spikex_plugin.training.train import TrainConfig, build_model, datasets, evaluate, fit
from spikex_plugin.workload.network import Layer, Network

KNOTS = (0.0, 0.05, 0.1, 0.2, 0.4, 0.7, 1.0)


@dataclass
class JointConfig:
    task: str = "digits"
    betas: tuple[float, ...] = (0.0, 0.5, 2.0)
    epochs: tuple[int, int] = (10, 5)   # pretrain (beta = 0), then per beta
    arch: str = "spikex"
    alpha_lr: float = 0.05
    train: dict = field(default_factory=dict)  # more TrainConfig fields (T, batch_size, lr, seed, ...)

    def validate(self) -> "JointConfig":
        if not self.betas or any(not b >= 0 for b in self.betas):
            raise SpikeXInputError("--betas", "betas", f"{list(self.betas)}: every beta must be >= 0")
        if len(self.epochs) != 2 or min(self.epochs) < 0 or self.epochs[1] < 1:
            raise SpikeXInputError("--epochs", "epochs", f"{list(self.epochs)}: need E1 >= 0 and E2 >= 1")
        if not self.alpha_lr > 0:
            raise SpikeXInputError("--alpha-lr", "alpha_lr", "must be > 0")
        return self


def tws_curves(layers: list[Layer], arch: SpikeXArch) -> tuple[list[int], dict[str, list[PiecewiseLinear]]]:
    """TWS candidates (dividing T, within the Vmem) and c_lk for every layer and candidate."""
    vmem_values = arch.sizes_bits["Vmem"] / arch.vmem_bits
    T = layers[0].T
    tws = [t for t in arch.extras.tws_choices if T % t == 0 and t <= vmem_values]
    return tws, {l.name: [PiecewiseLinear(KNOTS, edp_curve(l, arch, np.array(KNOTS), t)) for t in tws] for l in layers}


class RelaxedTWS(InputOccupancyHooks):
    """alpha (layers x TWS candidates, starting uniform) over the EDP curves; inside `with`,
    forward pre-hooks record each layer's input occupancy at every candidate window."""

    def __init__(self, model: nn.Module, T: int, tws: list[int], curves: dict[str, list[PiecewiseLinear]]):
        super().__init__()
        self.tws, self.names, self.T = tws, list(curves), T
        self.curves = nn.ModuleDict({n: nn.ModuleList(c) for n, c in curves.items()})
        self.alpha = nn.Parameter(torch.zeros(len(curves), len(tws)))
        mods = recorded_modules(model)
        self._mods = {n: mods[n] for n in self.names}
        self._handles: list = []
        self.occupancy: dict[str, list[torch.Tensor]] = {}

    def measure(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [window_occupancy(x, t) for t in self.tws]

    def pop(self) -> dict[str, list[torch.Tensor]]:
        occ, self.occupancy = self.occupancy, {}
        return occ

    def cost(self, occ: dict[str, list], alpha: torch.Tensor) -> torch.Tensor:
        """sum_l sum_k softmax(alpha_l)_k c_lk(occ_lk)."""
        total = torch.zeros(())
        for i, name in enumerate(self.names):
            edp = torch.stack([c(torch.as_tensor(o, dtype=torch.float32)) for c, o in zip(self.curves[name], occ[name])])
            total = total + (torch.softmax(alpha[i], 0) * edp).sum()
        return total

    def choice(self) -> dict[str, int]:
        return {n: self.tws[int(k)] for n, k in zip(self.names, self.alpha.argmax(1))}


def _reset(model: nn.Module) -> None:
    from spikingjelly.activation_based import functional
    functional.reset_net(model)


def mean_occupancy(model: nn.Module, relax: RelaxedTWS, data, batch_size: int = 256) -> dict[str, list[float]]:
    """Sample-weighted mean occupancy per layer and candidate window (the E_ref point)."""
    sums: dict[str, np.ndarray] = {}
    model.eval()
    with torch.no_grad(), relax:
        for x, _ in data.batches(batch_size):
            model(x)
            _reset(model)
            for n, occ in relax.pop().items():
                sums[n] = sums.get(n, 0) + np.array([float(o) for o in occ]) * x.shape[1]
    return {n: (s / len(data)).tolist() for n, s in sums.items()}


def finetune(model: nn.Module, relax: RelaxedTWS, data, cfg: TrainConfig, beta: float, epochs: int,
             alpha_lr: float, reference: float, saved: dict | None = None,
             on_epoch: Callable[[dict], None] | None = None) -> list[dict]:
    """Alternate weight steps (CE + beta * L_hw) and alpha steps (L_hw), batch by batch.
    `saved`: a state `on_epoch` received after some epoch; training resumes after it."""
    opt_w = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    opt_a = torch.optim.Adam([relax.alpha], lr=alpha_lr)
    log, first = [], 0
    if saved is not None:
        model.load_state_dict(saved["model"])
        with torch.no_grad():
            relax.alpha.copy_(saved["alpha"])
        opt_w.load_state_dict(saved["opt_w"])
        opt_a.load_state_dict(saved["opt_a"])
        torch.set_rng_state(saved["rng"])
        log, first = list(saved["log"]), saved["epoch"]
    for e in tqdm(range(first, epochs), desc=f"joint beta={beta:g}", leave=False, initial=first, total=epochs):
        model.train()
        n = ce_sum = hw_sum = 0.0
        for x, y in data.batches(cfg.batch_size, shuffle=True, seed=cfg.seed * 1000 + cfg.pretrain_epochs + e):
            with relax:
                out = model(x)
            occ = relax.pop()
            ce = F.cross_entropy(out, y)
            hw = relax.cost(occ, relax.alpha.detach()) / reference
            opt_w.zero_grad()
            (ce + beta * hw if beta > 0 else ce).backward()
            opt_w.step()
            a_loss = relax.cost({k: [o.detach() for o in v] for k, v in occ.items()}, relax.alpha) / reference
            opt_a.zero_grad()
            a_loss.backward()
            opt_a.step()
            _reset(model)
            b = x.shape[1]
            n, ce_sum, hw_sum = n + b, ce_sum + ce.item() * b, hw_sum + hw.item() * b
        log.append({"epoch": e + 1, "loss_acc": ce_sum / n, "loss_hw": hw_sum / n})
        if on_epoch is not None:
            on_epoch({"epoch": e + 1, "model": model.state_dict(), "alpha": relax.alpha.detach().clone(),
                      "opt_w": opt_w.state_dict(), "opt_a": opt_a.state_dict(), "rng": torch.get_rng_state(),
                      "log": log})
    return log


def network_cost(net: Network, arch: SpikeXArch, densities: dict, tws: dict[str, int] | None) -> dict:
    """Energy, latency and EDP of the network with each weighted layer's TWS fixed to
    `tws` (None: the mapper picks per layer)."""
    costs = [map_layer(l, arch, densities[l.name], "edp", [tws[l.name]] if tws and l.name in tws else None).cost
             for l in net.resolved]
    energy, latency = float(sum(c.energy_j for c in costs)), float(sum(c.latency_s for c in costs))
    return {"energy_j": energy, "latency_s": latency, "edp_js": energy * latency,
            "tws": {c.name: c.mapping.tws for c in costs if c.mapping}}


JOINT_CHECKPOINT = "joint-checkpoint"


class JointCheckpoint:
    """Resumable state of a joint search in one directory: `config.json` (what it belongs
    to), `pretrained.pt`, `beta-<i>.pt` (the fine-tune in progress, after each epoch) and
    `beta-<i>.json` (a finished beta's row). Files are replaced atomically, so a kill loses
    at most the epoch in flight. Without a directory nothing is kept."""

    def __init__(self, directory: Path | None, identity: dict):
        self.dir = directory
        if directory is None:
            return
        directory.mkdir(parents=True, exist_ok=True)
        config = directory / "config.json"
        if config.is_file() and json.loads(config.read_text()) != identity:
            raise SpikeXInputError(directory, "config.json", "holds a different joint search; use another --out "
                                   "or delete it")
        self._replace(config, lambda tmp: tmp.write_text(json.dumps(identity, indent=1)))

    def _replace(self, path: Path, write: Callable[[Path], None]) -> None:
        tmp = path.with_name(path.name + ".tmp")
        write(tmp)
        os.replace(tmp, path)

    def load(self, name: str):
        path = self.dir / name if self.dir is not None else None
        if path is None or not path.is_file():
            return None
        if path.suffix == ".json":
            return json.loads(path.read_text())
        return torch.load(path, weights_only=False)

    def save(self, name: str, obj) -> None:
        if self.dir is None:
            return
        if name.endswith(".json"):
            self._replace(self.dir / name, lambda tmp: tmp.write_text(json.dumps(obj)))
        else:
            self._replace(self.dir / name, lambda tmp: torch.save(obj, tmp))


def joint_search(cfg: JointConfig, checkpoint: Path | None = None) -> dict:
    """Pretrain once, then one joint fine-tune per beta; returns rows (beta, accuracy, EDP,
    chosen TWS) and their accuracy/EDP front. With `checkpoint` (a directory) the pretrained
    weights, every fine-tune epoch and every finished beta are kept there, and a rerun of the
    same search resumes from them."""
    cfg.validate()
    tcfg = TrainConfig(task=cfg.task, pretrain_epochs=cfg.epochs[0], hw_epochs=cfg.epochs[1], **cfg.train).validate()
    train_set, test_set = datasets(tcfg)
    classes = int(max(train_set.y.max(), test_set.y.max())) + 1
    model = build_model(tcfg, train_set, classes)
    net = Network(**network_from_model(model, train_set.input_shape, train_set.T, f"{cfg.task}-snn"))
    arch = load_arch(cfg.arch)
    tws, curves = tws_curves(net.weighted_layers, arch)
    store = JointCheckpoint(checkpoint, json.loads(json.dumps(asdict(cfg))))  # inputs all checked by now
    pretrained = store.load("pretrained.pt")
    if pretrained is None:
        fit(model, train_set, tcfg.pretrain_epochs, tcfg, desc="pretrain")
        pretrained = copy.deepcopy(model.state_dict())
        store.save("pretrained.pt", pretrained)
    model.load_state_dict(pretrained)
    relax0 = RelaxedTWS(model, train_set.T, tws, curves)
    reference = float(relax0.cost(mean_occupancy(model, relax0, train_set), relax0.alpha.detach()))
    rows = []
    for i, beta in enumerate(cfg.betas):
        row = store.load(f"beta-{i}.json")
        if row is None:
            row = _joint_row(model, pretrained, net, arch, tws, curves, train_set, test_set, tcfg, cfg, beta, reference,
                             store, f"beta-{i}.pt")
            store.save(f"beta-{i}.json", row)
        rows.append(row)
    return {"config": {**asdict(cfg), "tws_candidates": tws, "network": net.model_dump(exclude={"source"})},
            "rows": rows, "front": accuracy_front(rows), "comparison": compare_to_baseline(rows)}


def _joint_row(model, pretrained, net, arch, tws, curves, train_set, test_set, tcfg, cfg, beta, reference,
               store: JointCheckpoint, progress_name: str) -> dict:
    """Fine-tune one beta from the pretrained weights (resuming its last saved epoch), then
    measure accuracy and map the network with the searched TWS."""
    model.load_state_dict(pretrained)
    relax = RelaxedTWS(model, train_set.T, tws, curves)
    log = finetune(model, relax, train_set, tcfg, beta, tcfg.hw_epochs, cfg.alpha_lr, reference,
                   store.load(progress_name), lambda state: store.save(progress_name, state))
    with SpikeRecorder(model, test_set.T) as rec:
        accuracy = evaluate(model, test_set)
    dens = {n: ActualDataDensity(s) for n, s in rec.to_stats(net.name).layers.items()}
    searched = network_cost(net, arch, dens, relax.choice())
    free = network_cost(net, arch, dens, None)
    return {"beta": beta, "accuracy": accuracy, **{k: searched[k] for k in ("energy_j", "latency_s", "edp_js")},
            "tws": relax.choice(), "edp_js_mapper_tws": free["edp_js"], "mapper_tws": free["tws"],
            "alpha": {n: torch.softmax(a, 0).tolist() for n, a in zip(relax.names, relax.alpha.detach())},
            "rate": {n: d.rate for n, d in dens.items()}, "log": log}


def accuracy_front(rows: list[dict]) -> list[dict]:
    """Rows no other row beats on both accuracy (higher) and EDP (lower)."""
    def beaten(r):
        return any(o["accuracy"] >= r["accuracy"] and o["edp_js"] <= r["edp_js"]
                   and (o["accuracy"] > r["accuracy"] or o["edp_js"] < r["edp_js"]) for o in rows)
    return sorted((r for r in rows if not beaten(r)), key=lambda r: r["edp_js"])


def compare_to_baseline(rows: list[dict], tolerance: float = 0.01) -> dict | None:
    """The lowest-EDP beta > 0 run within `tolerance` accuracy of beta = 0, and its EDP gain."""
    base = next((r for r in rows if r["beta"] == 0), None)
    ok = [r for r in rows if r["beta"] > 0 and r["accuracy"] >= base["accuracy"] - tolerance] if base else []
    if not ok:
        return None
    best = min(ok, key=lambda r: r["edp_js"])
    return {"beta": best["beta"], "accuracy": best["accuracy"], "baseline_accuracy": base["accuracy"],
            "edp_js": best["edp_js"], "baseline_edp_js": base["edp_js"],
            "edp_gain": base["edp_js"] / best["edp_js"],
            "edp_gain_mapper_tws": base["edp_js_mapper_tws"] / best["edp_js_mapper_tws"]}


def write_joint(result: dict, out: Path) -> None:
    """pareto.json / pareto.csv (accuracy vs EDP front and every beta) and accuracy_edp.png."""
    import csv

    from spikex_plugin.util import write_json
    write_json(out / "pareto.json", result)
    with open(out / "pareto.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["beta", "accuracy", "energy_j", "latency_s", "edp_js", "edp_js_mapper_tws", "on_front", "tws"])
        front = {r["beta"] for r in result["front"]}
        for r in result["rows"]:
            w.writerow([r["beta"], r["accuracy"], r["energy_j"], r["latency_s"], r["edp_js"], r["edp_js_mapper_tws"],
                        r["beta"] in front, " ".join(f"{n}:{t}" for n, t in r["tws"].items())])
    accuracy_edp_png(result["rows"], out / "accuracy_edp.png", f"{result['config']['task']}: joint search")


def accuracy_edp_png(rows: list[dict], path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.5, 4))
    for key, label, style in (("edp_js", "searched TWS (argmax alpha)", "o-"), ("edp_js_mapper_tws", "mapper's TWS", "s--")):
        rs = sorted(rows, key=lambda r: r["beta"])
        ax.plot([r[key] for r in rs], [100 * r["accuracy"] for r in rs], style, label=label)
        for r in rs:
            ax.annotate(f"β={r['beta']:g}", (r[key], 100 * r["accuracy"]), textcoords="offset points", xytext=(4, 4),
                        fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel("EDP on SpikeX (J·s)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
