"""Files written exactly like the paper's released checkpoints, with known weights (the rule of
``tests/fixtures/official/``), and the original implementations' logits on them."""

from __future__ import annotations

import collections
import csv
import math
import zlib
from pathlib import Path

import numpy as np
import torch

OFFICIAL = Path(__file__).parent / "fixtures" / "official"
RELEASES = {"resnet_50": "resnet_50", "vit_ti": "vit_ti", "pit_ti": "pit_ti", "swin_ti": "swin_t"}
"""The original's name (the file's ``name`` field and the fixture's name) -> our architecture."""
CIFAR100 = Path(__file__).parent / "fixtures" / "cifar100-samples"


def rule_state(name: str) -> collections.OrderedDict[str, torch.Tensor]:
    """The original's state dict in file order, every ``rule`` tensor from its own seeded generator, every
    ``derived`` buffer zero (a converter must not depend on them)."""
    state = collections.OrderedDict()
    with open(OFFICIAL / f"{name}.keys.tsv") as handle:
        for row in csv.DictReader(handle, delimiter="\t"):
            key = row["key"]
            shape = tuple(int(d) for d in row["shape"].split(",")) if row["shape"] else ()
            if row["kind"] == "derived":
                state[key] = torch.zeros(shape, dtype=getattr(torch, row["dtype"]))
                continue
            g = torch.Generator().manual_seed(zlib.crc32(key.encode()))
            if key.endswith("running_var"):
                state[key] = 0.5 + torch.rand(shape, generator=g)
            elif len(shape) >= 2:
                state[key] = torch.randn(shape, generator=g) / math.sqrt(max(1, math.prod(shape[1:])))
            elif key.endswith("weight"):
                state[key] = 1 + 0.1 * torch.randn(shape, generator=g)
            else:
                state[key] = 0.1 * torch.randn(shape, generator=g)
    return state


def write_release(path: Path, name: str, **extra: object) -> Path:
    """``torch.save({"name": name, "state_dict": ...})`` as the authors did."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"name": name, "state_dict": rule_state(name), **extra}, path)
    return path


def original_logits(name: str) -> np.ndarray:
    return np.load(OFFICIAL / f"{name}.logits.npy")


def fixture_input() -> torch.Tensor:
    return torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
