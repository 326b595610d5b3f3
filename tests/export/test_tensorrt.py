"""TensorRT: everything up to the builder call is tested here (TensorRT cannot be installed on this machine);
the engine build and run are marked to run only where TensorRT and a CUDA GPU exist."""

import importlib.util
from pathlib import Path

import pytest
import torch

import hub
from export import BackendUnavailable, ExportError, ExportRequest, export_model
from export.pipeline import ImageSource, ort_runner
from export.tensorrt import build_engine, plan_build

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None and torch.cuda.is_available()


@pytest.fixture(scope="module")
def graphs(tmp_path_factory):
    """FP32, FP16 and Q/DQ INT8 graphs (TensorRT's and the CPU form) of a trained model, each gated in ONNX Runtime
    on real images."""
    folder = tmp_path_factory.mktemp("graphs")
    fixture = Path(__file__).parents[1] / "fixtures" / "cifar10-mini.tar.gz"
    model = hub.from_pretrained("resnet-tiny-cifar10")
    data = ImageSource(str(fixture), 240, None)
    paths = {}
    for precision in ("fp32", "fp16", "int8", "int8-cpu"):
        paths[precision] = folder / f"m.{precision}.onnx"
        export_model(ExportRequest("resnet-tiny-cifar10", paths[precision], precision, parity=data, calibration=data),
                     model)
    return paths


@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_the_graphs_tensorrt_consumes_run_in_onnx_runtime(graphs, precision):
    logits = ort_runner(graphs[precision])(torch.rand(3, 3, 32, 32).numpy())
    assert logits.shape == (3, 10)


def test_tensorrt_10_sets_builder_flags(graphs):
    fp16 = plan_build(graphs["fp32"], "fp16", "10.13.2", "NVIDIA H100", "9.0")
    assert fp16.builder_flags == ("FP16",) and not fp16.strongly_typed and not fp16.convert_to_fp16
    int8 = plan_build(graphs["int8"], "int8", "10.13.2", "NVIDIA H100", "9.0")
    assert int8.builder_flags == ("INT8",)
    fp32 = plan_build(graphs["fp32"], "fp32", "10.13.2", "NVIDIA H100", "9.0", batch=(1, 16, 64))
    assert fp32.builder_flags == () and fp32.min_shape == (1, 3, 32, 32) and fp32.max_shape == (64, 3, 32, 32)
    assert fp32.input_name == "input"


def test_tensorrt_11_is_strongly_typed_and_takes_precision_from_the_graph(graphs):
    converted = plan_build(graphs["fp32"], "fp16", "11.4.0", "NVIDIA H100", "9.0")
    assert converted.strongly_typed and converted.builder_flags == () and converted.convert_to_fp16
    native = plan_build(graphs["fp16"], "fp16", "11.4.0", "NVIDIA H100", "9.0")
    assert not native.convert_to_fp16
    int8 = plan_build(graphs["int8"], "int8", "11.4.0", "NVIDIA H100", "9.0")
    assert int8.strongly_typed and int8.builder_flags == ()


def test_plan_rejects_mismatched_graphs_and_versions(graphs):
    with pytest.raises(ExportError, match="Q/DQ graph"):
        plan_build(graphs["fp32"], "int8", "11.4.0", "gpu", "9.0")
    with pytest.raises(ExportError, match="--precision int8"):
        plan_build(graphs["int8"], "fp16", "10.13.2", "gpu", "9.0")
    with pytest.raises(ExportError, match="not supported"):
        plan_build(graphs["fp32"], "fp32", "8.6.1", "gpu", "9.0")
    for precision in ("int8", "fp32"):
        with pytest.raises(ExportError, match="asymmetric CPU form"):
            plan_build(graphs["int8-cpu"], precision, "10.13.2", "gpu", "9.0")
    with pytest.raises(ExportError, match="batch profile"):
        plan_build(graphs["fp32"], "fp32", "10.13.2", "gpu", "9.0", batch=(4, 2, 8))


def test_engine_cache_key_changes_with_gpu_version_graph_and_profile(graphs):
    base = plan_build(graphs["fp32"], "fp32", "10.13.2", "NVIDIA H100", "9.0").cache_key
    assert base == plan_build(graphs["fp32"], "fp32", "10.13.2", "NVIDIA H100", "9.0").cache_key
    for other in (plan_build(graphs["fp32"], "fp32", "10.13.2", "NVIDIA A100", "8.0"),
                  plan_build(graphs["fp32"], "fp32", "11.4.0", "NVIDIA H100", "9.0"),
                  plan_build(graphs["fp16"], "fp16", "10.13.2", "NVIDIA H100", "9.0"),
                  plan_build(graphs["fp32"], "fp32", "10.13.2", "NVIDIA H100", "9.0", batch=(1, 8, 8))):
        assert other.cache_key != base


@pytest.mark.skipif(HAS_TENSORRT, reason="TensorRT is installed here")
def test_without_tensorrt_the_error_says_how_to_install_it(graphs):
    with pytest.raises(BackendUnavailable, match="pip install 'tensorrt") as error:
        build_engine(graphs["fp32"])
    if not torch.cuda.is_available():
        assert "no NVIDIA GPU" in str(error.value)  # both missing pieces are named


@pytest.mark.skipif(not HAS_TENSORRT, reason="needs TensorRT and a CUDA GPU")
@pytest.mark.parametrize("precision", ["fp32", "fp16", "int8"])
def test_engine_matches_onnx_runtime(graphs, precision, tmp_path):
    from export import load_predictor

    engine = build_engine(graphs[precision], precision, cache_dir=tmp_path)
    batch = torch.rand(4, 3, 32, 32).numpy()
    got = load_predictor(engine).predict(batch)
    expected = ort_runner(graphs[precision])(batch)
    assert (got.argmax(1) == expected.argmax(1)).mean() >= 0.75


def test_the_cpu_int8_form_is_asymmetric_and_runs_as_integer_kernels(graphs, tmp_path):
    """ONNX Runtime's CPU optimiser must turn the U8S8 Q/DQ pairs into integer operators; the TensorRT form's
    activations stay signed and symmetric."""
    import onnx
    import onnxruntime as ort

    from export.tensorrt import GraphPrecision

    assert GraphPrecision.of(graphs["int8-cpu"]).asymmetric and not GraphPrecision.of(graphs["int8"]).asymmetric
    options = ort.SessionOptions()
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(str(graphs["int8-cpu"]), options, providers=["CPUExecutionProvider"])
    ops = {node.op_type for node in onnx.load(options.optimized_model_filepath).graph.node}
    assert ops & {"QLinearConv", "ConvInteger", "QLinearMatMul", "MatMulIntegerToFloat"}, ops
