"""Memory and time of a RevNet against ordinary backprop through the same net (reversible-memory claim and
benchmarks/revnet_memory.py).

- `saved_bytes`: bytes autograd saves for backward in one training forward pass, exact (probes.memory), parameters
  excluded (they are held anyway; the claim is about activations).
- `peak_memory`: a fresh process per configuration (`python -m skiplab.claims.memory.reversible_memory.revnet ...`) builds the net,
  takes two SGD steps and reports its peak: torch.cuda.max_memory_allocated on a GPU, else ru_maxrss (peak RSS),
  peak RSS (Linux VmHWM, reset after building the net) and the RSS before the first step.
- `step_times`: interleaved repeats of a training step, each variant timed back to back.
The "ResNet" baseline is the same RevNet with `reversible = False`: identical weights and FLOPs in the forward
pass, so the memory and time differences are the reconstructing backward's alone.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Any

import torch
import torch.nn.functional as F

from skiplab.probes import memory

BASE = "revnet38"  # widths 32-64-112 (Gomez et al.'s RevNet-38); depth set per measurement


def make_net(blocks_per_stage: int, reversible: bool, size: int, seed: int = 0, base: str = BASE,
             stream: str = "float32") -> Any:
    """A RevNet with `blocks_per_stage` coupling blocks per stage (3 stages), input size x size; the standard one
    (float32 residual stream) unless `stream` says otherwise: the claim is about RevNets as published."""
    from skiplab.models import create_model
    torch.manual_seed(seed)
    net = create_model(base, depth=12 * blocks_per_stage + 2, input_size=(size, size), reversible=reversible,
                       stream=stream)
    return net.train()


def batch(n: int, size: int, seed: int = 0, device: str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 3, size, size, generator=g).to(device),
            torch.randint(0, 10, (n,), generator=g).to(device))


def saved_bytes(net: Any, x: torch.Tensor) -> int:
    """Bytes of distinct non-parameter tensors saved for backward by one forward pass of `net` on x (N, C, H, W)
    and a logsumexp loss (probes.memory.saved_bytes)."""
    return memory.saved_bytes(lambda: net(x).logsumexp(1).sum(), exclude=net.parameters())


def train_step(net: Any, x: torch.Tensor, y: torch.Tensor, opt: torch.optim.Optimizer) -> None:
    loss = F.cross_entropy(net(x), y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def step_times(nets: dict[str, Any], x: torch.Tensor, y: torch.Tensor, repeats: int) -> dict[str, list[float]]:
    """Seconds per training step of each net, interleaved: repeat r times every net once in turn (one warm-up)."""
    opts = {k: torch.optim.SGD(n.parameters(), lr=0.01) for k, n in nets.items()}
    times: dict[str, list[float]] = {k: [] for k in nets}
    for r in range(repeats + 1):
        for k, n in nets.items():
            t0 = time.perf_counter()
            train_step(n, x, y, opts[k])
            if x.is_cuda:
                torch.cuda.synchronize()
            if r:
                times[k].append(time.perf_counter() - t0)
    return times


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith(key))


def _rss_reset() -> int:
    """Current RSS, after resetting the peak (Linux: writing 5 to clear_refs resets VmHWM), so the peak read after
    the steps is theirs and not the import's transient."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    return _status("VmRSS:")


def _hwm() -> int:
    return _status("VmHWM:")


def _child(args: argparse.Namespace) -> dict[str, Any]:
    torch.set_num_threads(args.threads) if args.threads else None
    net = make_net(args.n, args.reversible, args.size).to(args.device)
    x, y = batch(args.batch, args.size, device=args.device)
    opt = torch.optim.SGD(net.parameters(), lr=0.01)
    rss0 = _rss_reset()
    if args.device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    for _ in range(2):
        train_step(net, x, y, opt)
    out = {"blocks": 3 * args.n, "reversible": args.reversible, "device": args.device}
    if args.device.startswith("cuda"):
        out.update(peak=torch.cuda.max_memory_allocated(), before=base, measure="torch.cuda.max_memory_allocated")
    else:
        out.update(peak=_hwm(), before=rss0, measure="peak RSS (VmHWM, reset after building the net)")
    return out


def peak_memory(n: int, reversible: bool, batch_size: int, size: int, device: str = "cpu", threads: int = 0,
                timeout: float = 900) -> dict[str, Any]:
    """Peak memory of two training steps in a fresh process (see the module docstring); {"error": ...} if it
    fails (e.g. out of memory)."""
    cmd = [sys.executable, "-m", "skiplab.claims.memory.reversible_memory.revnet", "--n", str(n), "--batch", str(batch_size),
           "--size", str(size), "--device", device, "--threads", str(threads)] + (["--reversible"] if reversible
                                                                                  else [])
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if p.returncode:
        return {"blocks": 3 * n, "reversible": reversible, "error": (p.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(p.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, required=True, help="coupling blocks per stage")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--size", type=int, default=16)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--reversible", action="store_true")
    print(json.dumps(_child(ap.parse_args())))
