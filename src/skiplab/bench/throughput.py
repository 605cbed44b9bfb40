"""Training throughput of CIFAR ResNets in several settings, measured in one process with interleaved repeats.

Settings (every one steps on one fixed device-resident batch, so data loading is not measured):
- `skiplab`: skiplab's registered net through its own `TrainStep` (fused SGD on a GPU, bf16 autocast,
  channels_last, torch.compile with `compile_mode`);
- `skiplab-cudagraphs`: the same with compile mode reduce-overhead (CUDA graphs);
- `eager-fp32`: the plain PyTorch net of `baseline`, fp32, default layout, no compile;
- `compiled-bf16`: that plain net with bf16 autocast + channels_last + torch.compile (the reference of ratios).
img/s is the median over repeats of `steps` steps each, synchronizing only at the ends of a timed window;
compile (and warm-up) time is the first `warmup` steps' time minus what they take at steady state.
With `profile`, each setting's steady-state step is also run under torch.profiler: where its time goes, kernel by
kernel on a GPU (op by op on the CPU), to say what a faster step would have to beat.

A row is named for what ran (`label`): without torch.compile, compiled-bf16 is reported as eager-bf16 and every row
says `"compiled": false`. The defaults are sized to the device (`defaults`): the GPU's batch of 2048 and three
ResNets would keep a CPU busy for many minutes before its first number.
"""

from __future__ import annotations

import re
import statistics
import time
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import ConfigError
from ..flop_count import flops
from ..models import create_model
from ..train.config import TrainConfig
from ..train.loop import distribute
from ..train.step import TrainStep
from .baseline import BaselineResNet

SETTINGS = ("skiplab", "skiplab-cudagraphs", "eager-fp32", "compiled-bf16")
REFERENCE = "compiled-bf16"
COMPILED = {"skiplab", "skiplab-cudagraphs", "compiled-bf16"}

# What `skiplab bench` measures when not told: on a GPU the sizes its speed claims are made at; on a CPU one small
# net at a small batch, eager (torch.compile's first step alone takes a CPU minutes), so the whole run takes
# seconds (ResNet-20 at batch 32: ~0.1-0.3 s a step on one core of this machine's CPU, measured).
GPU_DEFAULTS = {"models": "resnet20,resnet56,resnet110", "settings": "skiplab,eager-fp32,compiled-bf16",
                "batch": 2048, "steps": 20, "repeats": 5, "warmup": 3, "compile": True}
CPU_DEFAULTS = {"models": "resnet20", "settings": "skiplab,eager-fp32,compiled-bf16", "batch": 32, "steps": 4,
                "repeats": 3, "warmup": 1, "compile": False}


def defaults(device: torch.device) -> dict[str, Any]:
    """The throughput defaults for `device`: GPU_DEFAULTS on CUDA, CPU_DEFAULTS elsewhere."""
    return dict(GPU_DEFAULTS if device.type == "cuda" else CPU_DEFAULTS)


def label(setting: str, compiled: bool) -> str:
    """The name a setting's row is reported under: what actually ran. compiled-bf16 without torch.compile is
    eager-bf16 (bf16 autocast + channels_last, not compiled); the other names claim no compilation."""
    return "eager-bf16" if setting == "compiled-bf16" and not compiled else setting


def check_models(models: list[str]) -> list[int]:
    """The depth of each model name; only CIFAR ResNets (resnet20, resnet56, resnet110, ...) have a plain twin."""
    depths = []
    for name in models:
        m = re.fullmatch(r"resnet(\d+)", name)
        if not m or (int(m.group(1)) - 2) % 6 or int(m.group(1)) < 8:
            raise ConfigError(f"--models: {name!r} has no plain-PyTorch twin to compare with; use CIFAR ResNets "
                              "resnet<6n+2>, e.g. resnet20, resnet56, resnet110")
        depths.append(int(m.group(1)))
    return depths


