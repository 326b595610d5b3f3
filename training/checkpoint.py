"""Training checkpoints written atomically (a reader or a resume never sees half a file), and run provenance."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import torch

from hub.files import atomic_path

CHECKPOINT_FILE = "checkpoint.pt"


def save_checkpoint(state: dict[str, Any], folder: Path) -> Path:
    """``torch.save`` into a temporary file in ``folder``, then rename it over ``checkpoint.pt``."""
    path = folder / CHECKPOINT_FILE
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return path


def load_checkpoint(folder: Path) -> dict[str, Any]:
    """Tensors, numbers, strings and containers only (``weights_only``): a checkpoint cannot run code."""
    path = folder / CHECKPOINT_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {CHECKPOINT_FILE} in {folder} to resume from")
    return torch.load(path, map_location="cpu", weights_only=True)


def git_commit(repo: Path = Path(__file__).resolve().parent.parent) -> str:
    """``<sha>`` of the checkout the code runs from, ``<sha>-dirty`` with uncommitted changes, or ``unknown``."""
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True,
                             check=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=repo,
                               capture_output=True, text=True, check=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{sha}-dirty" if dirty else sha
