"""TensorRT engines from the exported ONNX graphs, for TensorRT 10 and 11.

TensorRT 10 sets precision with builder flags (``FP16``, ``INT8`` for a Q/DQ graph) on a weakly typed
network. TensorRT 11 removed those flags: every network is strongly typed and precision comes from the
graph itself, so FP16 needs the FP16 ONNX graph (converted here when given an FP32 one) and INT8 the Q/DQ
graph. What to build is decided by :func:`plan_build`, a pure function tested without TensorRT; only
:func:`build_engine` imports it (lazily). Engines are cached under a key of GPU name, compute capability,
TensorRT version, ONNX hash, precision and batch profile, and share a timing cache.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import numpy_helper

from export.cache import CACHE
from export.errors import BackendUnavailable, ExportError
from export.manifest import Manifest, manifest_path
from export.predictor import Predictor
from hub.files import atomic_path, file_sha256

INSTALL_HINT = ("TensorRT is not installed. It needs an NVIDIA GPU and NVIDIA's package index: "
                "pip install 'tensorrt-cu12>=10,<12' --extra-index-url https://pypi.nvidia.com "
                "(or use the NGC TensorRT container)")


@dataclass(frozen=True)
class GraphPrecision:
    fp16: bool
    qdq: bool
    asymmetric: bool = False
    """A Q/DQ graph with unsigned or non-zero zero points (``int8-cpu``), which TensorRT cannot consume."""

    @classmethod
    def of(cls, path: Path) -> GraphPrecision:
        graph = onnx.load(str(path), load_external_data=False).graph
        fp16 = any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.initializer)
        qdq = any(node.op_type in ("QuantizeLinear", "DequantizeLinear") for node in graph.node)
        zero_point_names = {node.input[2] for node in graph.node
                            if node.op_type in ("QuantizeLinear", "DequantizeLinear") and len(node.input) > 2}
        asymmetric = any(t.data_type == onnx.TensorProto.UINT8 or numpy_helper.to_array(t).any()
                         for t in graph.initializer if t.name in zero_point_names)
        return cls(fp16, qdq, asymmetric)


@dataclass(frozen=True)
class BuildPlan:
    trt_version: str
    precision: str
    strongly_typed: bool
    builder_flags: tuple[str, ...]
    """Names of ``trt.BuilderFlag`` members to set (TensorRT 10 only)."""
    convert_to_fp16: bool
    """TensorRT 11 given an FP32 graph for an FP16 engine: convert the graph first."""
    input_name: str
    min_shape: tuple[int, ...]
    opt_shape: tuple[int, ...]
    max_shape: tuple[int, ...]
    cache_key: str
    notes: tuple[str, ...] = field(default_factory=tuple)


def plan_build(onnx_path: Path, precision: str, trt_version: str, gpu_name: str, compute_capability: str,
               batch: tuple[int, int, int] = (1, 32, 128)) -> BuildPlan:
    """Decide flags, typing and conversion for TensorRT ``trt_version`` and the graph at ``onnx_path``."""
    major = int(trt_version.split(".")[0])
    if major not in (10, 11):
        raise ExportError(f"TensorRT {trt_version} is not supported: this code targets TensorRT 10 and 11")
    if precision not in ("fp32", "fp16", "int8"):
        raise ExportError(f"unknown TensorRT precision {precision!r}: fp32, fp16 or int8")
    graph = GraphPrecision.of(onnx_path)
    if precision == "int8" and not graph.qdq:
        raise ExportError(f"an INT8 engine needs a Q/DQ graph; {onnx_path.name} has none. Make one with "
                          "python -m export onnx MODEL --precision int8 --calibration-data DATA")
    if graph.asymmetric:
        raise ExportError(f"{onnx_path.name} is the asymmetric CPU form of INT8 (int8-cpu); TensorRT takes only "
                          "symmetric Q/DQ: export with --precision int8")
    if precision != "int8" and graph.qdq:
        raise ExportError(f"{onnx_path.name} is a Q/DQ INT8 graph: build it with --precision int8")
    if precision == "fp32" and graph.fp16:
        raise ExportError(f"{onnx_path.name} is an FP16 graph: build it with --precision fp16")
    low, opt, high = batch
    if not 1 <= low <= opt <= high:
        raise ExportError(f"batch profile must satisfy 1 <= min <= opt <= max, got {batch}")
    model = onnx.load(str(onnx_path), load_external_data=False)
    input_name = model.graph.input[0].name
    spatial = tuple(d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim[1:])
    notes: list[str] = []
    if major == 10:
        flags = {"fp32": (), "fp16": ("FP16",), "int8": ("INT8",)}[precision]
        strongly_typed = graph.fp16  # an FP16 graph keeps its own types
        convert = False
    else:
        flags, strongly_typed = (), True
        convert = precision == "fp16" and not graph.fp16
        if convert:
            notes.append("TensorRT 11 is strongly typed: the FP32 graph is converted to FP16 first")
    key_source = json.dumps([file_sha256(onnx_path), gpu_name, compute_capability, trt_version, precision, batch])
    return BuildPlan(trt_version, precision, strongly_typed, flags, convert, input_name, (low, *spatial),
                     (opt, *spatial), (high, *spatial), hashlib.sha256(key_source.encode()).hexdigest()[:20],
                     tuple(notes))


def require_tensorrt() -> tuple[Any, str, str]:
    """``(tensorrt module, GPU name, compute capability)``, or one error naming everything that is missing."""
    import torch

    missing, trt = [], None
    try:
        import tensorrt as trt
    except ImportError:
        missing.append(INSTALL_HINT)
    if not torch.cuda.is_available():
        missing.append("no NVIDIA GPU with a working CUDA driver is visible (torch.cuda.is_available() is False)")
    if missing:
        raise BackendUnavailable("TensorRT cannot run here: " + "; and ".join(missing))
    major, minor = torch.cuda.get_device_capability()
    return trt, torch.cuda.get_device_name(), f"{major}.{minor}"


def build_engine(onnx_path: str | Path, precision: str = "fp32", batch: tuple[int, int, int] = (1, 32, 128),
                 cache_dir: Path | None = None, workspace_gib: float = 4.0) -> Path:
    """Build (or reuse from the cache) an engine for ``onnx_path``; returns the ``.plan`` path."""
    trt, gpu, capability = require_tensorrt()
    onnx_path = Path(onnx_path)
    plan = plan_build(onnx_path, precision, trt.__version__, gpu, capability, batch)
    cache_dir = cache_dir or CACHE / "tensorrt"
    cache_dir.mkdir(parents=True, exist_ok=True)
    engine_path = cache_dir / f"{plan.cache_key}.plan"
    if engine_path.is_file() and manifest_path(engine_path).is_file():
        return engine_path
    graph_path = onnx_path
    if plan.convert_to_fp16:
        from export.precision import to_fp16

        graph_path = to_fp16(onnx_path, cache_dir / f"{plan.cache_key}.fp16.onnx")

    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    flags = 1 << int(trt.NetworkDefinitionCreationFlag.STRONGLY_TYPED) if plan.strongly_typed else 0
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(graph_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ExportError(f"TensorRT could not parse {graph_path}: {errors}")
    config = builder.create_builder_config()
    config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, int(workspace_gib * (1 << 30)))
    for flag in plan.builder_flags:
        config.set_flag(getattr(trt.BuilderFlag, flag))
    profile = builder.create_optimization_profile()
    profile.set_shape(plan.input_name, plan.min_shape, plan.opt_shape, plan.max_shape)
    config.add_optimization_profile(profile)
    timing_path = cache_dir / "timing.cache"
    timing = config.create_timing_cache(timing_path.read_bytes() if timing_path.is_file() else b"")
    config.set_timing_cache(timing, ignore_mismatch=False)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ExportError(f"TensorRT failed to build an engine from {graph_path} (see the log above)")
    timing_path.write_bytes(memoryview(config.get_timing_cache().serialize()))
    with atomic_path(engine_path) as tmp:
        tmp.write_bytes(memoryview(serialized))
    source = Manifest.load(onnx_path)
    source.onnx_file, source.precision = engine_path.name, precision
    source.parity = {**source.parity, "tensorrt_build": asdict(plan)}
    source.save(engine_path)
    return engine_path


@dataclass
class TensorRTPredictor(Predictor):
    engine: Any = None
    context: Any = None
    input_name: str = "input"
    output_name: str = "logits"

    @classmethod
    def load(cls, path: Path, threads: int) -> TensorRTPredictor:
        trt, _, _ = require_tensorrt()
        manifest = Manifest.load(path)
        runtime = trt.Runtime(trt.Logger(trt.Logger.WARNING))
        engine = runtime.deserialize_cuda_engine(path.read_bytes())
        if engine is None:
            raise BackendUnavailable(f"{path} was built for another GPU or TensorRT version; rebuild it")
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if n not in inputs]
        return cls(manifest.model_config, manifest.source, "tensorrt", manifest.precision, ["TensorRT"], threads,
                   [f"TensorRT {trt.__version__}"], manifest.parity, engine=engine,
                   context=engine.create_execution_context(), input_name=inputs[0], output_name=outputs[0])

    def predict(self, batch: np.ndarray) -> np.ndarray:
        import torch

        x = torch.from_numpy(np.ascontiguousarray(batch, dtype=np.float32)).cuda()
        out = torch.empty((len(batch), self.config.num_classes), dtype=torch.float32, device="cuda")
        self.context.set_input_shape(self.input_name, tuple(x.shape))
        self.context.set_tensor_address(self.input_name, x.data_ptr())
        self.context.set_tensor_address(self.output_name, out.data_ptr())
        stream = torch.cuda.current_stream()
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise RuntimeError("TensorRT execution failed")
        stream.synchronize()
        return out.cpu().numpy()
