"""A real ``bentoml serve`` of a model that is not ours: a user's own network on the PyTorch backend, its
per-stage feature maps read through its description; and its ONNX export through the parity gate."""

from __future__ import annotations

import httpx
import numpy as np
import pytest

from export import load_predictor
from export.pipeline import ExportRequest, ImageSource, export_model
from hub.samples import SAMPLES, sample_images
from tests.servers import bentoml_serve

CAT = (SAMPLES / "cat_1.png").read_bytes()
OWN = "tests.hub.own_model:tiny_net"


def test_a_users_own_network_exports_through_the_parity_gate(tmp_path):
    manifest = export_model(ExportRequest(OWN, tmp_path / "tiny_net.onnx", parity=ImageSource(count=8)))
    assert manifest.source == OWN and manifest.parity["fp32"]["passed"]
    exported, eager = load_predictor(tmp_path / "tiny_net.onnx"), load_predictor(OWN, "torch", threads=1)
    batch = eager.preprocess([image for image, _ in sample_images()[:4]])
    assert np.allclose(exported.predict(batch), eager.predict(batch), atol=1e-4)


@pytest.mark.slow
def test_a_users_own_network_is_served_with_its_diagnostics():
    with bentoml_serve(HOWVITS_MODELS=OWN, HOWVITS_BACKEND="torch") as url, \
            httpx.Client(base_url=url, timeout=60) as client:
        assert [m["name"] for m in client.get("/models").json()["models"]] == ["tiny_net"]
        body = client.post("/diagnose", files={"image": ("cat.png", CAT, "image/png")}, data={"draws": "2"}).json()
        assert [m["unit"] for m in body["diagnostics"]["feature_maps"]] == ["stem", "s1.1.conv"]
        assert len(body["prediction"]["top_k"]) == 5 and set(body["diagnostics"]["band_noise"])
