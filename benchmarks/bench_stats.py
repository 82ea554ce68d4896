"""Firing-statistics speed: statistics of a batch vs one plain pass (a sum) over the same
tensors, and the recorder's overhead on a training step. Issue targets: <= 3x, <= 10 %.

    python benchmarks/bench_stats.py [--rates 0.005 0.02 0.05 0.2 0.5] [--reps 5]

Every timing is taken in this one run, in rounds that run each variant once in a shuffled
order, so a load change on a shared machine hits all variants alike. Batch statistics
report the best round. Training steps report the best round and the median over rounds of
the ratio to the recorder-off step of the same round, beside a second recorder-off variant
whose ratio is the noise floor of the measurement.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from spikex_plugin.sparsity.stats import layer_stats_from_spikes, sample_bursty_trace

SHAPE, T, N = (16, 64, 64), 300, 4
EVERY = (1, 2, 4)  # SpikeRecorder(every=k)


def rounds(fns: dict, reps: int) -> dict[str, list[float]]:
    """Times (s) of each callable in each of `reps` rounds; each round runs them all once,
    in a shuffled order."""
    out, order, rng = {k: [] for k in fns}, list(fns), random.Random(0)
    for _ in range(reps):
        rng.shuffle(order)
        for k in order:
            t = time.perf_counter()
            fns[k]()
            out[k].append(time.perf_counter() - t)
    return out


def best(fns: dict, reps: int) -> dict[str, float]:
    return {k: min(v) for k, v in rounds(fns, reps).items()}


def bench_batch(rate: float, reps: int) -> None:
    import torch

    from spikex_plugin.training.recorder import SpikeRecorder

    trace = sample_bursty_trace(SHAPE, T, rate, correlation=0.5, samples=N, seed=0)  # bool [T, N, *SHAPE]
    x = torch.from_numpy(trace).float()                                              # what hooks see
    xf = x.numpy()

    rec = SpikeRecorder(torch.nn.Identity(), T)  # stats mode; record() is what its hooks call

    def recorder_update():
        rec.record("layer", x)

    t = best({"np_sum_bool": lambda: trace.sum(), "stats_bool": lambda: layer_stats_from_spikes(trace),
              "np_sum_f32": lambda: xf.sum(), "torch_sum_f32": lambda: x.sum(),
              "recorder_f32": recorder_update}, reps)
    print(f"rate {rate:6.3%} (spikes {trace.mean():.3%}), trace [{T}, {N}, {', '.join(map(str, SHAPE))}]:")
    print(f"  bool ndarray : layer_stats_from_spikes {1e3 * t['stats_bool']:7.1f} ms, numpy sum "
          f"{1e3 * t['np_sum_bool']:6.1f} ms -> ratio {t['stats_bool'] / t['np_sum_bool']:.2f}x")
    print(f"  float32 torch: recorder stats update   {1e3 * t['recorder_f32']:7.1f} ms, numpy sum "
          f"{1e3 * t['np_sum_f32']:6.1f} ms -> ratio {t['recorder_f32'] / t['np_sum_f32']:.2f}x; "
          f"torch sum (multi-threaded) {1e3 * t['torch_sum_f32']:6.1f} ms -> {t['recorder_f32'] / t['torch_sum_f32']:.2f}x")


def bench_training_step(task: str, steps: int, reps: int) -> None:
    import torch
    import torch.nn.functional as F
    from spikingjelly.activation_based import functional

    from spikex_plugin.training.recorder import SpikeRecorder
    from spikex_plugin.training.train import TrainConfig, build_model, datasets

    cfg = TrainConfig(task=task)
    data = datasets(cfg)[0]
    model = build_model(cfg, data, int(data.y.max()) + 1)
    opt = torch.optim.Adam(model.parameters(), 1e-3)
    batches = list(data.batches(cfg.batch_size))[:steps]

    def epoch():
        for x, y in batches:
            loss = F.cross_entropy(model(x), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            functional.reset_net(model)

    hook_s = {k: 0.0 for k in EVERY}  # time spent inside the recorder, per k

    def recorded(every: int):
        def run():
            with SpikeRecorder(model, data.T, every=every) as rec:
                record = rec.record

                def timed(name, x):
                    start = time.perf_counter()
                    record(name, x)
                    hook_s[every] += time.perf_counter() - start
                rec.record = timed
                epoch()
        return run

    epoch()  # warm-up, the recorder's compiled kernels included
    recorded(1)()
    hook_s.update({k: 0.0 for k in EVERY})
    times = rounds({"off": epoch, "off again": epoch, **{k: recorded(k) for k in EVERY}}, reps)
    off = min(times["off"])
    c, h, w = data.input_shape
    steps = len(batches)
    print(f"training step, {task} (ConvSNN, input {c}x{h}x{w}, T={data.T}, batch {cfg.batch_size}, {steps} steps), "
          f"recorder off {1e3 * off / steps:.1f} ms/step; wall change as best of {reps} rounds / median over rounds:")

    def wall(arm) -> str:
        median = statistics.median(t / o for t, o in zip(times[arm], times["off"]))
        return f"{100 * (min(times[arm]) / off - 1):+.1f} % / {100 * (median - 1):+.1f} % wall"

    print(f"  off again (noise floor): {wall('off again')}")
    for k in EVERY:
        inside = hook_s[k] / (reps * steps)
        print(f"  k={k}: {1e3 * min(times[k]) / steps:.1f} ms/step, {wall(k)}; "
              f"inside the recorder {1e3 * inside:.2f} ms/step = {100 * inside / (off / steps):.1f} % of a step")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rates", type=float, nargs="*", default=[0.005, 0.02, 0.05, 0.2, 0.5])
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--steps", type=int, default=8, help="training steps per timed epoch")
    p.add_argument("--tasks", nargs="*", default=["digits", "events"])
    args = p.parse_args()
    for r in args.rates:
        bench_batch(r, args.reps)
    for task in args.tasks:
        bench_training_step(task, args.steps, args.reps)


if __name__ == "__main__":
    main()
