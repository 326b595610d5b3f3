"""ONNX Runtime sessions, built one way for the parity gates, the predictors and the benchmarks."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from export.errors import BackendUnavailable


def ort_session(path: Path, cuda: bool = False, threads: int = 1, spinning: bool = True) -> Any:
    """An ONNX Runtime session with ``threads`` intra-op threads; with ``cuda`` the CUDA provider must really be
    the one in use (ONNX Runtime falls back to the CPU silently, so that is checked and refused).

    ``spinning=False`` stops the intra-op threads from busy-waiting between calls: what a server wants, whose
    HTTP stack needs the same cores between model calls; a benchmark of the model alone keeps it on."""
    try:
        import onnxruntime as ort
    except ImportError as err:
        raise BackendUnavailable("onnxruntime is not installed: pip install -e '.[cpu]' (or '.[gpu]')") from err
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    if not spinning:
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
    if cuda and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise BackendUnavailable("onnxruntime-cuda: this onnxruntime build has no CUDA provider "
                                 "(install the gpu extra instead of cpu: pip install -e '.[gpu]')")
    session = ort.InferenceSession(str(path), options, providers=providers)
    if cuda and session.get_providers()[0] != "CUDAExecutionProvider":
        raise BackendUnavailable("onnxruntime-cuda: the CUDA provider failed to load (CUDA 12/cuDNN 9 libraries "
                                 f"missing?) and ONNX Runtime fell back to {session.get_providers()}")
    return session
