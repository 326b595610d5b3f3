"""One predictor interface over every runtime: ``load_predictor(source, backend) -> Predictor``.

A predictor takes a normalised float32 batch ``(N, 3, H, W)`` and returns logits ``(N, classes)``;
:meth:`Predictor.preprocess` turns PIL images into that batch with the model's own config (the hub's
single preprocessing). ``backend="auto"`` picks the fastest runtime that really runs here (TensorRT, then
ONNX Runtime on CUDA, then ONNX Runtime on CPU, then PyTorch) and records why; a CUDA request that ONNX
Runtime would silently serve on the CPU is refused with the reason.

``source`` is a short name, Hub repo id or model folder (exported and gated on the fly for ONNX backends,
cached by weights hash), an ``.onnx`` file with its manifest, or a TensorRT ``.plan`` with its manifest.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from export.errors import BackendUnavailable
from export.manifest import Manifest
from export.onnx_export import INPUT, OUTPUT
from hub import UnitModel, from_pretrained
from hub.config import ModelConfig
from hub.preprocess import eval_transform

BACKENDS = ("auto", "torch", "onnxruntime", "onnxruntime-cuda", "tensorrt")
CACHE = Path(os.environ.get("HOWVITS_CACHE", Path.home() / ".cache" / "howvits"))


@dataclass
class Predictor:
    """Base: metadata plus shared preprocessing; subclasses implement :meth:`predict`."""

    config: ModelConfig
    source: str
    backend: str
    precision: str = "fp32"
    providers: list[str] = field(default_factory=list)
    threads: int = 1
    notes: list[str] = field(default_factory=list)
    """How the backend was chosen and anything that fell back."""
    parity: dict[str, Any] = field(default_factory=dict)
    folder: str | None = None
    """The model folder the weights came from (its card and metrics.json), when known."""

    def predict(self, batch: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def preprocess(self, images: list[Image.Image]) -> np.ndarray:
        transform = eval_transform(self.config)
        return torch.stack([transform(image) for image in images]).numpy().astype(np.float32)

    def info(self) -> dict[str, Any]:
        return {"source": self.source, "backend": self.backend, "precision": self.precision,
                "providers": self.providers, "threads": self.threads, "notes": self.notes,
                "architecture": self.config.architecture, "num_classes": self.config.num_classes,
                "parity": self.parity}


@dataclass
class TorchPredictor(Predictor):
    model: UnitModel | None = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return self.model(torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32))).numpy()


@dataclass
class OrtPredictor(Predictor):
    session: Any = None

    def predict(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run([OUTPUT], {INPUT: np.ascontiguousarray(batch, dtype=np.float32)})[0]


def ort_session(path: Path, cuda: bool, threads: int) -> Any:
    """An ONNX Runtime session; with ``cuda`` the CUDA provider must really be the one in use."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise BackendUnavailable("onnxruntime is not installed: pip install -e '.[cpu]' (or '.[gpu]')") from err
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
    if cuda and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise BackendUnavailable("onnxruntime-cuda: this onnxruntime build has no CUDA provider "
                                 "(install the gpu extra instead of cpu: pip install -e '.[gpu]')")
    session = ort.InferenceSession(str(path), options, providers=providers)
    if cuda and session.get_providers()[0] != "CUDAExecutionProvider":
        raise BackendUnavailable("onnxruntime-cuda: the CUDA provider failed to load (CUDA 12/cuDNN 9 libraries "
                                 f"missing?) and ONNX Runtime fell back to {session.get_providers()}")
    return session


def cached_onnx(model: UnitModel, precision: str) -> Path:
    """Export (with its parity gate) once per weights hash and precision; reuse afterwards."""
    from export.pipeline import ExportRequest, export_model

    key = model.config.weights_sha256 or f"random-{model.config.architecture}"
    path = CACHE / "onnx" / key[:16] / f"model.{precision}.onnx"
    try:
        manifest = Manifest.load(path)
        if path.is_file() and manifest.weights_sha256 == model.config.weights_sha256:
            return path
    except FileNotFoundError:
        pass
    export_model(ExportRequest(getattr(model, "source", model.config.architecture), path, precision=precision),
                 model)
    return path


