"""Rank awareness for torchrun/DDP: every function works unchanged in a single process.

`from_torchrun()` is what a command wraps itself in: launched by `torchrun` (RANK, WORLD_SIZE and LOCAL_RANK in the
environment) it joins the process group (nccl on CUDA, gloo on the CPU), pins this rank's GPU, and leaves the group
at exit; launched plainly it does nothing, so one code path serves both.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator

import torch
import torch.distributed as dist

TORCHRUN_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def local_rank() -> int:
    """This process's index on its machine (torchrun's LOCAL_RANK): the GPU it drives."""
    return int(os.environ.get("LOCAL_RANK", 0)) if is_distributed() else 0


def is_main() -> bool:
    """Only rank 0 writes files and prints."""
    return rank() == 0


def barrier() -> None:
    if is_distributed():
        dist.barrier()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    if is_distributed():
        dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return t


def launched_by_torchrun() -> bool:
    return all(v in os.environ for v in TORCHRUN_VARS)


@contextmanager
def from_torchrun(device: str = "auto") -> Iterator[None]:
    """Join torchrun's process group for the duration of a command (a no-op outside torchrun or when a group
    already exists). `device` is the run's device setting: anything but the CPU means CUDA, hence nccl."""
    if not launched_by_torchrun() or is_distributed():
        yield
        return
    cuda = device != "cpu" and torch.cuda.is_available()
    if cuda:  # before init: nccl binds each rank to the current device
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    dist.init_process_group("nccl" if cuda else "gloo")
    try:
        yield
        # every rank done before any tears the group down: a gloo rank whose peer closes the connection while it is
        # still shutting down can abort ("terminate called without an active exception", seen once in CI)
        dist.barrier()
    finally:
        dist.destroy_process_group()
