"""A CPU stand-in for the GPU large-batch check of issue 12, run to choose its epoch count before the next GPU run.

On one H200, ResNet-20 at batch 2048 lost 4.05 points to batch 512 after 15 epochs with linear lr scaling (the
recipe of `skiplab bench --large-batch`). The hypothesis tested here: at equal epochs the large batch takes 4x fewer
steps, and a short schedule is limited by steps (McCandlish et al. 2018: the critical batch grows as the loss
falls), so the gap should shrink as both runs train for more epochs. On this 2-core CPU the check runs scaled down
where it does not change the step counts: the same 50,000 training images and batches (512 vs 2048, lr 0.4 vs 1.6,
one-cycle, label smoothing 0.1, Nesterov, weight decay 5e-4, bf16), but images average-pooled to 16x16 (crop
padding 2) and ResNet-20 at half width: about 7x fewer FLOPs per image.

    python benchmarks/large_batch_proxy.py --data /tmp/cifar10-jpeg --epochs 15 30 --seeds 0 --out results.json

Each (epochs, batch, seed) run appends a line to --out as it finishes; finished lines are skipped on a rerun. At
the end it prints, per epoch count, each batch's mean +- std test accuracy over the seeds in --out and the gap.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from skiplab.cli.bench import TTA_RECIPE
from skiplab.data.dataset import Dataset
from skiplab.train.config import TrainConfig, large_batch
from skiplab.train.experiment import DataConfig, load_data
from skiplab.models import create_model
from skiplab.train.loop import fit


def pooled(data: Dataset) -> Dataset:
    """The dataset with every image average-pooled 2x2 (kept uint8, so the loader's scaling is unchanged)."""
    def pool(x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x.float(), 2).round().clamp(0, 255).to(torch.uint8)
    c, h, w = data.info.shape
    info = dataclasses.replace(data.info, shape=(c, h // 2, w // 2), crop_padding=max(1, data.info.crop_padding // 2))
    return Dataset(info, pool(data.train_x), data.train_y, pool(data.test_x), data.test_y)


def summary(rows: list[dict], base_batch: int) -> list[str]:
    """Per epoch count: the base batch's mean +- std (sample) test accuracy over its seeds, and each larger (batch,
    lr) beside it with its gap to the base."""
    from skiplab.bench.accuracy import mean_std
    lines = []
    for epochs in sorted({r["epochs"] for r in rows}):
        at = [r for r in rows if r["epochs"] == epochs]
        base = [r["test_acc"] for r in at if r["batch"] == base_batch]
        if not base:
            continue
        b = mean_std(base)
        line = f"{epochs:3d} epochs: batch {base_batch} {b['mean']:.2%} +- {b['std']:.2%} (n={b['n']})"
        for batch, lr in sorted({(r["batch"], r["lr"]) for r in at if r["batch"] != base_batch}):
            m = mean_std([r["test_acc"] for r in at if (r["batch"], r["lr"]) == (batch, lr)])
            line += (f"; batch {batch} lr {lr:g} {m['mean']:.2%} +- {m['std']:.2%} (n={m['n']}), "
                     f"gap {m['mean'] - b['mean']:+.2%}")
        lines.append(line)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="an image folder with train/ and test/ (the JPEG CIFAR-10)")
    ap.add_argument("--epochs", type=int, nargs="+", default=[15, 30])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--batches", type=int, nargs=2, default=[512, 2048], metavar=("BASE", "BIG"))
    ap.add_argument("--width", type=float, default=0.5, help="ResNet-20 width multiplier")
    ap.add_argument("--rule", choices=("linear", "sqrt"), default="linear", help="lr scaling of the large batch")
    ap.add_argument("--out", type=Path, required=True)
    args = ap.parse_args()
    torch.set_num_threads(2)
    data = pooled(load_data(DataConfig(name=f"imagefolder:{args.data}")))
    done = set()
    if args.out.exists():
        done = {(r["epochs"], r["batch"], r["lr"], r["seed"]) for r in map(json.loads, args.out.read_text().splitlines())}
    base_batch, big = args.batches
    recipe = {k: v for k, v in TTA_RECIPE.items() if k in {f.name for f in dataclasses.fields(TrainConfig)}}
    for epochs in args.epochs:
        base = TrainConfig(**{**recipe, "epochs": epochs, "batch_size": base_batch, "compile": False,
                              "device": "cpu", "eval_every": epochs})
        for cfg in (base, large_batch(base, big, base_batch, rule=args.rule)):
            for seed in args.seeds:
                if (epochs, cfg.batch_size, cfg.lr, seed) in done:
                    continue
                torch.manual_seed(seed)
                model = create_model("resnet20", width_mult=args.width, **data.model_kwargs())
                t0 = time.perf_counter()
                hist = fit(model, data, cfg, seed=seed, verbose=False)
                row = {"epochs": epochs, "batch": cfg.batch_size, "lr": cfg.lr, "seed": seed, "status": hist.status,
                       "test_acc": 1 - hist.final["test_err"], "train_loss": hist.final.get("train_loss"),
                       "seconds": time.perf_counter() - t0}
                print(json.dumps(row), flush=True)
                with args.out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
    print("\n".join(summary([json.loads(line) for line in args.out.read_text().splitlines()], base_batch)))


if __name__ == "__main__":
    main()