def check_settings(settings: list[str], device: torch.device | None = None, compile: bool = True) -> None:
    bad = [s for s in settings if s not in SETTINGS]
    if bad or not settings:
        raise ConfigError(f"--settings: {bad[0] if bad else 'none'!r} is not one of {', '.join(SETTINGS)}")
    if "skiplab-cudagraphs" in settings and device is not None and (device.type != "cuda" or not compile):
        # its CUDA graphs come from torch.compile's reduce-overhead mode: anywhere else the row would be skiplab's
        raise ConfigError("--settings: skiplab-cudagraphs needs a CUDA device and torch.compile (--compile); "
                          f"here the device is {device}{'' if compile else ' and compile is off'}")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def check(models: list[str], settings: list[str], *, device: torch.device, compile: bool, batch: int, steps: int,
          repeats: int, warmup: int) -> list[int]:
    """Every check of `measure`'s input, before anything runs (a ConfigError names the option); the models' depths."""
    depths = check_models(models)
    check_settings(settings, device, compile)
    if steps < 1 or repeats < 1 or warmup < 1 or batch < 1:
        raise ConfigError("--steps, --repeats, --warmup and --batch must be >= 1")
    return depths


@dataclass
class Bench:
    step: Callable[[], None]
    batch: int
    flops_per_image: int  # forward + backward, from skiplab.flops
    compiled: bool = False  # whether the step runs through torch.compile


