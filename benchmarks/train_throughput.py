"""Training-step throughput: skiplab's `TrainStep` on its registered ResNets against a straightforward
plain-PyTorch implementation of the same net (skiplab.bench.baseline: post-activation basic blocks, option-A shortcuts,
default memory layout, SGD), in one process, interleaving the two.

Both step on the same fixed batch (batch 128, 32x32, 10 classes), so the ratio measures model + step code and
memory layout, not data loading. Prints img/s for each and the median ratio skiplab / baseline with its spread
(min-max over repeats); > 1 means skiplab is faster.

    python benchmarks/train_throughput.py [--models resnet20 resnet56] [--repeats 5] [--steps 5]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from skiplab.bench.baseline import BaselineResNet
from skiplab.models import create_model
from skiplab.train import TrainConfig, TrainStep


def baseline_step(depth: int, x: torch.Tensor, y: torch.Tensor):
    model = BaselineResNet(depth)
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return step


def skiplab_step(name: str, x: torch.Tensor, y: torch.Tensor, cfg: TrainConfig):
    model = create_model(name)
    if cfg.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    stepper = TrainStep(model, cfg, torch.device("cpu"), total_steps=10**6, steps_per_epoch=1000)
    counter = iter(range(10**9))
    return lambda: stepper(x, y, next(counter))


def timed(step, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        step()
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", default=["resnet20", "resnet56"])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--steps", type=int, default=5, help="steps per timed repeat")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--channels-last", choices=["on", "off"], default="on", help="skiplab's memory layout")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32",
                    help="skiplab's precision (the baseline stays fp32: bf16 is a different numeric setting)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_flush_denormal(True)
    x = torch.rand(args.batch, 3, 32, 32)
    y = torch.randint(0, 10, (args.batch,))
    cfg = TrainConfig(channels_last=args.channels_last == "on", precision=args.precision)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{args.steps} steps x {args.repeats} repeats, skiplab channels_last={cfg.channels_last} "
          f"precision={cfg.precision}")
    for name in args.models:
        depth = int(name.removeprefix("resnet"))
        runs = {"baseline": baseline_step(depth, x, y), "skiplab": skiplab_step(name, x, y, cfg)}
        for step in runs.values():  # warm-up: allocator, oneDNN primitive caches
            timed(step, 2)
        times: dict[str, list[float]] = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, step in runs.items():
                times[k].append(timed(step, args.steps))
        ratios = sorted(b / s for b, s in zip(times["baseline"], times["skiplab"]))
        ips = {k: args.batch * args.steps / statistics.median(v) for k, v in times.items()}
        print(f"{name}: baseline {ips['baseline']:.0f} img/s, skiplab {ips['skiplab']:.0f} img/s, "
              f"ratio skiplab/baseline median {statistics.median(ratios):.2f} "
              f"(min {ratios[0]:.2f}, max {ratios[-1]:.2f})")


if __name__ == "__main__":
    main()
