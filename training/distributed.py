"""A process's place in a torchrun job and the collectives the trainer and the analyses share: a fixed
assignment of work items to ranks, gathering per-item results back into their order, and sums.

Without torchrun every call is the single-process identity, so the same code runs with and without it. The
backend is gloo on CPU and NCCL on CUDA (whose collectives need the tensors on this rank's device).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist
from torch import Tensor


@dataclass(frozen=True)
class Distributed:
    """This process's place in a torchrun job (rank 0 of 1 without torchrun)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    local_world: int = 1

    @classmethod
    def from_env(cls) -> Distributed:
        env = os.environ
        return cls(int(env.get("RANK", 0)), int(env.get("WORLD_SIZE", 1)), int(env.get("LOCAL_RANK", 0)),
                   int(env.get("LOCAL_WORLD_SIZE", 1)))

    @property
    def main(self) -> bool:
        return self.rank == 0

    def device(self, device: str) -> str:
        """``cuda`` becomes this rank's GPU (``cuda:<local rank>``); anything else is kept."""
        return f"cuda:{self.local_rank}" if device == "cuda" and self.world > 1 else device

    def start(self, device: str) -> None:
        """Join the process group (a no-op for one process or when already joined)."""
        if self.world == 1 or dist.is_initialized():
            return
        if device.startswith("cuda"):
            torch.cuda.set_device(self.local_rank)
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")

    def stop(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.destroy_process_group()

    def mine(self, count: int) -> list[int]:
        """The item indices this rank works on: ``i % world == rank``, fixed by the count alone."""
        return list(range(self.rank, count, self.world))

    def gather(self, items: Mapping[int, Any], count: int) -> list[Any]:
        """Every rank's ``{index: result}`` merged into one list in index order (on every rank)."""
        if self.world == 1:
            merged = dict(items)
        else:
            parts: list[Any] = [None] * self.world
            dist.all_gather_object(parts, dict(items))
            merged = {i: v for part in parts for i, v in part.items()}
        missing = sorted(set(range(count)) - set(merged))
        if missing:
            raise RuntimeError(f"no rank produced items {missing[:5]}")
        return [merged[i] for i in range(count)]

    def sum(self, tensor: Tensor) -> Tensor:
        """The element-wise sum over ranks (a copy; on the tensor's own device)."""
        if self.world == 1:
            return tensor.clone()
        backend_device = f"cuda:{self.local_rank}" if dist.get_backend() == "nccl" else "cpu"
        total = tensor.detach().to(backend_device, copy=True)
        dist.all_reduce(total)
        return total.to(tensor.device)

    def all_sum(self, values: list[float]) -> list[float]:
        if self.world == 1:
            return values
        return self.sum(torch.tensor(values, dtype=torch.float64)).tolist()
