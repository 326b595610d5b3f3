"""PyTorch -> ONNX with a dynamic batch dimension and a fixed spatial size.

The torch.export-based exporter (``dynamo``) is the default; the TorchScript exporter (``legacy``) is the
fallback switch. A copy simplified by ONNX Runtime's basic, portable graph passes (constant folding,
redundant-node elimination; only standard ONNX ops, so TensorRT can still read it) is saved beside the
export when it removes nodes.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import onnx
import torch

from export.errors import ExportError
from export.predictor import INPUT, OUTPUT
from hub import UnitModel
from hub.layers import fused_attention

Exporter = Literal["dynamo", "legacy"]


@dataclass(frozen=True)
class OnnxFile:
    path: Path
    exporter: str
    opset: int
    nodes: int
    simplified: Path | None = None
    simplified_nodes: int | None = None


def opset_of(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def export_onnx(model: UnitModel, path: str | Path, exporter: Exporter = "dynamo", opset: int | None = None,
                max_batch: int = 4096, simplify: bool = True) -> OnnxFile:
    """Write ``model`` to ``path`` with input ``input`` ``(batch, 3, H, W)`` and output ``logits``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model = model.eval().cpu()
    example = torch.randn(2, *model.config.input_size)
    quiet = io.StringIO()
    try:
        # explicit softmax(QK^T)V: the exporter's SDPA translation takes 4-D inputs only (window attention is
        # 5-D), and TensorRT and ONNX Runtime fuse the plain MatMul/Softmax pattern themselves
        with warnings.catch_warnings(), contextlib.redirect_stdout(quiet), torch.no_grad(), fused_attention(False):
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                batch = torch.export.Dim("batch", min=1, max=max_batch)
                torch.onnx.export(model, (example,), str(path), dynamo=True, input_names=[INPUT],
                                  output_names=[OUTPUT], dynamic_shapes=({0: batch},), opset_version=opset,
                                  external_data=False, verbose=False)
            elif exporter == "legacy":
                torch.onnx.export(model, (example,), str(path), dynamo=False, input_names=[INPUT],
                                  output_names=[OUTPUT], opset_version=opset or 17,
                                  dynamic_axes={INPUT: {0: "batch"}, OUTPUT: {0: "batch"}})
            else:
                raise ExportError(f"unknown exporter {exporter!r}: use dynamo or legacy")
    except ExportError:
        raise
    except Exception as err:
        hint = " (try exporter='legacy')" if exporter == "dynamo" else ""
        raise ExportError(f"{exporter} export of {model.config.architecture} failed{hint}: {err}") from err
    graph = onnx.load(str(path))
    onnx.checker.check_model(graph)
    info = OnnxFile(path, exporter, opset_of(graph), len(graph.graph.node))
    return _simplified(info) if simplify else info


def _simplified(info: OnnxFile) -> OnnxFile:
    import onnxruntime as ort

    target = info.path.with_suffix(".simplified.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(target)
    ort.InferenceSession(str(info.path), options, providers=["CPUExecutionProvider"])
    nodes = len(onnx.load(str(target)).graph.node)
    if nodes >= info.nodes:
        target.unlink()
        return info
    return OnnxFile(info.path, info.exporter, info.opset, info.nodes, target, nodes)