def _cuda_available() -> bool:
    return torch.cuda.is_available()


def _tensorrt_available() -> bool:
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        return False
    return _cuda_available()


def load_predictor(source: str | Path, backend: str = "auto", threads: int | None = None,
                   precision: str = "fp32") -> Predictor:
    """See the module docstring. ``threads`` defaults to all cores (pass cores / workers in a server)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    threads = threads or os.cpu_count() or 1
    path = Path(source)
    if path.suffix == ".plan":
        return _tensorrt_predictor(path, threads)
    if path.suffix == ".onnx":
        return _onnx_file_predictor(path, backend, threads)
    model = from_pretrained(str(source))
    if backend == "auto":
        return _auto(model, threads, precision)
    return _build(model, backend, threads, precision)


def _build(model: UnitModel, backend: str, threads: int, precision: str) -> Predictor:
    source = getattr(model, "source", model.config.architecture)
    folder = str(model.folder) if getattr(model, "folder", None) else None
    if backend == "torch":
        torch.set_num_threads(threads)
        return TorchPredictor(model.config, source, "torch", "fp32", ["pytorch-cpu"], threads, folder=folder,
                              model=model.eval())
    if backend == "tensorrt":
        from export.tensorrt import build_engine

        onnx_path = cached_onnx(model, precision)
        engine = build_engine(onnx_path, precision=precision)
        predictor = _tensorrt_predictor(engine, threads)
        predictor.folder = folder
        return predictor
    path = cached_onnx(model, precision)
    session = ort_session(path, backend == "onnxruntime-cuda", threads)
    manifest = Manifest.load(path)
    return OrtPredictor(model.config, source, backend, precision, session.get_providers(), threads,
                        parity=manifest.parity, folder=folder, session=session)


def _auto(model: UnitModel, threads: int, precision: str) -> Predictor:
    notes = []
    candidates = []
    if _tensorrt_available():
        candidates.append("tensorrt")
    else:
        notes.append("tensorrt skipped: " + ("no CUDA GPU" if not _cuda_available() else "tensorrt not installed"))
    if _cuda_available():
        candidates.append("onnxruntime-cuda")
    candidates += ["onnxruntime", "torch"]
    for backend in candidates:
        try:
            predictor = _build(model, backend, threads, precision if backend != "torch" else "fp32")
        except (BackendUnavailable, ImportError) as err:
            notes.append(f"{backend} skipped: {err}")
            continue
        predictor.notes = [*notes, f"auto chose {backend}: the fastest runtime available here"]
        return predictor
    raise BackendUnavailable("no backend could run: " + "; ".join(notes))


def _onnx_file_predictor(path: Path, backend: str, threads: int) -> Predictor:
    manifest = Manifest.load(path)
    cuda = backend == "onnxruntime-cuda" or (backend == "auto" and _cuda_available())
    if backend not in ("auto", "onnxruntime", "onnxruntime-cuda"):
        raise ValueError(f"an .onnx file runs on onnxruntime or onnxruntime-cuda, not {backend!r}")
    notes = []
    try:
        session = ort_session(path, cuda, threads)
    except BackendUnavailable as err:
        if backend != "auto":
            raise
        notes.append(f"onnxruntime-cuda skipped: {err}")
        session, cuda = ort_session(path, False, threads), False
    chosen = "onnxruntime-cuda" if cuda else "onnxruntime"
    return OrtPredictor(manifest.model_config, manifest.source, chosen, manifest.precision, session.get_providers(),
                        threads, notes, manifest.parity, session=session)


def _tensorrt_predictor(path: Path, threads: int) -> Predictor:
    from export.tensorrt import TensorRTPredictor

    return TensorRTPredictor.load(path, threads)
