"""``load_predictor(source, backend) -> Predictor``: the one way to get a predictor for any runtime.

``backend="auto"`` picks the fastest runtime that really runs here (TensorRT, then ONNX Runtime on CUDA,
then ONNX Runtime on CPU, then PyTorch) and records why; a CUDA request that ONNX Runtime would silently
serve on the CPU is refused with the reason.

``source`` is a short name, Hub repo id or model folder (exported and gated on the fly for ONNX backends,
cached by weights hash), an ``.onnx`` file with its manifest, or a TensorRT ``.plan`` with its manifest.
"""

from __future__ import annotations

import os
from pathlib import Path

import torch

from export.cache import cached_onnx
from export.errors import BackendUnavailable
from export.manifest import Manifest
from export.ort import ort_session
from export.predictor import OrtPredictor, Predictor, TorchPredictor
from export.tensorrt import TensorRTPredictor, build_engine
from hub import UnitModel, from_pretrained

BACKENDS = ("auto", "torch", "onnxruntime", "onnxruntime-cuda", "tensorrt")


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
    source = model.source
    folder = str(model.folder) if model.folder is not None else None
    if backend == "torch":
        torch.set_num_threads(threads)
        return TorchPredictor(model.config, source, "torch", "fp32", ["pytorch-cpu"], threads, folder=folder,
                              model=model.eval())
    if backend == "tensorrt":
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
    return TensorRTPredictor.load(path, threads)
