"""``load_predictor(source, backend) -> Predictor``: the one way to get a predictor for any runtime.

``backend="auto"`` picks the fastest runtime that really runs here (TensorRT, then ONNX Runtime on CUDA,
then ONNX Runtime on CPU, then PyTorch) and records why; a CUDA request that ONNX Runtime would silently
serve on the CPU is refused with the reason.

``source`` is a short name, Hub repo id or model folder (exported and gated on first use, cached by weights
hash), an ``.onnx`` file with its manifest, or a TensorRT ``.plan`` with its manifest. The ONNX Runtime path
imports no torch (a cold cache is filled by a child process); the torch and TensorRT backends import it.
"""

from __future__ import annotations

import os
from pathlib import Path

from export.cache import cached_graph
from export.errors import BackendUnavailable
from export.manifest import Manifest
from export.ort import ort_session
from export.predictor import OrtPredictor, Predictor

BACKENDS = ("auto", "torch", "onnxruntime", "onnxruntime-cuda", "tensorrt")


def _ort_has_cuda() -> bool:
    try:
        import onnxruntime
    except ImportError:
        return False
    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def load_predictor(source: str | Path, backend: str = "auto", threads: int | None = None,
                   precision: str = "fp32", spinning: bool = True) -> Predictor:
    """See the module docstring. ``threads`` defaults to all cores (pass cores / workers in a server, and
    ``spinning=False``: ONNX Runtime's threads then leave the cores to the HTTP stack between calls)."""
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    threads = threads or os.cpu_count() or 1
    path = Path(source)
    if path.suffix == ".plan":
        return _tensorrt_predictor(path, threads)
    if path.suffix == ".onnx":
        return _onnx_file_predictor(path, backend, threads, spinning)
    if backend == "auto":
        return _auto(str(source), threads, precision, spinning)
    return _build(str(source), backend, threads, precision, spinning)


def _build(source: str, backend: str, threads: int, precision: str, spinning: bool = True) -> Predictor:
    if backend == "torch":
        from export.torch_runtime import torch_predictor

        return torch_predictor(source, threads)
    path, local = cached_graph(source, precision)
    if backend == "tensorrt":
        from export.tensorrt import build_engine

        predictor = _tensorrt_predictor(build_engine(path, precision=precision), threads)
        predictor.folder = str(local.folder)
        return predictor
    session = ort_session(path, backend == "onnxruntime-cuda", threads, spinning)
    return OrtPredictor(local.config, local.label, backend, precision, session.get_providers(), threads,
                        parity=Manifest.load(path).parity, folder=str(local.folder), session=session)


def _auto(source: str, threads: int, precision: str, spinning: bool) -> Predictor:
    notes, candidates = [], []
    try:
        import tensorrt  # noqa: F401
    except ImportError:
        notes.append("tensorrt skipped: tensorrt not installed")
    else:
        candidates.append("tensorrt")
    if _ort_has_cuda():
        candidates.append("onnxruntime-cuda")
    else:
        notes.append("onnxruntime-cuda skipped: this onnxruntime build has no CUDA provider")
    candidates += ["onnxruntime", "torch"]
    for backend in candidates:
        try:
            predictor = _build(source, backend, threads, precision if backend != "torch" else "fp32", spinning)
        except (BackendUnavailable, ImportError) as err:
            notes.append(f"{backend} skipped: {err}")
            continue
        predictor.notes = [*notes, f"auto chose {backend}: the fastest runtime available here"]
        return predictor
    raise BackendUnavailable("no backend could run: " + "; ".join(notes))


def _onnx_file_predictor(path: Path, backend: str, threads: int, spinning: bool) -> Predictor:
    manifest = Manifest.load(path)
    if backend not in ("auto", "onnxruntime", "onnxruntime-cuda"):
        raise ValueError(f"an .onnx file runs on onnxruntime or onnxruntime-cuda, not {backend!r}")
    cuda = backend == "onnxruntime-cuda" or (backend == "auto" and _ort_has_cuda())
    notes = []
    try:
        session = ort_session(path, cuda, threads, spinning)
    except BackendUnavailable as err:
        if backend != "auto":
            raise
        notes.append(f"onnxruntime-cuda skipped: {err}")
        session, cuda = ort_session(path, False, threads, spinning), False
    chosen = "onnxruntime-cuda" if cuda else "onnxruntime"
    return OrtPredictor(manifest.model_config, manifest.source, chosen, manifest.precision, session.get_providers(),
                        threads, notes, manifest.parity, session=session)


def _tensorrt_predictor(path: Path, threads: int) -> Predictor:
    from export.tensorrt import TensorRTPredictor

    return TensorRTPredictor.load(path, threads)