def build(setting: str, name: str, depth: int, batch: int, device: torch.device, compile: bool,
          compile_mode: str = "default") -> Bench:
    """One setting's training step on a fixed random batch of `batch` 32x32 RGB images."""
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(batch, 3, 32, 32, generator=gen).to(device)
    y = torch.randint(0, 10, (batch,), generator=gen).to(device)
    torch.manual_seed(0)
    if setting.startswith("skiplab"):
        mode = "reduce-overhead" if setting == "skiplab-cudagraphs" else compile_mode
        cfg = TrainConfig(precision="bf16", channels_last=True, compile=compile, compile_mode=mode,
                          device=str(device))
        model = create_model(name).to(device).to(memory_format=torch.channels_last)
        fl = int(flops(model, (3, 32, 32))["forward_backward"])
        stepper = TrainStep(model, cfg, device, total_steps=10**6, steps_per_epoch=1000,
                            forward=distribute(model, cfg, device))
        xs = x.contiguous(memory_format=torch.channels_last)
        counter = iter(range(10**9))
        return Bench(lambda: stepper(xs, y, next(counter)), batch, fl, compiled=compile)
    fast = setting == "compiled-bf16"
    model: nn.Module = BaselineResNet(depth).to(device)
    if fast:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    fl = int(flops(model, (3, 32, 32))["forward_backward"])
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    forward = torch.compile(model) if fast and compile else model

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=fast):
            out = forward(x)
        loss = F.cross_entropy(out.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return Bench(step, batch, fl, compiled=fast and compile)


def timed(bench: Bench, steps: int, device: torch.device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        bench.step()
    _sync(device)
    return time.perf_counter() - t0


def profile_step(bench: Bench, steps: int, device: torch.device, top: int = 12) -> list[dict[str, Any]]:
    """The `top` entries of `steps` profiled steps by self time: GPU kernels on CUDA (their device time), aten
    ops on the CPU (their CPU time). Each: name, ms and calls per step, and share of the step's total."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    cuda = device.type == "cuda"
    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if cuda else [])
    with profile(activities=acts) as prof:
        for _ in range(steps):
            bench.step()
        _sync(device)
    if cuda:
        rows = [(e.key, e.self_device_time_total, e.count) for e in prof.key_averages()
                if e.device_type == DeviceType.CUDA and e.self_device_time_total > 0]
    else:
        rows = [(e.key, e.self_cpu_time_total, e.count) for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(t for _, t, _ in rows) or 1.0
    rows.sort(key=lambda r: -r[1])
    return [{"name": name[:120], "ms_per_step": t / 1e3 / steps, "calls_per_step": n / steps, "share": t / total}
            for name, t, n in rows[:top]]


def summarize(batch: int, steps: int, flops_per_image: int, warm_s: float, warmup: int,
              times: list[float]) -> dict[str, Any]:
    """img/s (median over repeats, min-max spread), achieved TFLOP/s = FLOPs per image x img/s / 1e12, and the
    compile + warm-up overhead of the first `warmup` steps over their steady-state time."""
    rates = sorted(batch * steps / t for t in times)
    ips = statistics.median(rates)
    return {"batch": batch, "img_per_s": ips, "img_per_s_min": rates[0], "img_per_s_max": rates[-1],
            "tflops": flops_per_image * ips / 1e12, "flops_per_image": flops_per_image,
            "compile_s": max(0.0, warm_s - warmup * batch / ips), "repeats": len(times), "steps": steps}


def measure(models: list[str], settings: list[str], *, batch: int, eager_batch: int | None, steps: int,
            repeats: int, warmup: int, device: torch.device, compile: bool, compile_mode: str = "default",
            profile: bool = False, say: Callable[[str], None] = print) -> dict[str, Any]:
    """{model: {label: summary or {"error": ...}, "ratio_vs_<reference's label>": {...}}}, each row keyed by
    `label` (what ran) with "setting" (what was asked) and "compiled"; with `profile` each summary also holds
    "profile", the top entries of `profile_step`. Progress goes to `say` as it happens: a line per setting built
    and warmed up, and one per round of timed repeats."""
    depths = check(models, settings, device=device, compile=compile, batch=batch, steps=steps, repeats=repeats,
                   warmup=warmup)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: the per-shape algorithm search pays back at once
    results: dict[str, Any] = {}
    for name, depth in zip(models, depths):
        benches: dict[str, Bench] = {}  # by label: what ran
        warm: dict[str, float] = {}
        row: dict[str, Any] = {}
        for s in settings:
            b = eager_batch if s == "eager-fp32" and eager_batch else batch
            key = label(s, compile)
            row[key] = {"setting": s, "compiled": compile and s in COMPILED}
            try:
                bench = build(s, name, depth, b, device, compile, compile_mode)
                row[key]["compiled"] = bench.compiled
                say(f"{name} {key}: {'compiling and ' if bench.compiled else ''}warming up ({warmup} "
                    f"step{'s' if warmup > 1 else ''} at batch {b})")
                warm[key], benches[key] = timed(bench, warmup, device), bench
            except Exception as e:  # one failing setting (a compiler error, out of memory) must not end the run
                row[key]["error"] = f"{type(e).__name__}: {e}"[:500]
                say(f"{name} {key}: failed: {row[key]['error']}")
        times: dict[str, list[float]] = {s: [] for s in benches}
        for i in range(repeats):  # interleaved, so drifting clocks or a neighbour's load hit every setting alike
            for s, bench in benches.items():
                times[s].append(timed(bench, steps, device))
            if benches:
                say(f"{name} repeat {i + 1}/{repeats} ({steps} step{'s' if steps > 1 else ''} each): "
                    + ", ".join(f"{s} {bench.batch * steps / times[s][-1]:.0f} img/s" for s, bench in benches.items()))
        for s, bench in benches.items():
            row[s].update(summarize(bench.batch, steps, bench.flops_per_image, warm[s], warmup, times[s]))
            say(f"{name} {s:>18}: batch {bench.batch:5d}  {row[s]['img_per_s']:10.0f} img/s  "
                f"{row[s]['tflops']:7.2f} TFLOP/s  {'compile+' if bench.compiled else ''}warm-up "
                f"{row[s]['compile_s']:6.1f} s")
        if profile:
            for s, bench in benches.items():
                try:
                    row[s]["profile"] = profile_step(bench, steps, device)
                except Exception as e:  # the profiler failing (e.g. around CUDA graphs) must not lose the timings
                    row[s]["profile_error"] = f"{type(e).__name__}: {e}"[:300]
                    say(f"{name} {s}: profiling failed: {row[s]['profile_error']}")
                    continue
                say(f"{name} {s}: where a step's time goes ({'GPU kernels' if device.type == 'cuda' else 'ops'})")
                for e in row[s]["profile"]:
                    say(f"  {e['share']:6.1%} {e['ms_per_step']:8.3f} ms x{e['calls_per_step']:5.1f}  {e['name']}")
        ref_key = label(REFERENCE, compile)
        ref = row.get(ref_key, {}).get("img_per_s")
        if ref:
            row[f"ratio_vs_{ref_key}"] = {s: r["img_per_s"] / ref for s, r in row.items() if "img_per_s" in r}
        results[name] = row
        del benches
        if device.type == "cuda":
            torch.cuda.empty_cache()
    return results
