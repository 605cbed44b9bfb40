"""`skiplab bench`: training throughput against plain PyTorch, time-to-accuracy, and the large-batch check."""

from __future__ import annotations

import platform
from pathlib import Path
from typing import Any, List, Optional

import typer

from .._atomic import write_json
from ..bench.throughput import CPU_DEFAULTS, GPU_DEFAULTS
from ..errors import ConfigError
from .common import err_console, user_errors
from .outputs import check_output
from .reproduce import check_seeds

# The time-to-accuracy recipe, aimed at ResNet-20 >= 86% on CIFAR-10 in a few seconds on one big GPU: a short
# one-cycle schedule (Smith & Topin 2019) at batch 512 with the linearly scaled lr of He et al.'s 0.1 at 128,
# label smoothing 0.1 (Szegedy et al. 2016) and Nesterov momentum, bf16 + channels_last + compile. CUDA graphs
# (reduce-overhead): on an H200 the batch-512 step is bound by the host launching kernels; 20 epochs took 19.2 s
# of training with the default mode and 7.3 s with CUDA graphs (benchmarks/results/h200-2026-11-27), but reached
# 85.77%, 0.23 points short of 86%; 24 epochs (about 8.7 s at that speed) is the recipe for the next GPU check,
# chosen before it runs.
TTA_RECIPE = {"epochs": 24, "batch_size": 512, "lr": 0.4, "schedule": "onecycle", "label_smoothing": 0.1,
              "nesterov": True, "weight_decay": 5e-4, "precision": "bf16", "channels_last": True, "compile": True,
              "compile_mode": "reduce-overhead"}


_G, _C = GPU_DEFAULTS, CPU_DEFAULTS


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _environment(device: Any) -> dict[str, Any]:
    import torch
    env = {"torch": torch.__version__, "python": platform.python_version(), "device": str(device),
           "threads": torch.get_num_threads()}
    if device.type == "cuda":
        env["gpu"] = torch.cuda.get_device_name(device)
    return env


