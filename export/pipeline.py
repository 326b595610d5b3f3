"""One export, end to end: load the model, export FP32, derive the requested precision, gate every graph on
real images, and write the manifest. What ``python -m export onnx`` runs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from export.manifest import Manifest
from export.onnx_export import Exporter, export_onnx
from export.ort import ort_session
from export.parity import GATES, Gate, enforce, measure_parity
from export.precision import Calibration, Int8Form, quantize_int8_dynamic, quantize_int8_static, to_fp16
from export.predictor import INPUT, OUTPUT
from hub import UnitIntrospection
from hub.data import DataSpec
from hub.files import file_sha256
from hub.foreign import load_any
from hub.samples import sample_images
from hub.transforms import eval_transform

Precision = Literal["fp32", "fp16", "int8", "int8-cpu", "int8-dynamic"]
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8", "int8-cpu", "int8-dynamic")
STATIC_INT8_FORMS: dict[str, Int8Form] = {"int8": "tensorrt", "int8-cpu": "cpu"}


@dataclass(frozen=True)
class ImageSource:
    """Real images for a gate or for calibration: the shipped samples, or DATA as the analyses read it."""

    data: str | None = None
    count: int = 256
    val_size: float | None = 5000
    split: Literal["val", "train"] = "val"
    seed: int = 0

    def load(self, model: UnitIntrospection) -> tuple[np.ndarray, np.ndarray | None, str]:
        """Normalised images ``(N, 3, H, W)``, labels in the model's label space (or None), a description."""
        transform = eval_transform(model.config)
        if self.data is None:
            pairs = sample_images()
            images = torch.stack([transform(image) for image, _ in pairs])
            names = [label for _, label in pairs]
            description = f"{len(pairs)} shipped CIFAR-10 sample images"
        else:
            spec = DataSpec(self.data, val_size=self.val_size, split=self.split, num_images=self.count,
                            seed=self.seed, batch_size=256)
            base, indices = spec.base_and_indices(transform)
            items = [base[i] for i in indices]
            images = torch.stack([image for image, _ in items])
            names = [base.classes[label] for _, label in items]
            description = spec.describe()
        labels = None
        if model.config.label_names and all(n in model.config.label_names for n in names):
            labels = np.array([model.config.label_names.index(n) for n in names])
        return images.numpy().astype(np.float32), labels, description


@dataclass(frozen=True)
class ExportRequest:
    """One export: what, where, at which precision, and the images its gates and calibration use."""

    model: str
    """Short name, Hub repo id, model folder or ``timm:``/``torchvision:``/factory spec (or any name, when the
    model is passed in)."""
    out: Path
    precision: Precision = "fp32"
    exporter: Exporter = "dynamo"
    opset: int | None = None
    """None: the exporter's default."""
    max_batch: int = 4096
    """Upper bound of the dynamic batch dimension."""
    parity: ImageSource = ImageSource()
    calibration: ImageSource = ImageSource(split="train", count=512)
    calibration_method: Calibration = "minmax"
    gate: Gate | None = None
    """None: the precision's own gate (:data:`export.parity.GATES`)."""
    pretrained: bool = False
    """A ``timm:``/``torchvision:``/factory model with its library's pretrained weights (else random, seed 0)."""


def ort_runner(path: Path, threads: int = 1) -> Callable[[np.ndarray], np.ndarray]:
    """``batch -> logits`` on ONNX Runtime's CPU provider: what the parity gates run."""
    session = ort_session(path, cuda=False, threads=threads)
    return lambda batch: session.run([OUTPUT], {INPUT: batch})[0]


def export_model(request: ExportRequest, model: UnitIntrospection | None = None) -> Manifest:
    model = model or load_any(request.model, request.pretrained)
    source = model.source or request.model
    out = Path(request.out)
    fp32_path = out if request.precision == "fp32" else out.with_name(out.stem + ".fp32.onnx")
    exported = export_onnx(model, fp32_path, request.exporter, request.opset, request.max_batch)
    images, labels, described = request.parity.load(model)
    fp32 = enforce(measure_parity(model, ort_runner(fp32_path), images, labels, "fp32"), f"{fp32_path}")
    parity = {"fp32": {**fp32.to_dict(), "data": described}}
    final = fp32_path
    if request.precision == "fp16":
        final = to_fp16(fp32_path, out)
    elif request.precision in STATIC_INT8_FORMS:
        calibration, _, calibration_described = request.calibration.load(model)
        batches = [calibration[i:i + 32] for i in range(0, len(calibration), 32)]
        final = quantize_int8_static(fp32_path, out, batches, request.calibration_method,
                                     form=STATIC_INT8_FORMS[request.precision])
        parity["calibration"] = {"data": calibration_described, "images": len(calibration),
                                 "method": request.calibration_method}
    elif request.precision == "int8-dynamic":
        final = quantize_int8_dynamic(fp32_path, out)
    if request.precision != "fp32":
        gate = request.gate or GATES[request.precision]
        result = measure_parity(model, ort_runner(final), images, labels, request.precision, gate)
        parity[request.precision] = {**enforce(result, str(final)).to_dict(), "data": described}
    manifest = Manifest(
        source=source, weights_sha256=model.config.weights_sha256, onnx_file=final.name,
        onnx_sha256=file_sha256(final), precision=request.precision, exporter=exported.exporter,
        opset=exported.opset, config=model.config.to_dict(), parity=parity,
        input={"name": INPUT, "shape": ["batch", *model.config.input_size], "dtype": "float32",
               "max_batch": request.max_batch,
               "preprocessing": "RGB, resize/centre-crop per config, scale to [0,1], normalise by mean/std"},
        output={"name": OUTPUT, "shape": ["batch", model.config.num_classes], "dtype": "float32"},
    )
    if exported.simplified is not None and request.precision == "fp32":
        manifest.parity["simplified"] = {"file": exported.simplified.name, "nodes": exported.simplified_nodes,
                                         "original_nodes": exported.nodes}
    manifest.save(final)
    return manifest
