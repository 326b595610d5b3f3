"""The whole stack on the paper's models at full size (files written like the releases, known weights): the
ONNX export and its parity gates, the predictor, the analyses on real CIFAR-100 images, and the service."""

import json
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

import hub
from export import ExportRequest, export_model, load_predictor
from hub.official import convert_official, read_release, write_converted
from tests.releases import CIFAR100, RELEASES, write_release
from tests.servers import bentoml_serve
from training.analyze.__main__ import main as analyze

IMAGES = sorted(CIFAR100.rglob("*.png"))


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    """``name -> model folder`` of a converted release-like file, converted once per test module."""
    folders = {}

    def folder(name: str) -> Path:
        if name not in folders:
            root = tmp_path_factory.mktemp(name)
            path = write_release(root / f"{name}.pth.tar", name)
            folders[name] = write_converted(convert_official(path), root / f"{name}-cifar100", f"{name}-cifar100",
                                            None, read_release(path))
        return folders[name]

    return folder


def test_vit_ti_through_onnx_runtime_behind_its_parity_gate(converted):
    folder = converted("vit_ti")
    predictor = load_predictor(folder, "onnxruntime", threads=1)
    reference = load_predictor(folder, "torch", threads=1)
    batch = reference.preprocess([Image.open(p).convert("RGB") for p in IMAGES])
    assert batch.shape == (20, 3, 32, 32)
    assert predictor.parity["fp32"]["passed"] and predictor.parity["fp32"]["max_abs"] <= 1e-4
    assert np.abs(predictor.predict(batch) - reference.predict(batch)).max() <= 1e-4
    assert predictor.config.label_names[0] == "apple" and predictor.config.num_classes == 100


@pytest.mark.parametrize("analysis, flags", [
    ("fourier", []), ("lesion", ["--num-images", "10"]),
    ("hessian", ["--batches", "1", "--k", "2", "--method", "lanczos", "--lanczos-steps", "4", "--augment", "none",
                 "--batch-size", "10", "--no-trace"]),  # the trace is checked against exact Hessians elsewhere
])
def test_analyses_on_real_cifar100_images(analysis, flags, converted, tmp_path):
    folder = converted("vit_ti")
    assert analyze([analysis, "--model", str(folder), "--data", str(CIFAR100), "--val-size", "0", "--out",
                    str(tmp_path), "--no-progress", *flags]) == 0
    record = json.loads((tmp_path / f"{analysis}.json").read_text())
    assert record["architecture"] == "vit_ti" and record["model"] == str(folder)
    if analysis == "lesion":
        assert record["result"]["images"] == 10 and len(record["result"]["lesioned"]) == 24
    if analysis == "hessian":
        assert len(record["result"]["spectrum"]["per_batch"][0]["values"]) == 2


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(RELEASES))
def test_fp32_and_fp16_exports_pass_their_gates(name, converted, tmp_path):
    model = hub.from_pretrained(str(converted(name)))
    for precision in ("fp32", "fp16"):
        manifest = export_model(ExportRequest(str(converted(name)), tmp_path / f"{precision}.onnx", precision), model)
        parity = manifest.parity[precision]
        print(f"{name} {precision}: max |logit difference| {parity['max_abs']:.2e}, top-1 agreement "
              f"{parity['top1_agreement']:.3f}")
        assert parity["passed"]


@pytest.mark.slow
def test_the_service_serves_a_converted_folder(converted):
    image = IMAGES[0].read_bytes()
    with (bentoml_serve(HOWVITS_MODELS=str(converted("vit_ti"))) as url,
          httpx.Client(base_url=url, timeout=120) as client):
        predicted = client.post("/predict", files={"image": ("a.png", image, "image/png")})
        diagnosed = client.post("/diagnose", files={"image": ("a.png", image, "image/png")})
        info = client.get("/model").json()
    assert predicted.status_code == 200 and predicted.json()["top_k"][0]["label"] in hub.config.CIFAR100_CLASSES
    assert diagnosed.status_code == 200 and set(diagnosed.json()["diagnostics"]["band_noise"]) == {
        "low", "middle", "high"}
    assert info["config"]["architecture"] == "vit_ti" and info["config"]["num_classes"] == 100
