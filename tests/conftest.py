"""Test environment: one thread per process, nothing reaches the internet.

Hub settings are read by huggingface_hub at import time, so they are set here, before any test module
imports it: a private cache, and ``HF_ENDPOINT`` pointing at a loopback port where the hub-server tests
start a real Hub-compatible server (olah). Anything else that tried the network would hit that port too.
"""

import os
import socket
import tempfile

import pytest


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


_SCRATCH = tempfile.mkdtemp(prefix="howvits-tests-")
os.environ["OMP_NUM_THREADS"] = "1"
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ["HF_HUB_CACHE"] = os.path.join(_SCRATCH, "hf-cache")
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["HF_ENDPOINT"] = f"http://127.0.0.1:{_free_port()}"
os.environ["BENTOML_HOME"] = os.path.join(_SCRATCH, "bentoml")
os.environ["BENTOML_DO_NOT_TRACK"] = "true"
os.environ["HOWVITS_CACHE"] = os.path.join(_SCRATCH, "howvits-cache")

import torch  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture
def images() -> torch.Tensor:
    """A fixed batch of CIFAR-sized inputs."""
    return torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))


@pytest.fixture
def fixture_tar():
    """240 real CIFAR-10 training images (24 per class) as a tar of an ImageFolder tree."""
    from pathlib import Path

    return Path(__file__).parent / "fixtures" / "cifar10-mini.tar.gz"
