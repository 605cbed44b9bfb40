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


def all_ok(ok: bool) -> bool:
    """Whether `ok` holds on every rank (each rank passes its own); True alone in one process. A step only some
    ranks can take (rank 0 taking the folder's lock) says so through this, so the others fail with it instead of
    waiting at the next barrier for a rank that has gone."""
    if not is_distributed():
        return ok
    flag = torch.tensor([int(ok)], device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return bool(flag.item())


def launched_by_torchrun() -> bool:
    return all(v in os.environ for v in TORCHRUN_VARS)


@contextmanager
def process_group(backend: str, init_method: str | None = None, rank: int = -1,
                  world_size: int = -1) -> Iterator[None]:
    """Be rank `rank` of a process group for the duration of the block (the arguments are init_process_group's;
    left out, torchrun's environment gives them). Leaving destroys the group, its threads and sockets with it,
    while the interpreter is still running."""
    # torch.distributed.nn.functional binds `group.WORLD` as the default argument of its collectives when it is
    # imported, and DDP imports it (through torch._dynamo) the first time it wraps a model. Imported while this group
    # exists, those defaults keep the group alive past destroy_process_group: the gloo group's worker and socket
    # threads then run on until the interpreter, shutting down, frees the defaults and tears the group down half-way
    # through finalization (seen in gdb: ~ProcessGroupGloo under Py_FinalizeEx), where a rank can die with SIGABRT,
    # "terminate called without an active exception" (issue 19). Imported first, the defaults bind None.
    import torch.distributed.nn.functional  # noqa: F401

    dist.init_process_group(backend, init_method=init_method, rank=rank, world_size=world_size)
    try:
        yield
        # every rank done with its collectives before any tears the group down, so none is left mid-collective
        # with a peer gone
        dist.barrier()
    finally:
        dist.destroy_process_group()


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
    with process_group("nccl" if cuda else "gloo"):
        yield
