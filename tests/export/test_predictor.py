"""One predictor interface: every CPU backend agrees on real images; auto says what it chose; a CUDA request
is never served on the CPU silently."""

import numpy as np
import pytest

import hub
from export import BackendUnavailable, load_predictor
from hub.samples import sample_images


@pytest.fixture(scope="module")
def images():
    return [image for image, _ in sample_images()]


def test_torch_and_onnxruntime_agree_on_real_images(images):
    torch_predictor = load_predictor("alternet-tiny-cifar10", "torch", threads=1)
    ort_predictor = load_predictor("alternet-tiny-cifar10", "onnxruntime", threads=1)
    batch = torch_predictor.preprocess(images)
    assert batch.shape == (40, 3, 32, 32) and batch.dtype == np.float32
    expected, got = torch_predictor.predict(batch), ort_predictor.predict(batch)
    assert np.abs(expected - got).max() <= 1e-4
    assert (expected.argmax(1) == got.argmax(1)).all()
    assert ort_predictor.providers == ["CPUExecutionProvider"] and ort_predictor.parity["fp32"]["passed"]
    labels = [name for _, name in sample_images()]
    accuracy = np.mean([torch_predictor.config.label_names[i] == n for i, n in zip(expected.argmax(1), labels,
                                                                                  strict=True)])
    assert accuracy > 0.6  # trained weights on held-out images, not chance (0.1)


def test_auto_reports_its_choice(images):
    predictor = load_predictor("resnet-tiny-cifar10", threads=1)
    assert predictor.backend == "onnxruntime"  # no GPU here: ONNX Runtime on CPU is the fastest
    assert any("tensorrt skipped" in note for note in predictor.notes)
    assert predictor.notes[-1].startswith("auto chose onnxruntime")
    assert predictor.info()["backend"] == "onnxruntime"


def test_a_cuda_request_without_cuda_is_refused_with_the_reason():
    with pytest.raises(BackendUnavailable, match="onnxruntime-cuda"):
        load_predictor("resnet-tiny-cifar10", "onnxruntime-cuda", threads=1)


def test_onnx_file_with_manifest(tmp_path, images):
    from export import ExportRequest, export_model

    export_model(ExportRequest("vit-tiny-cifar10", tmp_path / "v.onnx"))
    from_file = load_predictor(tmp_path / "v.onnx", threads=1)
    reference = load_predictor("vit-tiny-cifar10", "torch", threads=1)
    batch = reference.preprocess(images[:8])
    assert np.allclose(from_file.predict(batch), reference.predict(batch), atol=1e-4)
    assert from_file.config.label_names == reference.config.label_names and from_file.backend == "onnxruntime"


def test_bad_requests():
    with pytest.raises(ValueError, match="unknown backend"):
        load_predictor("resnet-tiny-cifar10", "openvino")
    with pytest.raises(hub.UnknownModelError):
        load_predictor("no-such-model", "torch")
