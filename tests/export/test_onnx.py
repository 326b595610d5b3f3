"""ONNX export of every family with the FP32 parity gate on real images; FP16 and INT8 graphs; manifests."""

import json

import numpy as np
import onnx
import pytest
import torch

import hub
from export import ExportError, ExportRequest, ParityError, export_model
from export.__main__ import main
from export.parity import measure_parity
from export.pipeline import ImageSource, ort_runner

EXAMPLES = hub.family_examples()


@pytest.mark.parametrize("family", sorted(EXAMPLES))
def test_every_family_exports_and_passes_the_fp32_gate(family, tmp_path):
    torch.manual_seed(0)
    model = hub.create_model(EXAMPLES[family], num_classes=10)
    manifest = export_model(ExportRequest(EXAMPLES[family], tmp_path / "m.onnx"), model)
    parity = manifest.parity["fp32"]
    assert parity["passed"] and parity["max_abs"] <= 1e-4 and parity["top1_agreement"] == 1.0
    assert parity["images"] == 40 and "shipped" in parity["data"]
    session_out = ort_runner(tmp_path / "m.onnx")(np.random.rand(5, 3, 32, 32).astype(np.float32))
    assert session_out.shape == (5, 10)  # the batch dimension is dynamic


def test_a_graph_that_disagrees_fails_the_gate():
    torch.manual_seed(0)
    model = hub.create_model("resnet_tiny", num_classes=10).eval()
    images = np.random.rand(8, 3, 32, 32).astype(np.float32)
    with torch.no_grad():
        shifted = model(torch.from_numpy(images)).numpy() + 1e-3
    parity = measure_parity(model, lambda batch: shifted[: len(batch)], images, None, "fp32")
    assert not parity.passed and "max |logit difference|" in parity.failures[0]


class Table(torch.nn.Module):
    """Logits looked up by the image's first pixel: a "model" whose outputs a test chooses."""

    def __init__(self, logits: np.ndarray) -> None:
        super().__init__()
        self.logits = torch.from_numpy(logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits[x[:, 0, 0, 0].long()]


def test_a_flip_between_near_tied_classes_is_a_tie_not_a_failure():
    logits = np.array([[1.0, 1.002, 0.0], [2.0, 0.0, 0.5], [0.0, 3.0, 1.0]], dtype=np.float32)
    images = np.arange(3, dtype=np.float32).reshape(3, 1, 1, 1)
    near = logits.copy()
    near[0] += [0.004, 0.0, 0.0]  # within the FP16 tolerance, and it swaps image 0's near-tied top two
    parity = measure_parity(Table(logits), lambda batch: near[batch[:, 0, 0, 0].astype(int)], images, None, "fp16")
    assert parity.passed and parity.ties == 1 and parity.top1_agreement == 1.0
    assert parity.top1_agreement_all == pytest.approx(2 / 3)
    far = logits.copy()
    far[1] = [0.0, 2.0, 0.5]  # a decided image changes its answer: the logit error shows it too
    parity = measure_parity(Table(logits), lambda batch: far[batch[:, 0, 0, 0].astype(int)], images, None, "fp16")
    assert not parity.passed and parity.top1_agreement == 0.5
    assert any("top-1 agreement" in f for f in parity.failures) and any("max |logit" in f for f in parity.failures)


def test_trained_model_fp16_and_int8_graphs(tmp_path, fixture_tar):
    model = hub.from_pretrained("resnet-tiny-cifar10")
    fp16 = export_model(ExportRequest("resnet-tiny-cifar10", tmp_path / "m16.onnx", "fp16"), model)
    graph = onnx.load(str(tmp_path / "m16.onnx"))
    assert any(t.data_type == onnx.TensorProto.FLOAT16 for t in graph.graph.initializer)
    assert graph.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT  # IO kept FP32
    assert fp16.parity["fp16"]["passed"] and fp16.parity["fp16"]["top1_agreement"] >= 0.99

    data = ImageSource(str(fixture_tar), 240, None)
    int8 = export_model(ExportRequest("resnet-tiny-cifar10", tmp_path / "m8.onnx", "int8", parity=data,
                                      calibration=ImageSource(str(fixture_tar), 120, None)), model)
    graph = onnx.load(str(tmp_path / "m8.onnx"))
    assert sum(node.op_type == "QuantizeLinear" for node in graph.graph.node) > 10
    assert int8.parity["int8"]["accuracy_drop_pp"] <= 1.0 and int8.parity["int8"]["images"] == 240
    assert int8.parity["calibration"]["images"] == 120


def test_cli_writes_the_manifest(tmp_path):
    assert main(["onnx", "alternet-tiny-cifar10", "--out", str(tmp_path / "a.onnx")]) == 0
    manifest = json.loads((tmp_path / "a.onnx.json").read_text())
    assert manifest["config"]["architecture"] == "alternet_tiny"
    assert manifest["weights_sha256"] == hub.from_pretrained("alternet-tiny-cifar10").config.weights_sha256
    assert manifest["input"]["shape"] == ["batch", 3, 32, 32] and manifest["config"]["label_names"][0] == "airplane"
    assert {"torch", "onnx", "onnxruntime"} <= set(manifest["versions"]) and manifest["opset"] >= 17
    assert manifest["parity"]["fp32"]["accuracy_torch"] is not None  # the samples are labelled CIFAR-10 images


def test_cli_errors(tmp_path, capsys):
    assert main(["onnx", "no-such-model", "--out", str(tmp_path / "x.onnx")]) == 1
    assert "unknown model" in capsys.readouterr().err
    with pytest.raises(ExportError, match="unknown exporter"):
        export_model(ExportRequest("resnet_tiny", tmp_path / "y.onnx", exporter="jit"),
                     hub.create_model("resnet_tiny", num_classes=10))


def test_int8_gate_needs_labels(tmp_path):
    model = hub.create_model("vit_tiny", num_classes=10)  # no label names: the samples cannot be scored
    with pytest.raises(ParityError, match="needs labelled images"):
        export_model(ExportRequest("vit_tiny", tmp_path / "d.onnx", "int8-dynamic"), model)
