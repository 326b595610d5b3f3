"""Service settings, read once from the environment (``HOWVITS_*``), with defaults that serve the shipped
AlterNet on ONNX Runtime with no network."""

from __future__ import annotations

import os
from dataclasses import dataclass, fields


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


@dataclass(frozen=True)
class ServiceSettings:
    model: str = "alternet-tiny-cifar10"
    """Short name, Hub repo id (org/name[@rev]) or model folder."""
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
    """Decoded-image pixel limit (decompression bombs)."""
    max_images: int = 64
    """Images per /predict_batch call."""
    max_draws: int = 32
    """Noise draws per band in /diagnose."""

    @property
    def runtime_threads(self) -> int:
        return self.threads or max(1, _cores() // max(self.workers, 1))

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ServiceSettings:
        environ = os.environ if environ is None else environ
        values = {}
        for f in fields(cls):
            raw = environ.get(f"HOWVITS_{f.name.upper()}")
            if raw is None:
                continue
            if f.type == "bool":
                values[f.name] = raw.strip().lower() in ("1", "true", "yes", "on")
            elif f.type == "int":
                values[f.name] = int(raw)
            else:
                values[f.name] = raw
        return cls(**values)
