"""Service settings from the environment (``HOWVITS_*``, read by pydantic-settings), with defaults that serve
the three shipped CIFAR-10 models (the AlterNet first) on ONNX Runtime with no network."""

from __future__ import annotations

import os

from pydantic_settings import BaseSettings, SettingsConfigDict


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOWVITS_", frozen=True, protected_namespaces=())

    models: str = "alternet-tiny-cifar10,vit-tiny-cifar10,resnet-tiny-cifar10"
    """Comma-separated short names, Hub repo ids (org/name[@rev]) or model folders, all loaded at start; the
    first is the default of every endpoint."""
    model_repository: str = ""
    """A folder of model folders, each served under its folder name (after the models above)."""
    backend: str = "auto"
    """auto (TensorRT, ONNX Runtime CUDA, ONNX Runtime CPU, torch: first that runs), or one of them."""
    precision: str = "fp32"
    workers: int = 1
    threads: int = 0
    """Runtime threads per worker; 0: CPU cores / workers."""
    batching: bool = True
    max_batch_size: int = 64
    max_latency_ms: int = 1000
    max_body_bytes: int = 10 * 1024 * 1024
    max_pixels: int = 40_000_000
    """Decoded pixels per request, all images together (decompression bombs, memory per request)."""
    max_images: int = 64
    """Images per /predict_batch call."""
    max_draws: int = 32
    """Noise draws per band in /diagnose."""
    max_diagnose: int = 2
    """/diagnose requests running at once per worker (each is about a hundred model calls); more get a 503."""

    @property
    def model_sources(self) -> list[str]:
        return [m.strip() for m in self.models.split(",") if m.strip()]

    @property
    def runtime_threads(self) -> int:
        return self.threads or max(1, _cores() // max(self.workers, 1))
