"""Service settings from the environment (``HOWVITS_*``, read by pydantic-settings), with defaults that serve
the three shipped CIFAR-10 models (the AlterNet first) on ONNX Runtime with no network and with repository
control off."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


class ModelControl(StrEnum):
    """Triton's model control modes that apply here: ``none`` serves what was configured at start;
    ``explicit`` also lets a holder of the control token load and unload allowed models."""

    NONE = "none"
    EXPLICIT = "explicit"


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
    """One image (or one request's tensors) at most; a request's framing may add ``max_framing_bytes``."""
    max_framing_bytes: int = 1 << 20
    timeout_s: float = 120.0
    """A request not answered within this is a 504 (BentoML's traffic timeout). BentoML 1.4 also keeps each
    request's context (a few kilobytes) alive this long (its timeout timer is never cancelled), so a server under
    sustained load holds rate x timeout_s of them before its memory levels off."""
    body_timeout_s: float = 60.0
    """A request body must arrive within this (a client trickling bytes holds nothing longer)."""
    max_pixels: int = 40_000_000
    """Decoded pixels per request, all images together (decompression bombs, memory per request)."""
    max_images: int = 64
    """Images per /predict_batch call."""
    max_draws: int = 32
    """Noise draws per band in /diagnose."""
    max_diagnose: int = 2
    """/diagnose requests running at once per worker (each is about a hundred model calls)."""
    diagnose_queue: int = 32
    """/diagnose requests that may wait for a slot; beyond that, a 503 with Retry-After."""
    diagnose_wait_s: float = 60.0
    """How long a /diagnose request waits for a slot before a 503 with Retry-After."""
    model_control: ModelControl = ModelControl.NONE
    """none (default): the models are what the operator configured; explicit: POST /v2/repository/models/{name}/
    load|unload with the control token (one worker only: each worker holds its own models)."""
    control_token: SecretStr | None = None
    """The bearer token of repository control (or give a file with HOWVITS_CONTROL_TOKEN_FILE)."""
    control_token_file: Path | None = None

    @model_validator(mode="after")
    def _control_is_usable(self) -> ServiceSettings:
        if self.model_control is ModelControl.EXPLICIT:
            if self.workers != 1:
                raise ValueError("HOWVITS_MODEL_CONTROL=explicit needs HOWVITS_WORKERS=1: each worker holds its own "
                                 "models, and a load would change only one of them")
            if len(self.token) < 16:
                raise ValueError("HOWVITS_MODEL_CONTROL=explicit needs a control token of at least 16 characters in "
                                 "HOWVITS_CONTROL_TOKEN or in the file HOWVITS_CONTROL_TOKEN_FILE names (for example "
                                 "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`)")
        return self

    @property
    def token(self) -> str:
        """The control token ('' when none is set)."""
        if self.control_token_file is not None:
            return self.control_token_file.read_text().strip()
        return self.control_token.get_secret_value().strip() if self.control_token is not None else ""

    @property
    def model_sources(self) -> list[str]:
        return [m.strip() for m in self.models.split(",") if m.strip()]

    @property
    def runtime_threads(self) -> int:
        return self.threads or max(1, _cores() // max(self.workers, 1))

    @property
    def max_request_bytes(self) -> int:
        return self.max_body_bytes + self.max_framing_bytes
