"""The BentoML service: ``bentoml serve serving.service:Classifier`` (or ``make serve``).

Serves the model named by ``HOWVITS_MODEL`` (default: the shipped AlterNet, no network needed) through the
predictor interface (``HOWVITS_BACKEND``, default auto: TensorRT or ONNX Runtime CUDA on a GPU, ONNX Runtime
on CPU). Every image request is decoded and validated here (4xx with a JSON message for anything wrong);
model calls from concurrent requests are merged by adaptive batching in the worker
(:mod:`serving.batcher`); the batchable ``/logits`` API (BentoML's dispatcher) serves clients that send
preprocessed arrays. ``GET /model``, ``GET /ui`` and the request-size limit are served by
:class:`serving.middleware.HowvitsMiddleware`.
"""

from __future__ import annotations

import asyncio
import json
import typing
from http import HTTPStatus
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
import torch
from _bentoml_sdk.io_models import IODescriptor
from bentoml.exceptions import BentoMLException, InvalidArgument
from bentoml.validators import DType, Shape
from pydantic import BaseModel, ConfigDict, Field

from export import load_predictor
from export.predictor import TorchPredictor
from hub import postprocess
from hub.preprocess import eval_transform
from hub.samples import sample_images
from serving import state
from serving.batcher import MicroBatcher, batch_size_histogram
from serving.diagnostics import diagnose, figure_png
from serving.images import ImageError, decode_image
from serving.middleware import HowvitsMiddleware
from serving.privacy import redact_paths
from serving.requests import FieldKind, Limits
from serving.settings import ServiceSettings

SETTINGS = ServiceSettings()
INPUT_SHAPE = state.input_shape(SETTINGS.model)
BATCH_SIZES = batch_size_histogram()


class Label(BaseModel):
    label: str
    index: int
    probability: float


class ImageInfo(BaseModel):
    width: int
    height: int
    format: str
    mode: str


class Prediction(BaseModel):
    model: str = Field(examples=["alternet-tiny-cifar10"])
    revision: str = Field(description="weights sha256 (first 12 hex digits) or Hub commit")
    backend: str = Field(examples=["onnxruntime"])
    top_k: list[Label]
    image: ImageInfo


class BatchPrediction(BaseModel):
    model: str
    revision: str
    backend: str
    predictions: list[Prediction]


class Diagnosis(BaseModel):
    prediction: Prediction
    diagnostics: dict[str, Any] = Field(description="spectrum, shape_vs_texture, band_noise, feature_maps")
    figure_png_base64: str = Field("", description="a PNG of the diagnostics, base64 (empty unless figure=true)")


def _fail(err: ImageError, what: str = "") -> BentoMLException:
    return BentoMLException(f"{what}{err}", error_code=err.status)


class _StrictInput(IODescriptor):
    """Request fields are checked strictly: an unknown field is a 400, not silently ignored."""

    model_config = ConfigDict(extra="forbid")


class PredictInput(_StrictInput):
    image: Annotated[Path, Field(description="JPEG, PNG, WebP or BMP, any size, grey/RGB/RGBA/palette")]
    top_k: Annotated[int, Field(description="how many labels to return", examples=[5])] = 5


class PredictBatchInput(_StrictInput):
    images: Annotated[list[Path], Field(description="several images (up to HOWVITS_MAX_IMAGES)")]
    top_k: int = 5


class LogitsInput(_StrictInput):
    batch: Annotated[np.ndarray, DType("float32"), Shape(INPUT_SHAPE),
                     Field(description="normalised images (N, 3, H, W), as /predict feeds after preprocessing")]


class DiagnoseInput(_StrictInput):
    image: Path
    top_k: int = 5
    seed: Annotated[int, Field(ge=0, le=2**31 - 1, description="seed of the noise draws")] = 0
    draws: Annotated[int, Field(description="noise draws per band", examples=[8])] = 8
    strength: Annotated[float, Field(description="noise RMS in [0, 1] pixel units", examples=[0.1])] = 0.1
    figure: Annotated[bool, Field(description="also return a PNG of the diagnostics (base64)")] = False


@bentoml.service(name="howvits", workers=SETTINGS.workers, traffic={"timeout": 120, "max_concurrency": 512},
                 metrics={"enabled": False})  # per-path metrics would grow with every unknown path: serving.telemetry
