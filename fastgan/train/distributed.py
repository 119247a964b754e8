"""Several processes through torchrun: process-group setup from the environment torchrun sets
(RANK, WORLD_SIZE, LOCAL_RANK), and the collective operations the trainer needs. Gradients are
averaged with one all-reduce of a flattened buffer per optimiser step (as DDP does, but also for
phases that call a model's sub-networks or differentiate twice)."""

from __future__ import annotations

import os
from collections.abc import Iterable

import torch
import torch.distributed as dist

__all__ = ["Distributed"]


class Distributed:
    """The process's place in the job. Single process when WORLD_SIZE is unset or 1."""

    def __init__(self, device: str = "auto") -> None:
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        if device not in ("cpu", "cuda") and not device.startswith("cuda:"):
            raise ValueError(f"train: expected --device auto, cpu or cuda, got {device!r}")
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise ValueError("train: --device cuda but no CUDA device is available")
        if device == "cuda":
            device = f"cuda:{self.local_rank}"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            torch.cuda.set_device(self.device)
        self.enabled = self.world_size > 1
        if self.enabled and not dist.is_initialized():
            backend = "nccl" if self.device.type == "cuda" else "gloo"
            dist.init_process_group(backend, rank=self.rank, world_size=self.world_size)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def broadcast_module(self, module: torch.nn.Module) -> None:
        """Rank 0's parameters and buffers on every process."""
        if self.enabled:
            for t in [*module.parameters(), *module.buffers()]:
                dist.broadcast(t.data, src=0)

    def average_gradients(self, params: Iterable[torch.nn.Parameter]) -> None:
        """The mean gradient over the processes, in every parameter's .grad (None counts as
        zero, so that every process joins the same collective)."""
        params = [p for p in params if p.requires_grad]
        if not self.enabled or not params:
            return
        grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
        flat = torch.cat([g.flatten() for g in grads])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for p in params:
            n = p.numel()
            p.grad = flat[offset : offset + n].view_as(p).clone()
            offset += n

    def average_buffers(self, module: torch.nn.Module) -> None:
        """Floating buffers (running statistics, w_avg) averaged over the processes, so that
        every process keeps the same state."""
        buffers = [b for b in module.buffers() if b.is_floating_point()]
        if not self.enabled or not buffers:
            return
        flat = torch.cat([b.flatten() for b in buffers])
        dist.all_reduce(flat)
        flat /= self.world_size
        offset = 0
        for b in buffers:
            b.copy_(flat[offset : offset + b.numel()].view_as(b))
            offset += b.numel()

    def all_true(self, flag: bool) -> bool:
        """True when `flag` is true on every process."""
        if not self.enabled:
            return flag
        t = torch.tensor([1.0 if flag else 0.0], device=self.device)
        dist.all_reduce(t, op=dist.ReduceOp.MIN)
        return bool(t.item() > 0)

    def mean(self, value: torch.Tensor) -> torch.Tensor:
        """The mean of a tensor over the processes."""
        if not self.enabled:
            return value
        value = value.detach().clone()
        dist.all_reduce(value)
        return value / self.world_size

    def check_in_sync(self, module: torch.nn.Module, name: str) -> None:
        """RuntimeError unless every process holds the same parameters and buffers as rank 0
        (checked through the largest difference from rank 0's copy)."""
        if not self.enabled:
            return
        flat = torch.cat([t.detach().flatten().float() for t in module.state_dict().values()])
        reference = flat.clone()
        dist.broadcast(reference, src=0)
        difference = (flat - reference).abs().max().reshape(1)
        dist.all_reduce(difference, op=dist.ReduceOp.MAX)
        if difference.item() > 0:
            raise RuntimeError(
                f"train: the processes' copies of {name} differ (by up to {difference.item():.3g})"
            )

    def barrier(self) -> None:
        if self.enabled:
            dist.barrier()

    def close(self) -> None:
        # Every rank waits for the others before the group goes, so that none tears gloo down
        # while rank 0 still communicates. Not the whole story: a rank still aborted at exit
        # ("terminate called without an active exception") in 1 of about 40 two-process runs
        # with the barrier (1 of 6 CycleGAN runs without it); the cause is not found.
        if self.enabled and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