@user_errors
def bench(
    time_to_accuracy: bool = typer.Option(False, "--time-to-accuracy", help="train --model once with the recipe "
                                          "and report test accuracy against training seconds (compile apart)"),
    large_batch: bool = typer.Option(False, "--large-batch", help="test accuracy over --seeds at --batch and "
                                     "--big-batch (lr scaled by --lr-rule, warm-up added), equal epochs"),
    models: Optional[str] = typer.Option(None, "--models", help="throughput: comma-separated CIFAR ResNets "
                                         f"(resnet<6n+2>; default {_G['models']} on a GPU, {_C['models']} on a CPU)"),
    settings: Optional[str] = typer.Option(None, "--settings", help="throughput: comma-separated, of skiplab, "
                                           "skiplab-cudagraphs, eager-fp32, compiled-bf16 (the reference of the "
                                           f"ratios; eager-bf16 without compile); default {_G['settings']}"),
    batch: Optional[int] = typer.Option(None, "--batch", help=f"batch size (default: throughput {_G['batch']} on "
                                        f"a GPU, {_C['batch']} on a CPU; time-to-accuracy and large-batch base "
                                        f"{TTA_RECIPE['batch_size']})"),
    eager_batch: Optional[int] = typer.Option(None, "--eager-batch",
                                              help="throughput: batch of eager-fp32 (default --batch)"),
    steps: Optional[int] = typer.Option(None, "--steps", help="throughput: steps per timed repeat (default "
                                        f"{_G['steps']} on a GPU, {_C['steps']} on a CPU)"),
    repeats: Optional[int] = typer.Option(None, "--repeats", help="throughput: timed repeats, the median is "
                                          f"reported (default {_G['repeats']} on a GPU, {_C['repeats']} on a CPU)"),
    warmup: Optional[int] = typer.Option(None, "--warmup", help="throughput: untimed first steps (compile, cuDNN "
                                         f"search; default {_G['warmup']} on a GPU, {_C['warmup']} on a CPU)"),
    compile: Optional[bool] = typer.Option(None, "--compile/--no-compile", help="torch.compile where a setting "
                                           "or the recipe says so (default: on a GPU yes, on a CPU no: compiling "
                                           "takes a CPU minutes)"),
    compile_mode: Optional[str] = typer.Option(None, "--compile-mode", help="torch.compile mode of the skiplab "
                                               "setting (default: default) and of the recipe (default: "
                                               "reduce-overhead, i.e. CUDA graphs)"),
    profile: bool = typer.Option(False, "--profile", help="throughput: also profile each setting's steady-state "
                                 "step and list where its time goes (GPU kernels on CUDA, ops on the CPU)"),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda, cuda:N"),
    model: str = typer.Option("resnet20", "--model", "-m", help="time-to-accuracy / large-batch: the model"),
    data: str = typer.Option("cifar10", "--data", "-d", help="time-to-accuracy / large-batch: dataset name or "
                             "imagefolder:<path> (the JPEG CIFAR-10 extracted works)"),
    data_dir: Optional[Path] = typer.Option(None, "--data-dir", help="folder with the dataset's files"),
    epochs: Optional[int] = typer.Option(None, "--epochs", help=f"(default {TTA_RECIPE['epochs']})"),
    lr: Optional[float] = typer.Option(None, "--lr", help=f"peak lr at --batch (default {TTA_RECIPE['lr']})"),
    target: float = typer.Option(0.86, "--target", help="time-to-accuracy: the test accuracy to reach"),
    seeds: int = typer.Option(3, "--seeds", help="large-batch: seeds 0..N-1 per batch size"),
    big_batch: int = typer.Option(2048, "--big-batch", help="large-batch: the large batch"),
    lr_rule: str = typer.Option("linear", "--lr-rule", help="large-batch: lr scaling, linear or sqrt"),
    set_: Optional[List[str]] = typer.Option(None, "--set", "-s", help="override the recipe, e.g. "
                                             "train.weight_decay=5e-4 or train.max_eval_examples=500"),
    out: Optional[Path] = typer.Option(None, "--out", help="write the results as JSON here"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="print every epoch"),
) -> None:
    """Measure skiplab's training speed. Default: throughput (img/s, achieved TFLOP/s, compile time) of CIFAR
    ResNets in skiplab's fastest setting against plain PyTorch eager fp32 and compiled bf16, in one process; on a
    CPU one small net for a few seconds, uncompiled (each option overrides). --time-to-accuracy and --large-batch
    train on --data instead."""
    from ..train.loop import resolve_device

    if time_to_accuracy and large_batch:
        raise ConfigError("--time-to-accuracy and --large-batch are separate measurements; pick one")
    if eager_batch is not None and eager_batch < 1:  # 0 would silently mean --batch; a negative would fail each model
        raise ConfigError(f"--eager-batch must be >= 1, got {eager_batch}")
    if out is not None:  # checked now: the measurement takes minutes, and its JSON is written last
        check_output(out, "--out", folder=False)
    dev = resolve_device(device)
    say = lambda s: err_console.print(s, markup=False)  # noqa: E731
    result: dict[str, Any] = {"environment": _environment(dev)}
    if time_to_accuracy or large_batch:
        from ..bench.accuracy import large_batch_check, time_to_accuracy as tta
        from ..train.experiment import resolve_run_config
        compiled = dev.type == "cuda" if compile is None else compile
        recipe = {**TTA_RECIPE, "compile": TTA_RECIPE["compile"] and compiled,
                  "compile_mode": compile_mode or TTA_RECIPE["compile_mode"], "device": device}
        flags = {"model.name": model, "data.name": data, "data.root": str(data_dir) if data_dir else None,
                 "train.batch_size": batch, "train.epochs": epochs, "train.lr": lr}
        run = resolve_run_config({"train": recipe}, flags, set_ or [])
        if time_to_accuracy:
            result["time_to_accuracy"] = tta(run, target, say=say, verbose=verbose)
        else:
            if seeds < 1:
                raise ConfigError("--seeds must be >= 1")
            check_seeds(seeds)  # the seeds are listed up front: 10**9 of them would fill the memory first
            result["large_batch"] = large_batch_check(run, run.train.batch_size, big_batch, list(range(seeds)),
                                                      rule=lr_rule, say=say)
    else:
        from ..bench.throughput import check, defaults, label, measure
        from ..train.config import COMPILE_MODES
        compile_mode = compile_mode or "default"
        if compile_mode not in COMPILE_MODES:
            raise ConfigError(f"--compile-mode: {compile_mode!r} is not one of {', '.join(COMPILE_MODES)}")
        given = {"models": models, "settings": settings, "batch": batch, "steps": steps, "repeats": repeats,
                 "warmup": warmup, "compile": compile}
        use = {k: v if v is not None else defaults(dev)[k] for k, v in given.items()}
        names, kinds = _csv(use["models"]), _csv(use["settings"])
        sizes = {k: use[k] for k in ("batch", "steps", "repeats", "warmup")}
        check(names, kinds, device=dev, compile=use["compile"], **sizes)
        # the first line comes at once: what will run, and which of it the device chose
        chosen = [f"--{k}" if k != "compile" else "--compile" if use[k] else "--no-compile"
                  for k, v in given.items() if v is None]
        say(f"throughput on {dev}: {', '.join(names)}; settings {', '.join(label(k, use['compile']) for k in kinds)}"
            f"; batch {use['batch']}, {use['repeats']} repeats of {use['steps']} steps after {use['warmup']} "
            f"warm-up steps, {'compiled' if use['compile'] else 'not compiled'}"
            + (f" ({'GPU' if dev.type == 'cuda' else 'CPU'} defaults of {' '.join(chosen)})" if chosen else ""))
        result["throughput"] = measure(names, kinds, eager_batch=eager_batch, device=dev, compile=use["compile"],
                                       compile_mode=compile_mode, profile=profile, say=say, **sizes)
    if out is not None:
        write_json(out, result)
        say(f"results: {out}")
