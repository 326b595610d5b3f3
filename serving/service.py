"""The BentoML service: ``bentoml serve serving.service:Classifier`` (or ``make serve``).

Serves the models named by ``HOWVITS_MODELS`` (default: the three shipped CIFAR-10 models, the AlterNet first;
no network needed) and ``HOWVITS_MODEL_REPOSITORY``, each through the predictor interface (``HOWVITS_BACKEND``,
default auto: TensorRT or ONNX Runtime CUDA on a GPU, ONNX Runtime on CPU) with its own batcher
(:mod:`serving.repository`). Every image endpoint takes an optional ``model`` (default: the first). Every image
request is decoded and validated here (4xx with a JSON message for anything wrong); model calls from concurrent
requests are merged by adaptive batching in the worker (:mod:`serving.batcher`); the batchable ``/logits`` API
(BentoML's dispatcher, the default model) serves clients that send preprocessed arrays. ``GET /model``,
``GET /models``, ``GET /ui``, the Open Inference Protocol under ``/v2`` (:mod:`serving.oip`) and the request-size
limit are served by :class:`serving.middleware.HowvitsMiddleware`.
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

from hub import postprocess
from hub.preprocess import eval_transform
from serving import state
from serving.batcher import batch_size_histogram
from serving.diagnostics import diagnose, figure_png
from serving.images import ImageError, decode_image
from serving.middleware import HowvitsMiddleware
from serving.oip import Limits as ProtocolLimits
from serving.privacy import redact_paths
from serving.repository import LoadOptions, ModelRepository, ServedModel, UnknownModel
from serving.requests import FieldKind, Limits, RequestError
from serving.settings import ServiceSettings

SETTINGS = ServiceSettings()
INPUT_SHAPE = state.input_shape(SETTINGS.model_sources[0] if SETTINGS.model_sources else "")
BATCH_SIZES = batch_size_histogram()
ModelName = Annotated[str, Field(description="a loaded model's name (GET /models); default: the first")]


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
    model: ModelName = ""


class PredictBatchInput(_StrictInput):
    images: Annotated[list[Path], Field(description="several images (up to HOWVITS_MAX_IMAGES)")]
    top_k: int = 5
    model: ModelName = ""


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
    model: ModelName = ""


@bentoml.service(name="howvits", workers=SETTINGS.workers, traffic={"timeout": 120, "max_concurrency": 512},
                 metrics={"enabled": False})  # per-path metrics would grow with every unknown path: serving.telemetry
class Classifier:
    """Image classification with frequency and robustness diagnostics for the paper's model family."""

    def __init__(self) -> None:
        torch.set_num_threads(SETTINGS.runtime_threads)
        self.ready = False
        self.version = _version()
        options = LoadOptions(SETTINGS.backend, SETTINGS.runtime_threads, SETTINGS.precision, SETTINGS.max_batch_size,
                              BATCH_SIZES.observe)
        self.models = ModelRepository.from_settings(SETTINGS.model_sources, SETTINGS.model_repository, options)
        self.models.load_configured()
        self.diagnose_slots = asyncio.Semaphore(SETTINGS.max_diagnose)
        self.ready = True
        state.register(self)

    def __is_ready__(self) -> bool:
        return self.ready

    # -- the model call, batched across requests ---------------------------------------------------------------

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=SETTINGS.max_batch_size,
                 max_latency_ms=SETTINGS.max_latency_ms, input_spec=LogitsInput)
    def logits(self, batch: np.ndarray) -> Annotated[np.ndarray, DType("float32")]:
        """Logits of the default model for a normalised batch ``(N, 3, H, W)`` (what /predict feeds after
        preprocessing; other models: ``POST /v2/models/{name}/infer``)."""
        return self.models.get().predictor.predict(batch)

    async def batched_logits(self, model: ServedModel, batch: np.ndarray) -> np.ndarray:
        """One model call for this request, merged with concurrent ones when batching is on."""
        if SETTINGS.batching:
            return await model.batcher(batch)
        return await asyncio.to_thread(model.predictor.predict, batch)

    def _model(self, name: str) -> ServedModel:
        try:
            return self.models.get(name)
        except UnknownModel as err:
            raise InvalidArgument(str(err)) from None

    # -- public endpoints ----------------------------------------------------------------------------------------

    @staticmethod
    def _check_top_k(model: ServedModel, top_k: int) -> None:
        if not 1 <= top_k <= len(model.labels):
            raise InvalidArgument(f"top_k must be between 1 and {len(model.labels)} (the model's classes), "
                                  f"got {top_k}")

    def _decoded(self, model: ServedModel, files: list[bytes]) -> tuple[np.ndarray, list[ImageInfo]]:
        """Decode and preprocess one image at a time (one decoded image in memory), under one pixel budget for
        the whole request; runs in a worker thread, off the event loop."""
        budget, rows, infos = SETTINGS.max_pixels, [], []
        for i, data in enumerate(files):
            try:
                decoded = decode_image(data, SETTINGS.max_body_bytes, budget, model.decode_size)
            except ImageError as err:
                raise _fail(err, f"image {i}: " if len(files) > 1 else "") from err
            budget -= decoded.pixels
            rows.append(model.predictor.preprocess([decoded.image]))
            infos.append(ImageInfo(width=decoded.size[0], height=decoded.size[1], format=decoded.format,
                                   mode=decoded.mode))
        return np.concatenate(rows), infos

    async def decode_images(self, model: ServedModel, files: list[bytes]) -> np.ndarray:
        """Encoded images as the model's normalised batch (the Open Inference Protocol's ``image`` input)."""
        try:
            batch, _ = await asyncio.to_thread(self._decoded, model, files)
        except BentoMLException as err:
            raise RequestError(err.message, err.error_code) from None
        return batch

    def _prediction(self, model: ServedModel, logits: np.ndarray, info: ImageInfo, k: int) -> Prediction:
        labels = [Label(label=s.label, index=s.index, probability=s.probability)
                  for s in postprocess.top_k(postprocess.probabilities(logits), model.labels, k)]
        return Prediction(model=model.name, revision=model.revision, backend=model.predictor.backend, top_k=labels,
                          image=info)

    @bentoml.api(input_spec=PredictInput)
    async def predict(self, image: Path, top_k: int = 5, model: str = "") -> Prediction:
        """Top-k labels with probabilities for one image."""
        served = self._model(model)
        self._check_top_k(served, top_k)
        batch, infos = await asyncio.to_thread(self._decoded, served, [Path(image).read_bytes()])
        logits = await self.batched_logits(served, batch)
        return self._prediction(served, logits[0], infos[0], top_k)

    @bentoml.api(input_spec=PredictBatchInput)
    async def predict_batch(self, images: list[Path], top_k: int = 5, model: str = "") -> BatchPrediction:
        """Top-k labels for several images in one call (their pixels count against one budget)."""
        served = self._model(model)
        self._check_top_k(served, top_k)
        if not 1 <= len(images) <= SETTINGS.max_images:
            raise InvalidArgument(f"send between 1 and {SETTINGS.max_images} images, got {len(images)}")
        batch, infos = await asyncio.to_thread(self._decoded, served, [Path(p).read_bytes() for p in images])
        logits = await self.batched_logits(served, batch)
        predictions = [self._prediction(served, row, info, top_k) for row, info in zip(logits, infos, strict=True)]
        return BatchPrediction(model=served.name, revision=served.revision, backend=served.predictor.backend,
                               predictions=predictions)

    @bentoml.api(input_spec=DiagnoseInput)
    async def diagnose(self, image: Path, top_k: int = 5, seed: int = 0, draws: int = 8, strength: float = 0.1,
                       figure: bool = False, model: str = "") -> Diagnosis:
        """The prediction plus frequency diagnostics: the image's power spectrum and high-frequency share,
        predictions on low-/high-pass versions, robustness to band-limited noise (low, middle, high) and,
        with the torch backend, per-stage feature-map amplitudes. Deterministic for an image and seed. About a
        hundred model calls: at most ``HOWVITS_MAX_DIAGNOSE`` run at once, more are answered 503."""
        served = self._model(model)
        self._check_top_k(served, top_k)
        if not 1 <= draws <= SETTINGS.max_draws:
            raise InvalidArgument(f"draws must be between 1 and {SETTINGS.max_draws}, got {draws}")
        if not 0 < strength <= 1:
            raise InvalidArgument(f"strength must be in (0, 1], got {strength}")
        if self.diagnose_slots.locked():
            raise BentoMLException(BUSY["/diagnose"], error_code=HTTPStatus.SERVICE_UNAVAILABLE)
        async with self.diagnose_slots:
            clean, info, result, png = await asyncio.to_thread(
                self._diagnosis, served, image, figure, seed=seed, draws=draws, strength=strength, top_k=top_k)
        return Diagnosis(prediction=self._prediction(served, clean, info, top_k), diagnostics=result,
                         figure_png_base64=png or "")

    def _diagnosis(self, served: ServedModel, path: Path, figure: bool,
                   **options: Any) -> tuple[np.ndarray, ImageInfo, dict, str | None]:
        """Decode, diagnose and draw, in a worker thread."""
        try:
            decoded = decode_image(Path(path).read_bytes(), SETTINGS.max_body_bytes, SETTINGS.max_pixels,
                                   served.decode_size)
        except ImageError as err:
            raise _fail(err) from err
        info = ImageInfo(width=decoded.size[0], height=decoded.size[1], format=decoded.format, mode=decoded.mode)
        pixels = eval_transform(served.config, normalise=False)(decoded.image)

        def classify(x: torch.Tensor) -> torch.Tensor:
            return torch.from_numpy(served.predictor.predict(x.numpy().astype(np.float32)))

        result = diagnose(classify, served.config, pixels, model=served.torch_model, **options)
        clean = served.predictor.predict(served.predictor.preprocess([decoded.image]))[0]
        if served.torch_model is None:
            result["feature_maps_note"] = "per-stage feature-map amplitudes need the torch backend"
        png = figure_png(result, f"{served.name}: diagnostics") if figure else None
        result.pop("prediction")  # the same as the top-level prediction
        return clean, info, result, png

    def models_info(self) -> dict[str, Any]:
        """What GET /models returns: every loaded model with backend, precision, batching and readiness."""
        return {"default": self.models.default, "ready": self.ready,
                "models": [self.models.describe(m, SETTINGS.batching) for m in self.models.models.values()]}

    def model_info(self, name: str = "") -> dict[str, Any]:
        """What GET /model returns (``?model=`` names one, default the first); paths on this machine are reduced
        to their last component."""
        served = self.models.get(name)
        card_metrics = None
        metrics_file = Path(served.predictor.folder) / "metrics.json" if served.predictor.folder else None
        if metrics_file is not None and metrics_file.is_file():
            card_metrics = json.loads(metrics_file.read_text()).get("metrics")
        return redact_paths({"model": served.name, "revision": served.revision, "config": served.config.to_dict(),
                "card_metrics": card_metrics, **served.predictor.info(),
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

    kinds = {int: FieldKind.INT, float: FieldKind.FLOAT, bool: FieldKind.BOOL, Path: FieldKind.FILE,
             str: FieldKind.NAME}
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
PROTOCOL_LIMITS = ProtocolLimits(max_request_bytes=LIMITS.max_request_bytes, max_batch=SETTINGS.max_batch_size,
                                 max_images=SETTINGS.max_images, can_control=SETTINGS.workers == 1)
BUSY = {"/diagnose": f"{SETTINGS.max_diagnose} diagnoses are running (HOWVITS_MAX_DIAGNOSE); try again after "
                     f"the Retry-After delay"}
Classifier.add_asgi_middleware(HowvitsMiddleware, limits=LIMITS, fields=FIELDS, batch_shape=INPUT_SHAPE,
                               max_batch=SETTINGS.max_batch_size, busy=BUSY, protocol=PROTOCOL_LIMITS)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("howvits")
    except PackageNotFoundError:
        return "0+unknown"
