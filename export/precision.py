"""Lower-precision ONNX graphs: FP16 (inputs and outputs kept FP32), static INT8 in Q/DQ form calibrated on
real images, and dynamic INT8 (weights only) as the cheap alternative.

Static INT8 comes in two forms. ``tensorrt``: symmetric signed INT8 activations and per-channel weights, the
only quantisation TensorRT consumes (ONNX Runtime runs it on CPU as well). ``cpu``: asymmetric unsigned INT8
activations with symmetric per-channel signed weights, the U8S8 form of x86's integer kernels, which ONNX
Runtime's CPU fusions turn Q/DQ pairs into (QLinearConv, QLinearMatMul, ...); a zero point lets activations
after a ReLU or GELU use all 256 levels.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Literal

import numpy as np
import onnx

Calibration = Literal["minmax", "entropy", "percentile"]
Int8Form = Literal["tensorrt", "cpu"]


def to_fp16(source: str | Path, target: str | Path) -> Path:
    from onnxconverter_common import float16

    model = float16.convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
    onnx.save(model, str(target))
    return Path(target)


class _Batches:
    """ONNX Runtime's CalibrationDataReader over a list of ``(N, 3, H, W)`` float32 arrays."""

    def __init__(self, input_name: str, batches: list[np.ndarray]) -> None:
        self.input_name, self.batches = input_name, iter(batches)

    def get_next(self) -> dict[str, np.ndarray] | None:
        batch = next(self.batches, None)
        return None if batch is None else {self.input_name: batch}


def quantize_int8_static(source: str | Path, target: str | Path, calibration: list[np.ndarray],
                         method: Calibration = "minmax", per_channel: bool = True,
                         form: Int8Form = "tensorrt") -> Path:
    """Q/DQ INT8 calibrated on ``calibration`` batches of normalised real images, in ``form`` (module doc)."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    input_name = onnx.load(str(source)).graph.input[0].name
    reader = type("Reader", (_Batches, CalibrationDataReader), {})(input_name, calibration)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(target), reader, quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QInt8 if form == "tensorrt" else QuantType.QUInt8,
                        weight_type=QuantType.QInt8, per_channel=per_channel, calibrate_method=methods[method],
                        extra_options={"ActivationSymmetric": form == "tensorrt", "WeightSymmetric": True})
    return Path(target)


def quantize_int8_dynamic(source: str | Path, target: str | Path) -> Path:
    """Weights-only INT8 for MatMul/Gemm (activations quantised on the fly): cheap, helps MLP-heavy models."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
    return Path(target)
