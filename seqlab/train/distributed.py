"""Multi-process data-parallel training on torch.distributed (DistributedDataParallel).

`torchrun --nproc_per_node=N -m seqlab train ...` starts N processes and sets RANK, WORLD_SIZE,
LOCAL_RANK, MASTER_ADDR and MASTER_PORT; `init_from_env()` reads them and joins the process
group (gloo on CPU, nccl on CUDA, one GPU per local rank). Without those variables (or with
WORLD_SIZE=1) it returns a single-process `DistInfo` and touches nothing.

Each rank computes its contiguous slice of every global batch (tasks.py), DDP averages the
gradients, so every rank holds the same weights after every step; losses and validation sums are
all-reduced so every rank logs the same numbers. Only rank 0 writes files (`DistInfo.is_main`).

Reference: Li et al., "PyTorch Distributed: Experiences on Accelerating Data Parallel Training",
VLDB 2020.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import torch
import torch.distributed as dist

from seqlab.errors import ConfigError

__all__ = ["DistInfo", "init_from_env", "wrap_model", "all_reduce_sum", "all_reduce_max",
           "device_for", "barrier", "cleanup", "finish"]


@dataclass(frozen=True)
class DistInfo:
    """This process's place in the job: rank r of world_size, local_rank on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None   # None when not distributed

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ConfigError(f"environment variable {name}={value!r} is not an integer") from None


def init_from_env(device: str = "auto") -> DistInfo:
    """Join the process group described by torchrun's environment variables (if any).

    device: "auto"/"cuda*" with CUDA available -> nccl and this rank's GPU; otherwise gloo (CPU).
    Calling it again in an initialised process returns the current group's info.
    """
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistInfo()
    rank, local_rank = _env_int("RANK", 0), _env_int("LOCAL_RANK", 0)
    use_cuda = torch.cuda.is_available() and (device == "auto" or str(device).startswith("cuda"))
    backend = "nccl" if use_cuda else "gloo"
    if not dist.is_initialized():
        for name in ("MASTER_ADDR", "MASTER_PORT"):
            if name not in os.environ:
                raise ConfigError(f"WORLD_SIZE={world} but {name} is not set: launch with torchrun")
        if use_cuda:
            torch.cuda.set_device(local_rank)
        dist.init_process_group(backend=backend, rank=rank, world_size=world)
    return DistInfo(dist.get_rank(), dist.get_world_size(), local_rank, dist.get_backend())


def device_for(info: DistInfo, device: str = "auto") -> torch.device:
    """The device a rank trains on: its own GPU under nccl, else the requested device."""
    if info.enabled and info.backend == "nccl":
        return torch.device("cuda", info.local_rank)
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"device {device!r} requested but CUDA is not available")
    return dev


def wrap_model(model: torch.nn.Module, info: DistInfo, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel(model) when distributed, else the model itself."""
    if not info.enabled:
        return model
    from torch.nn.parallel import DistributedDataParallel as DDP

    ids = [device.index] if device.type == "cuda" else None
    return DDP(model, device_ids=ids)


def all_reduce_sum(values: list[float], info: DistInfo, device: torch.device | None = None) -> list[float]:
    """Element-wise sum of a list of numbers over all ranks (identity when not distributed)."""
    if not info.enabled:
        return [float(v) for v in values]
    dev = device if info.backend == "nccl" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.SUM)
    return [float(v) for v in t.cpu()]


def all_reduce_max(value: float, info: DistInfo, device: torch.device | None = None) -> float:
    """Largest `value` over ranks (so every rank agrees on e.g. elapsed time)."""
    if not info.enabled:
        return float(value)
    dev = device if info.backend == "nccl" else torch.device("cpu")
    t = torch.tensor([value], dtype=torch.float64, device=dev)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()


def cleanup(info: DistInfo) -> None:
    """Leave the process group: every rank waits for the others first, so no rank tears gloo
    down while another is still in a collective or writing (that aborted a rank with SIGABRT,
    'terminate called without an active exception', about one run in four)."""
    if info.enabled and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def finish(info: DistInfo, code: int = 0) -> None:
    """End a torchrun worker: `cleanup`, flush, then leave without interpreter finalization.

    Even after destroy_process_group, gloo's C++ worker threads can still be alive while Python
    tears itself down, and a rank then aborts with SIGABRT ('terminate called without an active
    exception'): seen here in about 1 of 10 two-process runs under CPU load, after the run
    folder was already written. Exiting with os._exit skips that finalization. Outside torchrun
    (world size 1) this only cleans up and returns.
    """
    cleanup(info)
    if info.enabled:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
