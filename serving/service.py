"""The BentoML service: ``bentoml serve serving.service:Classifier`` (or ``make serve``).

Serves the models named by ``HOWVITS_MODELS`` (default: the three shipped CIFAR-10 models, the AlterNet first;
no network needed) and ``HOWVITS_MODEL_REPOSITORY``, each through the predictor interface (``HOWVITS_BACKEND``,
default auto: TensorRT or ONNX Runtime CUDA on a GPU, ONNX Runtime on CPU) with its own batcher and statistics
(:mod:`serving.repository`).

- BentoML's typed endpoints (its OpenAPI schema, ``bentoml.SyncHTTPClient``): ``/predict``, ``/predict_batch``,
  ``/diagnose`` take ``multipart/form-data`` with uploaded images and an optional ``model``; ``/logits`` takes a
  normalised batch for the default model, batched by BentoML's dispatcher. Their inputs are parsed once, under
  explicit limits, by :mod:`serving.inputs`.
- A FastAPI app mounted into the service (routes are methods of the service): ``GET /models``, ``/model``,
  ``/ui``, ``/metrics`` and the Open Inference Protocol under ``/v2`` (:mod:`serving.oip`), with Triton's
  statistics and model configuration; repository control only as :mod:`serving.control` allows.

Importing this module loads no model and no torch (the arbiter process imports it to read its configuration);
each worker loads its models in ``__init__``, on ONNX Runtime without torch.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from http import HTTPStatus
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import bentoml
import numpy as np
from bentoml.validators import DType, Shape
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from PIL import Image
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from hub.postprocess import ClassScore, probabilities, top_k
from hub.preprocess import normalise, pixel_batch
from hub.sources import CONFIG_FILE, resolve
from serving import oip, telemetry
from serving.admission import AdmissionQueue
from serving.bodies import OFF_LOOP_BYTES, load_json, read_body
from serving.control import ControlPolicy
from serving.diagnostics import ImageDiagnostics, diagnose, figure_png
from serving.edge import Edge
from serving.errors import RequestError
from serving.images import decode_image
from serving.inputs import FormInput, JSONInput, Limits
from serving.oip_models import (
    ControlRequest,
    ErrorBody,
    InferRequest,
    InferResponse,
    Live,
    ModelMetadata,
    ModelReady,
    Ready,
    RepositoryIndexEntry,
    RepositoryIndexRequest,
    ServerMetadata,
    StatsResponse,
    inline_schema,
)
from serving.page import Page
from serving.privacy import redact_paths
from serving.repository import LoadOptions, ModelRepository, ServedModel, UnknownModel
from serving.settings import ServiceSettings

SETTINGS = ServiceSettings()
SMALL_JSON_BYTES = 1 << 16
"""Repository requests carry a few parameters at most."""


def input_shape(source: str) -> tuple[int, ...]:
    """``(-1, C, H, W)`` of a model from its config file alone (nothing downloaded or loaded), for the schema."""
    try:
        folder = resolve(source).folder
        if folder is not None and (Path(folder) / CONFIG_FILE).is_file():
            return (-1, *json.loads((Path(folder) / CONFIG_FILE).read_text())["input_size"])
    except Exception:  # a Hub repo not yet downloaded: the schema stays generic, the predictor still checks
        pass
    return (-1, 3, -1, -1)


INPUT_SHAPE = input_shape(SETTINGS.model_sources[0] if SETTINGS.model_sources else "")
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
    diagnostics: ImageDiagnostics
    figure_png_base64: str = Field("", description="a PNG of the diagnostics, base64 (empty unless figure=true)")


class PredictInput(FormInput):
    image: Annotated[Path, Field(description="JPEG, PNG, WebP or BMP, any size, grey/RGB/RGBA/palette")]
    top_k: Annotated[int, Field(description="how many labels to return", examples=[5])] = 5
    model: ModelName = ""


class PredictBatchInput(FormInput):
    images: Annotated[list[Path], Field(description="several images (up to HOWVITS_MAX_IMAGES)")]
    top_k: int = 5
    model: ModelName = ""


class DiagnoseInput(FormInput):
    image: Path
    top_k: int = 5
    seed: Annotated[int, Field(ge=0, le=2**31 - 1, description="seed of the noise draws")] = 0
    draws: Annotated[int, Field(description="noise draws per band", examples=[8])] = 8
    strength: Annotated[float, Field(description="noise RMS in [0, 1] pixel units", examples=[0.1])] = 0.1
    figure: Annotated[bool, Field(description="also return a PNG of the diagnostics (base64)")] = False
    model: ModelName = ""


class LogitsInput(JSONInput):
    batch: Annotated[np.ndarray, DType("float32"), Shape(INPUT_SHAPE),
                     Field(description="normalised images (N, 3, H, W), as /predict feeds after preprocessing")]

    @classmethod
    def from_json(cls, data: Any) -> LogitsInput:
        """``{"batch": N x C x H x W numbers}``, checked strictly: shape, numbers only, finite."""
        expected = f"(N, {', '.join(str(d) for d in INPUT_SHAPE[1:])}) with 1 <= N <= {SETTINGS.max_batch_size}"
        if not isinstance(data, dict) or set(data) != {"batch"}:
            raise RequestError(f'send {{"batch": ...}}: an array of shape {expected}')
        try:
            batch = np.asarray(data["batch"])
        except ValueError:
            raise RequestError(f"batch must be an array of shape {expected}, not a ragged one") from None
        if batch.dtype.kind not in "iuf":
            raise RequestError("batch must hold numbers only (no strings, booleans, objects or huge integers)")
        wanted = (batch.shape[0] if batch.ndim else 0, *INPUT_SHAPE[1:])
        if batch.ndim != 4 or not 1 <= batch.shape[0] <= SETTINGS.max_batch_size or any(
                want > 0 and got != want for got, want in zip(batch.shape, wanted, strict=True)):
            raise RequestError(f"batch must be an array of shape {expected}, got {list(batch.shape)}")
        if not np.isfinite(batch).all() or np.abs(batch).max() > 1e6:
            raise RequestError("batch must hold finite numbers of magnitude at most 1e6")
        return cls.model_construct(batch=batch.astype(np.float32))


app = FastAPI(title="howvits: model information and the Open Inference Protocol", docs_url=None, redoc_url=None,
              openapi_url=None)
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorBody} for status in (400, 401, 403, 404, 409, 413, 415, 422, 503)}


@app.exception_handler(RequestError)
async def _refused(request: Request, err: RequestError) -> JSONResponse:
    return JSONResponse({"error": str(err)}, status_code=err.status, headers=err.headers)


@app.exception_handler(HTTPException)
async def _http_error(request: Request, err: HTTPException) -> JSONResponse:
    return JSONResponse({"error": str(err.detail)}, status_code=err.status_code, headers=err.headers)


@app.exception_handler(RequestValidationError)
async def _invalid(request: Request, err: RequestValidationError) -> JSONResponse:
    what = "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg', '')}" for e in err.errors())
    return JSONResponse({"error": what[:500] or "invalid request"}, status_code=400)


def _version() -> str:
    try:
        return version("howvits")
    except PackageNotFoundError:
        return "0+unknown"


@bentoml.service(name="howvits", workers=SETTINGS.workers,
                 traffic={"timeout": SETTINGS.timeout_s, "max_concurrency": 512},
                 metrics={"enabled": False})  # per-path metrics would grow with every unknown path: serving.edge
@bentoml.asgi_app(app, path="/")
class Classifier:
    """Image classification with frequency and robustness diagnostics for the paper's model family."""

    def __init__(self) -> None:
        self.ready = False
        self.version = _version()
        FormInput.configure(Limits(SETTINGS.max_request_bytes, SETTINGS.max_images, SETTINGS.body_timeout_s))
        options = LoadOptions(SETTINGS.backend, SETTINGS.runtime_threads, SETTINGS.precision, SETTINGS.max_batch_size,
                              SETTINGS.batching)
        self.models = ModelRepository.from_settings(SETTINGS.model_sources, SETTINGS.model_repository, options)
        self.models.load_configured()
        self.diagnoses = AdmissionQueue(SETTINGS.max_diagnose, SETTINGS.diagnose_queue, SETTINGS.diagnose_wait_s,
                                        "/diagnose is busy")
        self.control = ControlPolicy.from_settings(SETTINGS)
        self.page = Page.load()
        self.ready = True

    def __is_ready__(self) -> bool:
        return self.ready and self.models.ready

    # -- the typed endpoints -------------------------------------------------------------------------------------

    @bentoml.api(batchable=True, batch_dim=0, max_batch_size=SETTINGS.max_batch_size,
                 max_latency_ms=SETTINGS.max_latency_ms, input_spec=LogitsInput)
    def logits(self, batch: np.ndarray) -> Annotated[np.ndarray, DType("float32")]:
        """Logits of the default model for a normalised batch ``(N, 3, H, W)`` (what /predict feeds after
        preprocessing; other models: ``POST /v2/models/{name}/infer``)."""
        served = self.models.get()
        started = time.perf_counter_ns()
        logits = served.predictor.predict(batch)
        served.stats.executed(len(batch), time.perf_counter_ns() - started)
        return logits

    def _model(self, name: str, top: int) -> ServedModel:
        served = self.models.get(name)
        if not 1 <= top <= len(served.labels):
            raise RequestError(f"top_k must be between 1 and {len(served.labels)} (the model's classes), got {top}")
        return served

    def _images(self, served: ServedModel, files: list[bytes]) -> Iterator[tuple[Image.Image, ImageInfo]]:
        """Decode one image at a time (one decoded image in memory) under one pixel budget for the whole
        request; in a worker thread."""
        budget = SETTINGS.max_pixels
        for i, data in enumerate(files):
            try:
                decoded = decode_image(data, SETTINGS.max_body_bytes, budget, served.decode_size)
            except RequestError as err:
                raise RequestError(f"image {i}: {err}" if len(files) > 1 else str(err), err.status) from None
            budget -= decoded.pixels
            yield decoded.image, ImageInfo(width=decoded.size[0], height=decoded.size[1], format=decoded.format,
                                           mode=decoded.mode)

    def _batch(self, served: ServedModel, files: list[bytes]) -> tuple[np.ndarray, list[ImageInfo]]:
        rows, infos = [], []
        for image, info in self._images(served, files):
            rows.append(served.predictor.preprocess([image]))
            infos.append(info)
        return np.concatenate(rows), infos

    async def _classify(self, served: ServedModel, files: list[bytes], k: int) -> list[Prediction]:
        with served.request() as timing:
            started = time.perf_counter_ns()
            batch, infos = await asyncio.to_thread(self._batch, served, files)
            timing.compute_input += time.perf_counter_ns() - started
            logits = await served.infer(batch, timing)
            started = time.perf_counter_ns()
            predictions = [self._prediction(served, row, info, k) for row, info in zip(logits, infos, strict=True)]
            timing.compute_output += time.perf_counter_ns() - started
        return predictions

    @staticmethod
    def _prediction(served: ServedModel, logits: np.ndarray, info: ImageInfo, k: int) -> Prediction:
        labels = [Label(label=s.label, index=s.index, probability=s.probability)
                  for s in top_k(probabilities(logits), served.labels, k)]
        return Prediction(model=served.name, revision=served.revision, backend=served.predictor.backend,
                          top_k=labels, image=info)

    @bentoml.api(input_spec=PredictInput)
    async def predict(self, image: bytes, top_k: int = 5, model: str = "") -> Prediction:
        """Top-k labels with probabilities for one image."""
        return (await self._classify(self._model(model, top_k), [image], top_k))[0]

    @bentoml.api(input_spec=PredictBatchInput)
    async def predict_batch(self, images: list[bytes], top_k: int = 5, model: str = "") -> BatchPrediction:
        """Top-k labels for several images in one call (their pixels count against one budget)."""
        served = self._model(model, top_k)
        if not 1 <= len(images) <= SETTINGS.max_images:
            raise RequestError(f"send between 1 and {SETTINGS.max_images} images, got {len(images)}")
        predictions = await self._classify(served, images, top_k)
        return BatchPrediction(model=served.name, revision=served.revision, backend=served.predictor.backend,
                               predictions=predictions)

    @bentoml.api(input_spec=DiagnoseInput)
    async def diagnose(self, image: bytes, top_k: int = 5, seed: int = 0, draws: int = 8, strength: float = 0.1,
                       figure: bool = False, model: str = "") -> Diagnosis:
        """The prediction plus frequency diagnostics: the image's power spectrum and high-frequency share,
        predictions on low-/high-pass versions, robustness to band-limited noise (low, middle, high) and,
        with the torch backend, per-stage feature-map amplitudes. Deterministic for an image and seed. About a
        hundred model calls: ``HOWVITS_MAX_DIAGNOSE`` run at once per worker and up to ``HOWVITS_DIAGNOSE_QUEUE``
        wait for a slot; beyond that, a 503 with Retry-After."""
        served = self._model(model, top_k)
        if not 0 <= seed <= 2**31 - 1:
            raise RequestError(f"seed must be between 0 and {2**31 - 1}, got {seed}")
        if not 1 <= draws <= SETTINGS.max_draws:
            raise RequestError(f"draws must be between 1 and {SETTINGS.max_draws}, got {draws}")
        if not 0 < strength <= 1:
            raise RequestError(f"strength must be in (0, 1], got {strength}")
        try:
            async with self.diagnoses.admitted():
                with served.request() as timing:
                    started = time.perf_counter_ns()
                    result, prediction, png = await asyncio.to_thread(
                        self._diagnosis, served, image, top_k, figure, seed=seed, draws=draws, strength=strength)
                    timing.compute_infer += time.perf_counter_ns() - started
        except RequestError as err:
            if err.status != HTTPStatus.SERVICE_UNAVAILABLE:
                raise
            return JSONResponse({"error": str(err)}, status_code=err.status, headers=err.headers)  # BentoML hides 5xx
        return Diagnosis(prediction=prediction, diagnostics=result, figure_png_base64=png)

    def _diagnosis(self, served: ServedModel, data: bytes, k: int, figure: bool,
                   **options: Any) -> tuple[ImageDiagnostics, Prediction, str]:
        """Decode, diagnose and draw, in a worker thread."""
        image, info = next(self._images(served, [data]))
        pixels = pixel_batch([image], served.config)
        feature_maps = None
        if served.torch_model is not None:
            from serving.feature_maps import stage_amplitudes

            feature_maps = stage_amplitudes(served.torch_model, normalise(pixels, served.config))
        result = diagnose(served.predictor.predict, served.config, pixels[0], feature_maps=feature_maps, **options)
        prediction = self._prediction(served, served.predictor.predict(normalise(pixels, served.config))[0], info, k)
        scores = [ClassScore(p.label, p.index, p.probability) for p in prediction.top_k]
        png = figure_png(result, scores, f"{served.name}: diagnostics") if figure else ""
        return result, prediction, png

    # -- model information, the page and metrics (FastAPI routes, methods of the service) -----------------------

    @app.get("/models", responses=ERRORS)
    async def list_models(self) -> dict[str, Any]:
        """Every loaded model with backend, precision, batching and readiness."""
        return {"default": self.models.default, "ready": self.__is_ready__(),
                "models": [self.models.describe(m) for m in self.models.models.values()]}

    @app.get("/model", responses=ERRORS)
    async def model_info(self, model: str = "") -> dict[str, Any]:
        """One model (default the first): config, card metrics, parity, providers, threads, limits; paths on this
        machine are reduced to their last component."""
        try:
            served = self.models.get(model)
        except UnknownModel as err:
            raise RequestError(str(err), HTTPStatus.NOT_FOUND) from None
        card_metrics = None
        metrics_file = Path(served.predictor.folder) / "metrics.json" if served.predictor.folder else None
        if metrics_file is not None and metrics_file.is_file():
            card_metrics = json.loads(metrics_file.read_text()).get("metrics")
        return redact_paths({
            "model": served.name, "revision": served.revision, "config": served.config.to_dict(),
            "card_metrics": card_metrics, **served.predictor.info(),
            "batching": {"enabled": SETTINGS.batching, "max_batch_size": SETTINGS.max_batch_size,
                         "max_latency_ms": SETTINGS.max_latency_ms},
            "limits": {"max_body_bytes": SETTINGS.max_body_bytes, "max_pixels": SETTINGS.max_pixels,
                       "max_images": SETTINGS.max_images, "max_draws": SETTINGS.max_draws,
                       "max_diagnose": SETTINGS.max_diagnose, "diagnose_queue": SETTINGS.diagnose_queue},
            "model_control": SETTINGS.model_control.value, "workers": SETTINGS.workers,
            "ready": self.__is_ready__()})

    @app.get("/ui", include_in_schema=False)
    async def ui(self) -> Response:
        return Response(self.page.body, media_type="text/html; charset=utf-8",
                        headers={"Content-Security-Policy": self.page.policy})

    @app.get("/metrics", include_in_schema=False)
    async def metrics(self) -> Response:
        body, media = telemetry.exposition()
        return Response(body, media_type=media)

    # -- the Open Inference Protocol -------------------------------------------------------------------------------

    @app.get("/v2", response_model=ServerMetadata)
    async def server_metadata(self) -> dict[str, Any]:
        return {"name": "howvits", "version": self.version, "extensions": oip.EXTENSIONS}

    @app.get("/v2/health/live", response_model=Live)
    async def live(self) -> dict[str, bool]:
        return {"live": True}

    @app.get("/v2/health/ready", response_model=Ready, responses={503: {"model": Ready}})
    async def server_ready(self) -> JSONResponse:
        ready = self.__is_ready__()
        return JSONResponse({"ready": ready}, status_code=200 if ready else 503)

    @app.get("/v2/models/stats", response_model=StatsResponse, responses=ERRORS)
    async def all_statistics(self) -> dict[str, Any]:
        """Triton's statistics extension for every loaded model."""
        return {"model_stats": [m.stats.to_triton(oip.VERSION) for m in self.models.models.values()]}

    def _served(self, name: str, version: str | None) -> ServedModel:
        oip.version_of(name, version)
        try:
            return self.models.get(name)
        except UnknownModel as err:
            raise RequestError(f"Request for unknown model: {err}") from None

    @app.get("/v2/models/{name}/stats", response_model=StatsResponse, responses=ERRORS)
    @app.get("/v2/models/{name}/versions/{version}/stats", response_model=StatsResponse, responses=ERRORS)
    async def statistics(self, name: str, version: str | None = None) -> dict[str, Any]:
        return {"model_stats": [self._served(name, version).stats.to_triton(oip.VERSION)]}

    @app.get("/v2/models/{name}/config", responses=ERRORS)
    @app.get("/v2/models/{name}/versions/{version}/config", responses=ERRORS)
    async def model_config(self, name: str, version: str | None = None) -> dict[str, Any]:
        """Triton's model configuration extension."""
        return oip.model_config(self._served(name, version), SETTINGS.max_batch_size, SETTINGS.batching)

    @app.get("/v2/models/{name}/ready", response_model=ModelReady, responses=ERRORS)
    @app.get("/v2/models/{name}/versions/{version}/ready", response_model=ModelReady, responses=ERRORS)
    async def model_ready(self, name: str, version: str | None = None) -> dict[str, Any]:
        return {"name": self._served(name, version).name, "ready": True}

    @app.get("/v2/models/{name}", response_model=ModelMetadata, responses=ERRORS)
    @app.get("/v2/models/{name}/versions/{version}", response_model=ModelMetadata, responses=ERRORS)
    async def model_metadata(self, name: str, version: str | None = None) -> dict[str, Any]:
        return oip.model_metadata(self._served(name, version))

    @app.post("/v2/models/{name}/infer", responses={200: {"model": InferResponse}, **ERRORS},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": inline_schema(InferRequest)}}}})
    @app.post("/v2/models/{name}/versions/{version}/infer", responses={200: {"model": InferResponse}, **ERRORS},
              openapi_extra={"requestBody": {"required": True, "content": {
                  "application/json": {"schema": inline_schema(InferRequest)}}}})
    async def infer(self, name: str, request: Request, version: str | None = None) -> Response:
        """Inference on ``input`` (FP32, normalised) or ``image`` (BYTES, encoded images), JSON or with Triton's
        binary tensor data (``Inference-Header-Content-Length``)."""
        served = self._served(name, version)
        body = await read_body(request.receive, request.headers, SETTINGS.max_request_bytes, SETTINGS.body_timeout_s)
        header_length = request.headers.get(oip.HEADER_LENGTH.decode())

        def parse() -> oip.InferRequest:
            header, binary = oip.split_body(body, header_length)
            return oip.parse_infer(header, binary, served, SETTINGS.max_batch_size, SETTINGS.max_images)

        with served.request() as timing:
            started = time.perf_counter_ns()
            parsed = await asyncio.to_thread(parse) if len(body) >= OFF_LOOP_BYTES else parse()
            batch = parsed.array
            if batch is None:
                batch, _ = await asyncio.to_thread(self._batch, served, parsed.images)
            timing.compute_input += time.perf_counter_ns() - started
            logits = await served.infer(batch, timing)
            started = time.perf_counter_ns()
            payload, head_length = oip.infer_response(served, parsed, logits)
            timing.compute_output += time.perf_counter_ns() - started
        if head_length is None:
            return Response(payload, media_type="application/json")
        return Response(payload, media_type="application/octet-stream",
                        headers={oip.HEADER_LENGTH.decode(): head_length.decode()})

    # -- the model repository extension ----------------------------------------------------------------------------

    async def _small_json(self, request: Request) -> dict[str, Any]:
        raw = await read_body(request.receive, request.headers, SMALL_JSON_BYTES, SETTINGS.body_timeout_s)
        if not raw.strip():
            return {}
        payload = await load_json(raw)
        if not isinstance(payload, dict):
            raise RequestError("the body must be a JSON object")
        return payload

    @app.post("/v2/repository/index", response_model=list[RepositoryIndexEntry], responses=ERRORS,
              openapi_extra={"requestBody": {"content": {
                  "application/json": {"schema": inline_schema(RepositoryIndexRequest)}}}})
    async def repository_index(self, request: Request) -> list[dict[str, Any]]:
        """Every model this server may load, with its state (and a short reason for a failed load)."""
        ready_only = (await self._small_json(request)).get("ready", False)
        if not isinstance(ready_only, bool):
            raise RequestError("ready must be true or false")
        return [row for row in self.models.index() if row["state"] == "READY" or not ready_only]

    async def _control(self, request: Request, allowed: set[str]) -> dict[str, Any]:
        self.control.check(request.headers)
        parameters = (await self._small_json(request)).get("parameters") or {}
        if not isinstance(parameters, dict) or not set(parameters) <= allowed:
            raise RequestError("load parameters (config or file overrides) are not accepted: models load from the "
                               "operator's own sources" if not allowed else
                               f"the parameters here are {sorted(allowed)}")
        return parameters

    @app.post("/v2/repository/models/{name}/load", responses=ERRORS, openapi_extra={"requestBody": {"content": {
        "application/json": {"schema": inline_schema(ControlRequest)}}}})
    async def load(self, name: str, request: Request) -> dict[str, Any]:
        """Load (or reload) a model the operator allowed; needs repository control on and its token."""
        await self._control(request, set())
        await self.models.load(name)
        return {}

    @app.post("/v2/repository/models/{name}/unload", responses=ERRORS, openapi_extra={"requestBody": {"content": {
        "application/json": {"schema": inline_schema(ControlRequest)}}}})
    async def unload(self, name: str, request: Request) -> dict[str, Any]:
        """Unload a model; needs repository control on and its token (the default or last model: ``force``)."""
        parameters = await self._control(request, {"force", "unload_dependents"})
        force = parameters.get("force", False)
        if not isinstance(force, bool) or not isinstance(parameters.get("unload_dependents", False), bool):
            raise RequestError("force and unload_dependents are true or false (no model here has dependents)")
        self.models.unload(name, force)
        return {}


Classifier.add_asgi_middleware(Edge)
