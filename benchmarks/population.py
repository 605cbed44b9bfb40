"""Population training throughput: N seeds of ResNet-20 trained together (skiplab.train.population: one stacked
net under torch.vmap, optionally torch.compile'd; or "loop", each model's own step in turn within each step, the
CPU's default) against the same N trained one after another (skiplab's TrainStep, as fit() runs each), in one
process, interleaving the ways.

Every model steps on its own fixed batch (batch 128 each, CIFAR-shaped random 32x32x3 images, 10 classes), so
the numbers measure model + step code, not data loading. Prints aggregate img/s (N x batch x steps / seconds)
for each way and the median ratio together / one after another with its spread (min-max over repeats); > 1
means training together is faster. The issue's goals: >= 1 on the CPU, >= 3 on an H100 (name the card).

    python benchmarks/population.py [--n 8] [--steps 3] [--repeats 3] [--device cpu|cuda] [--compile]
                                    [--json out.json]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch

from skiplab.models import create_model
from skiplab.train import TrainConfig, TrainStep
from skiplab.train.population import LoopStep, PopulationStep


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def models(n: int, name: str, device: torch.device, channels_last: bool) -> list[torch.nn.Module]:
    out = []
    for seed in range(n):
        torch.manual_seed(seed)
        m = create_model(name).to(device)
        out.append(m.to(memory_format=torch.channels_last) if channels_last else m)
    return out


def one_after_another(n: int, name: str, xs: torch.Tensor, ys: torch.Tensor, cfg: TrainConfig,
                      device: torch.device):
    """Each model's steps through its own TrainStep (what N fit() runs do), model after model."""
    steppers = [TrainStep(m, cfg, device, 10**6, 1000) for m in models(n, name, device, cfg.channels_last)]
    x = [xs[i].contiguous(memory_format=torch.channels_last) if cfg.channels_last else xs[i] for i in range(n)]
    count = iter(range(10**9))

    def run(steps: int) -> None:
        for i, s in enumerate(steppers):
            for _ in range(steps):
                s(x[i], ys[i], next(count))
    return run


def together(n: int, name: str, xs: torch.Tensor, ys: torch.Tensor, cfg: TrainConfig, device: torch.device,
             strategy: str = "vmap"):
    """fit_population's step: the stacked net (vmap), or each model's TrainStep in turn within each step (loop)."""
    layout = cfg.channels_last and strategy == "loop"
    templates = [TrainStep(m, cfg, device, 10**6, 1000) for m in models(n, name, device, layout)]
    pop = PopulationStep(templates, cfg, device, 10**6, 1000) if strategy == "vmap" else LoopStep(templates)
    x = [xs[i].contiguous(memory_format=torch.channels_last) for i in range(n)] if layout else xs
    y = list(ys) if strategy == "loop" else ys
    count = iter(range(10**9))

    def run(steps: int) -> None:
        for _ in range(steps):
            pop(x, y, next(count))
    return run


def timed(run, steps: int, device: torch.device) -> float:
    sync(device)
    t0 = time.perf_counter()
    run(steps)
    sync(device)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="resnet20")
    ap.add_argument("--n", type=int, default=8, help="models (seeds)")
    ap.add_argument("--batch", type=int, default=128, help="batch of each model")
    ap.add_argument("--steps", type=int, default=3, help="steps of each model per timed repeat")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (cuDNN search, compilation)")
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--compile", action="store_true", help="also time the torch.compile'd vmapped step")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    device = torch.device(args.device)
    if device.type == "cpu":
        torch.set_flush_denormal(True)
    else:
        torch.backends.cudnn.benchmark = True
    g = torch.Generator().manual_seed(0)
    xs = torch.rand(args.n, args.batch, 3, 32, 32, generator=g).to(device)
    ys = torch.randint(0, 10, (args.n, args.batch), generator=g).to(device)
    cfg = TrainConfig(device=args.device, precision=args.precision)  # fit()'s defaults: channels_last on
    card = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    print(f"torch {torch.__version__}, {card}, {args.model} x {args.n}, batch {args.batch} each, "
          f"{args.steps} steps x {args.repeats} repeats, precision {args.precision}")
    ways = {"one after another": one_after_another(args.n, args.model, xs, ys, cfg, device),
            "together (vmap)": together(args.n, args.model, xs, ys, dataclasses.replace(cfg, channels_last=False),
                                        device)}
    ways["together (loop)"] = together(args.n, args.model, xs, ys, cfg, device, "loop")
    if args.compile:
        ways["together (vmap, compiled)"] = together(args.n, args.model, xs, ys,
                                                     dataclasses.replace(cfg, channels_last=False, compile=True),
                                                     device)
    warm = {}
    for k, run in ways.items():  # warm-up: allocator, oneDNN / cuDNN caches, compilation
        warm[k] = timed(run, args.warmup, device)
    times: dict[str, list[float]] = {k: [] for k in ways}
    for _ in range(args.repeats):
        for k, run in ways.items():
            times[k].append(timed(run, args.steps, device))
    images = args.n * args.batch * args.steps
    ips = {k: images / statistics.median(v) for k, v in times.items()}
    base = "one after another"
    rows = {}
    for k in ways:
        ratios = sorted(b / t for b, t in zip(times[base], times[k]))
        rows[k] = {"img_s": ips[k], "ratio_median": statistics.median(ratios), "ratio_min": ratios[0],
                   "ratio_max": ratios[-1], "warmup_s": warm[k], "times_s": times[k]}
        print(f"{k:27s} {ips[k]:8.0f} img/s aggregate  ratio vs one after another: median "
              f"{rows[k]['ratio_median']:.2f} (min {ratios[0]:.2f}, max {ratios[-1]:.2f})  warm-up {warm[k]:.1f}s")
    best = max(rows, key=lambda k: rows[k]["img_s"])
    print(f"fastest: {best}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": card, "torch": torch.__version__, "model": args.model, "n": args.n,
                       "batch": args.batch, "steps": args.steps, "repeats": args.repeats,
                       "precision": args.precision, "rows": rows, "fastest": best}, f, indent=1)


if __name__ == "__main__":
    main()