class Classifier:
    """Image classification with frequency and robustness diagnostics for the paper's model family."""

    def __init__(self) -> None:
        threads = SETTINGS.runtime_threads
        torch.set_num_threads(threads)
        self.ready = False
        self.predictor = load_predictor(SETTINGS.model, SETTINGS.backend, threads, SETTINGS.precision)
        self.config = self.predictor.config
        self.labels = self.config.labels
        self.model_torch = self.predictor.model if isinstance(self.predictor, TorchPredictor) else None
        self.name = redact_paths(SETTINGS.model)
        self.revision = (self.config.weights_sha256 or "unknown")[:12]
        if "@" in self.predictor.source:
            self.revision = self.predictor.source.rsplit("@", 1)[1][:12]
        warm = self.predictor.preprocess([image for image, _ in sample_images()])
        for size in (1, min(SETTINGS.max_batch_size, len(warm))):
            self.predictor.predict(warm[:size])
        self.batcher = MicroBatcher(self.predictor.predict, SETTINGS.max_batch_size, BATCH_SIZES.observe)
        self.diagnose_slots = asyncio.Semaphore(SETTINGS.max_diagnose)
        self.decode_size = int(self.config.input_size[-1] / self.config.crop_pct)
        """JPEGs are decoded at the smallest DCT scale that still covers this (the short side after resizing)."""
        self.ready = True
        state.register(self)

    def __is_ready__(self) -> bool:
        return self.ready

    # -- the model call, batched across requests ---------------------------------------------------------------

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=SETTINGS.max_batch_size,
                 max_latency_ms=SETTINGS.max_latency_ms, input_spec=LogitsInput)
    def logits(self, batch: np.ndarray) -> Annotated[np.ndarray, DType("float32")]:
        """Logits for a normalised batch ``(N, 3, H, W)`` (what /predict feeds after preprocessing)."""
        return self.predictor.predict(batch)

    async def _logits(self, batch: np.ndarray) -> np.ndarray:
        if SETTINGS.batching:
            return await self.batcher(batch)
        return await asyncio.to_thread(self.predictor.predict, batch)

    # -- public endpoints ----------------------------------------------------------------------------------------

    def _check_top_k(self, top_k: int) -> None:
        if not 1 <= top_k <= len(self.labels):
            raise InvalidArgument(f"top_k must be between 1 and {len(self.labels)} (the model's classes), "
                                  f"got {top_k}")

    def _decoded(self, paths: list[Path]) -> tuple[np.ndarray, list[ImageInfo]]:
        """Decode and preprocess one image at a time (one decoded image in memory), under one pixel budget for
        the whole request; runs in a worker thread, off the event loop."""
        budget, rows, infos = SETTINGS.max_pixels, [], []
        for i, path in enumerate(paths):
            try:
                decoded = decode_image(Path(path).read_bytes(), SETTINGS.max_body_bytes, budget, self.decode_size)
            except ImageError as err:
                raise _fail(err, f"image {i}: " if len(paths) > 1 else "") from err
            budget -= decoded.pixels
            rows.append(self.predictor.preprocess([decoded.image]))
            infos.append(ImageInfo(width=decoded.size[0], height=decoded.size[1], format=decoded.format,
                                   mode=decoded.mode))
        return np.concatenate(rows), infos

    def _prediction(self, logits: np.ndarray, info: ImageInfo, k: int) -> Prediction:
        labels = [Label(label=s.label, index=s.index, probability=s.probability)
                  for s in postprocess.top_k(postprocess.probabilities(logits), self.labels, k)]
        return Prediction(model=self.name, revision=self.revision, backend=self.predictor.backend, top_k=labels,
                          image=info)

    @bentoml.api(input_spec=PredictInput)
    async def predict(self, image: Path, top_k: int = 5) -> Prediction:
        """Top-k labels with probabilities for one image."""
        self._check_top_k(top_k)
        batch, infos = await asyncio.to_thread(self._decoded, [image])
        logits = await self._logits(batch)
        return self._prediction(logits[0], infos[0], top_k)

    @bentoml.api(input_spec=PredictBatchInput)
    async def predict_batch(self, images: list[Path], top_k: int = 5) -> BatchPrediction:
        """Top-k labels for several images in one call (their pixels count against one budget)."""
        self._check_top_k(top_k)
        if not 1 <= len(images) <= SETTINGS.max_images:
            raise InvalidArgument(f"send between 1 and {SETTINGS.max_images} images, got {len(images)}")
        batch, infos = await asyncio.to_thread(self._decoded, images)
        logits = await self._logits(batch)
        predictions = [self._prediction(row, info, top_k) for row, info in zip(logits, infos, strict=True)]
        return BatchPrediction(model=self.name, revision=self.revision, backend=self.predictor.backend,
                               predictions=predictions)

    @bentoml.api(input_spec=DiagnoseInput)
    async def diagnose(self, image: Path, top_k: int = 5, seed: int = 0, draws: int = 8, strength: float = 0.1,
                       figure: bool = False) -> Diagnosis:
        """The prediction plus frequency diagnostics: the image's power spectrum and high-frequency share,
        predictions on low-/high-pass versions, robustness to band-limited noise (low, middle, high) and,
        with the torch backend, per-stage feature-map amplitudes. Deterministic for an image and seed. About a
        hundred model calls: at most ``HOWVITS_MAX_DIAGNOSE`` run at once, more are answered 503."""
        self._check_top_k(top_k)
        if not 1 <= draws <= SETTINGS.max_draws:
            raise InvalidArgument(f"draws must be between 1 and {SETTINGS.max_draws}, got {draws}")
        if not 0 < strength <= 1:
            raise InvalidArgument(f"strength must be in (0, 1], got {strength}")
        if self.diagnose_slots.locked():
            raise BentoMLException(BUSY["/diagnose"], error_code=HTTPStatus.SERVICE_UNAVAILABLE)
        async with self.diagnose_slots:
            clean, info, result, png = await asyncio.to_thread(
                self._diagnosis, image, figure, seed=seed, draws=draws, strength=strength, top_k=top_k)
        return Diagnosis(prediction=self._prediction(clean, info, top_k), diagnostics=result,
                         figure_png_base64=png or "")

    def _diagnosis(self, path: Path, figure: bool, **options: Any) -> tuple[np.ndarray, ImageInfo, dict, str | None]:
        """Decode, diagnose and draw, in a worker thread."""
        try:
            decoded = decode_image(Path(path).read_bytes(), SETTINGS.max_body_bytes, SETTINGS.max_pixels,
                                   self.decode_size)
        except ImageError as err:
            raise _fail(err) from err
        info = ImageInfo(width=decoded.size[0], height=decoded.size[1], format=decoded.format, mode=decoded.mode)
        pixels = eval_transform(self.config, normalise=False)(decoded.image)

        def classify(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(self.predictor.predict(x.numpy().astype(np.float32)))

        result = diagnose(classify, self.config, pixels, model=self.model_torch, **options)
        clean = self.predictor.predict(self.predictor.preprocess([decoded.image]))[0]
        if self.model_torch is None:
            result["feature_maps_note"] = "per-stage feature-map amplitudes need the torch backend"
        png = figure_png(result, f"{self.name}: diagnostics") if figure else None
        result.pop("prediction")  # the same as the top-level prediction
        return clean, info, result, png

    def model_info(self) -> dict[str, Any]:
        """What GET /model returns; paths on this machine are reduced to their last component."""
        card_metrics = None
        metrics_file = Path(self.predictor.folder) / "metrics.json" if self.predictor.folder else None
        if metrics_file is not None and metrics_file.is_file():
            card_metrics = json.loads(metrics_file.read_text()).get("metrics")
        return redact_paths({"model": self.name, "revision": self.revision, "config": self.config.to_dict(),
                "card_metrics": card_metrics, **self.predictor.info(),
                "batching": {"enabled": SETTINGS.batching, "max_batch_size": SETTINGS.max_batch_size,
                             "max_latency_ms": SETTINGS.max_latency_ms},
                "limits": {"max_body_bytes": SETTINGS.max_body_bytes, "max_pixels": SETTINGS.max_pixels,
                           "max_images": SETTINGS.max_images, "max_draws": SETTINGS.max_draws,
                           "max_diagnose": SETTINGS.max_diagnose},
                "workers": SETTINGS.workers, "ready": self.ready})


def field_kinds(spec: type[IODescriptor]) -> dict[str, FieldKind]:
    """What each field of an endpoint's input takes, for the request parser (BentoML annotates files)."""

    def bare(annotation: Any) -> Any:
        return typing.get_args(annotation)[0] if typing.get_origin(annotation) is Annotated else annotation

    kinds = {int: FieldKind.INT, float: FieldKind.FLOAT, bool: FieldKind.BOOL, Path: FieldKind.FILE}
    found = {}
    for name, info in spec.model_fields.items():
        annotation = bare(info.annotation)
        many = typing.get_origin(annotation) is list and bare(typing.get_args(annotation)[0]) is Path
        found[name] = FieldKind.FILES if many else kinds[annotation]
    return found


FIELDS = {f"/{name}": field_kinds(spec) for name, spec in
          (("predict", PredictInput), ("predict_batch", PredictBatchInput), ("diagnose", DiagnoseInput))}
LIMITS = Limits(max_body_bytes=SETTINGS.max_body_bytes, max_files=SETTINGS.max_images,
                max_parts=SETTINGS.max_images + 8)
BUSY = {"/diagnose": f"{SETTINGS.max_diagnose} diagnoses are running (HOWVITS_MAX_DIAGNOSE); try again after "
                     f"the Retry-After delay"}
Classifier.add_asgi_middleware(HowvitsMiddleware, limits=LIMITS, fields=FIELDS, batch_shape=INPUT_SHAPE,
                               max_batch=SETTINGS.max_batch_size, busy=BUSY)
