"""The models one service process serves, by name: each with its own predictor, batcher, warm-up and statistics.

Loaded at start from ``HOWVITS_MODELS`` (and every model folder in ``HOWVITS_MODEL_REPOSITORY``); loaded and
unloaded at run time only when the operator turned repository control on (:mod:`serving.control`), and then only
by a name the operator allowed (the configured models, the hub's catalog of short names, the repository
folder's sub-folders), so a request can never name a URL or a path. A load that fails leaves the other models
serving and tells the client a short reason (the details go to the log); the default model and the last ready
one are not unloaded unless the request insists.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np

from export import load_predictor
from export.errors import BackendUnavailable, ExportError, ParityError
from export.predictor import Predictor
from hub.catalog import load_catalog
from hub.errors import IncompatibleWeightsError, NotAvailableError
from hub.samples import sample_images
from hub.sources import FOREIGN, REPO_ID
from serving.batcher import MicroBatcher, execute
from serving.errors import RequestError
from serving.privacy import redact_paths
from serving.statistics import ModelStatistics, RequestTiming

NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
log = logging.getLogger("howvits.serving")


class UnknownModel(RequestError):
    """A name that is not loaded (or not allowed): the message says which names are."""


def served_name(source: str) -> str:
    """The name a source is served under: a short name as it is, ``org/name@rev`` as ``name``, ``timm:NAME`` (and
    the like) as ``NAME``, a folder as its last component (the Open Inference Protocol puts it in a URL path)."""
    if source in load_catalog():
        name = source
    elif FOREIGN.fullmatch(source):
        name = source.split(":")[1]
    elif (match := REPO_ID.fullmatch(source)) and not Path(source).is_dir():
        name = match["repo"].split("/")[-1]
    else:
        name = Path(source.rstrip("/")).name
    if not NAME.fullmatch(name):
        raise ValueError(f"{source!r} cannot be served under the name {name!r}: use letters, digits, '.', '_', '-'")
    return name


def failure_reason(err: Exception) -> str:
    """What a client is told of a failed load: the kind of failure, never a host, URL or path."""
    if isinstance(err, NotAvailableError):
        return "its weights are not available on this server (not shipped or cached, and not downloadable here)"
    if isinstance(err, IncompatibleWeightsError):
        return "its weights failed their integrity or compatibility check"
    if isinstance(err, ParityError):
        return "its exported graph failed the parity gate against PyTorch"
    if isinstance(err, BackendUnavailable):
        return "the configured backend cannot run it on this server"
    if isinstance(err, ExportError):
        return "its weights could not be fetched or exported on this server"
    return "an internal error (the server log has the details)"


@dataclass
class ServedModel:
    """One loaded model: what every endpoint needs to answer for it."""

    name: str
    predictor: Predictor
    revision: str
    decode_size: int
    """JPEGs are decoded at the smallest DCT scale that still covers this (the short side after resizing)."""
    stats: ModelStatistics
    batcher: MicroBatcher | None = None
    """None when batching is off: each request is its own execution."""

    @property
    def config(self) -> Any:
        return self.predictor.config

    @property
    def labels(self) -> list[str]:
        return self.config.labels

    @property
    def torch_model(self) -> Any | None:
        return getattr(self.predictor, "model", None)

    @property
    def input_shape(self) -> tuple[int, ...]:
        return (-1, *self.config.input_size)

    @contextlib.contextmanager
    def request(self) -> Iterator[RequestTiming]:
        """One inference request to this model: its timing, counted as a success or a failure when it ends."""
        timing = RequestTiming()
        try:
            yield timing
        except BaseException:
            self.stats.finished(timing, ok=False)
            raise
        self.stats.finished(timing, ok=True)

    async def infer(self, batch: np.ndarray, timing: RequestTiming) -> np.ndarray:
        """Logits for this request's batch, merged with concurrent requests' when batching is on."""
        if self.batcher is not None:
            return await self.batcher(batch, timing)
        logits, elapsed = await execute(self.predictor.predict, batch, self.stats)
        timing.compute_infer += elapsed
        return logits


@dataclass(frozen=True)
class LoadOptions:
    backend: str
    threads: int
    precision: str
    max_batch_size: int
    batching: bool = True


def load_model(name: str, source: str, options: LoadOptions) -> ServedModel:
    """Build the predictor, warm it up at batch 1 and at the largest batch the samples make (so the first
    request does not pay for allocation), and give it its statistics and batcher."""
    predictor = load_predictor(source, options.backend, options.threads, options.precision, spinning=False)
    revision = (predictor.config.weights_sha256 or "unknown")[:12]
    if "@" in predictor.source:
        revision = predictor.source.rsplit("@", 1)[1][:12]
    warm = predictor.preprocess([image for image, _ in sample_images()])
    for size in (1, min(options.max_batch_size, len(warm))):
        predictor.predict(warm[:size])
    stats = ModelStatistics(name)
    batcher = MicroBatcher(predictor.predict, stats, options.max_batch_size) if options.batching else None
    return ServedModel(name, predictor, revision, int(predictor.config.input_size[-1] / predictor.config.crop_pct),
                       stats, batcher)


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
    """name -> the short reason its last load failed (the index reports it)."""
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

    @property
    def ready(self) -> bool:
        """Every configured model is loaded."""
        return all(name in self.models for name in self.configured)

    def load_configured(self) -> None:
        for name, source in self.configured.items():
            started = time.perf_counter()
            self.models[name] = load_model(name, source, self.options)
            log.info("loaded %s (%s) in %.1f s", name, self.models[name].predictor.backend,
                     time.perf_counter() - started)

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
                log.exception("loading %s failed", name)
                self.failures[name] = failure_reason(err)
                raise RequestError(f"failed to load {name!r}: {self.failures[name]}",
                                   HTTPStatus.UNPROCESSABLE_ENTITY) from None
            self.failures.pop(name, None)
            self.models[name] = model
            return model

    def unload(self, name: str, force: bool = False) -> None:
        """Unload a model; the default model and the last loaded one only with ``force``."""
        if name not in self.models:
            raise UnknownModel(f"model {redact_paths(name)[:64]!r} is not loaded")
        if not force and (name == self.default or len(self.models) == 1):
            what = "the default model" if name == self.default else "the last loaded model"
            raise RequestError(f"{name!r} is {what}: without it requests that name no model fail; send "
                               f'{{"parameters": {{"force": true}}}} to unload it anyway', HTTPStatus.CONFLICT)
        del self.models[name]  # requests already running keep their reference until they finish

    def describe(self, model: ServedModel) -> dict[str, Any]:
        """One row of ``GET /models``."""
        return redact_paths({"name": model.name, "revision": model.revision, "backend": model.predictor.backend,
                             "precision": model.predictor.precision, "architecture": model.config.architecture,
                             "input_shape": list(model.input_shape), "classes": len(model.labels),
                             "batching": {"enabled": self.options.batching,
                                          "max_batch_size": self.options.max_batch_size},
                             "default": model.name == self.default, "ready": True})
