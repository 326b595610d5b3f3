"""The models one service process serves, by name: each with its own predictor, batcher and warm-up.

Loaded at start from ``HOWVITS_MODELS`` (and every model folder in ``HOWVITS_MODEL_REPOSITORY``); loaded and
unloaded at run time only by a name the operator allowed (the configured models, the hub's catalog of short
names, the repository folder's sub-folders), so a request can never name a URL or a path. A load that fails
leaves the other models serving.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from export import load_predictor
from export.predictor import Predictor, TorchPredictor
from hub.catalog import load_catalog
from hub.pretrained import REPO_ID
from hub.samples import sample_images
from serving.batcher import MicroBatcher
from serving.privacy import redact_paths

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


class UnknownModel(LookupError):
    """A name that is not loaded (or not allowed): the message says which names are."""


def served_name(source: str) -> str:
    """The name a source is served under: a short name as it is, ``org/name@rev`` as ``name``, a folder as its
    last component (the Open Inference Protocol puts it in a URL path)."""
    match = REPO_ID.fullmatch(source)
    name = match["repo"].split("/")[-1] if match and not Path(source).is_dir() else Path(source.rstrip("/")).name
    if not NAME.fullmatch(name):
        raise ValueError(f"{source!r} cannot be served under the name {name!r}: use letters, digits, '.', '_', '-'")
    return name


@dataclass
class ServedModel:
    """One loaded model: what every endpoint needs to answer for it."""

    name: str
    predictor: Predictor
    batcher: MicroBatcher
    revision: str
    decode_size: int
    """JPEGs are decoded at the smallest DCT scale that still covers this (the short side after resizing)."""

    @property
    def config(self) -> Any:
        return self.predictor.config

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    @property
    def torch_model(self) -> Any | None:
        return self.predictor.model if isinstance(self.predictor, TorchPredictor) else None

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (-1, *self.config.input_size)


@dataclass(frozen=True)
class LoadOptions:
    backend: str
    threads: int
    precision: str
    max_batch_size: int
    observe: Callable[[int], None] | None = None


def load_model(name: str, source: str, options: LoadOptions) -> ServedModel:
    """Build the predictor, warm it up at batch 1 and at the largest batch the samples make (so the first
    request does not pay for allocation), and give it its own batcher."""
    predictor = load_predictor(source, options.backend, options.threads, options.precision)
    revision = (predictor.config.weights_sha256 or "unknown")[:12]
    if "@" in predictor.source:
        revision = predictor.source.rsplit("@", 1)[1][:12]
    warm = predictor.preprocess([image for image, _ in sample_images()])
    for size in (1, min(options.max_batch_size, len(warm))):
        predictor.predict(warm[:size])
    batcher = MicroBatcher(predictor.predict, options.max_batch_size, options.observe)
    return ServedModel(name, predictor, batcher, revision,
                       int(predictor.config.input_size[-1] / predictor.config.crop_pct))


@dataclass
class ModelRepository:
    """Loaded models by name (the first configured one is the default) and the names that may be loaded."""

    configured: dict[str, str]
    """served name -> source, in the order given; loaded at start."""
    allowed: dict[str, str]
    """every name a load request may use -> its source."""
    options: LoadOptions
    models: dict[str, ServedModel] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    """name -> why its last load failed (the index reports it)."""
    _lock: asyncio.Lock | None = None

    @classmethod
    def from_settings(cls, sources: list[str], repository: str, options: LoadOptions) -> ModelRepository:
        configured: dict[str, str] = {}
        folders = sorted(p for p in Path(repository).iterdir() if (p / "config.json").is_file()) if repository else []
        for source in [*sources, *map(str, folders)]:
            name = served_name(source)
            if name in configured and configured[name] != source:
                raise ValueError(f"two models would be served as {name!r}: {configured[name]!r} and {source!r}")
            configured[name] = source
        if not configured:
            raise ValueError("no models to serve: set HOWVITS_MODELS or HOWVITS_MODEL_REPOSITORY")
        allowed = {name: name for name in load_catalog()} | configured
        return cls(configured, allowed, options)

    @property
    def default(self) -> str:
        return next(iter(self.configured))

    def load_configured(self) -> None:
        for name, source in self.configured.items():
            self.models[name] = load_model(name, source, self.options)

    def get(self, name: str | None = None) -> ServedModel:
        name = name or self.default
        model = self.models.get(name)
        if model is None:
            raise UnknownModel(f"model {redact_paths(name)[:64]!r} is not loaded; loaded: "
                               f"{', '.join(self.models) or 'none'}")
        return model

    def index(self) -> list[dict[str, Any]]:
        """Every loadable name with its state, as Triton's repository index lists them."""
        rows = []
        for name in sorted(self.allowed):
            row: dict[str, Any] = {"name": name, "version": "1",
                                   "state": "READY" if name in self.models else "UNAVAILABLE"}
            if name in self.failures and name not in self.models:
                row["reason"] = self.failures[name]
            rows.append(row)
        return rows

    async def load(self, name: str) -> ServedModel:
        """Load (or reload) an allowed name off the event loop; the models already loaded keep serving."""
        if name not in self.allowed:
            raise UnknownModel(f"{redact_paths(name)[:64]!r} is not a model this server may load; it may load: "
                               f"{', '.join(sorted(self.allowed))}")
        self._lock = self._lock or asyncio.Lock()
        async with self._lock:
            try:
                model = await asyncio.to_thread(load_model, name, self.allowed[name], self.options)
            except Exception as err:  # a failed load is reported, never fatal to the others
                self.failures[name] = redact_paths(f"{type(err).__name__}: {err}")[:500]
                raise
            self.failures.pop(name, None)
            self.models[name] = model
            return model

    def unload(self, name: str) -> None:
        if name not in self.models:
            raise UnknownModel(f"model {redact_paths(name)[:64]!r} is not loaded")
        del self.models[name]  # requests already running keep their reference until they finish

    def describe(self, model: ServedModel, batching: bool) -> dict[str, Any]:
        """One row of ``GET /models``."""
        return redact_paths({"name": model.name, "revision": model.revision, "backend": model.predictor.backend,
                             "precision": model.predictor.precision, "architecture": model.config.architecture,
                             "input_shape": list(model.input_shape), "classes": len(model.labels),
                             "batching": {"enabled": batching, "max_batch_size": self.options.max_batch_size},
                             "default": model.name == self.default, "ready": True})

