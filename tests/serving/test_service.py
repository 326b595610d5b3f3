"""The service in-process (ASGI) and as a real ``bentoml serve`` subprocess: predictions equal the predictor's,
diagnostics are deterministic, health and metrics answer."""

import base64
import io
from pathlib import Path

import httpx
import numpy as np
import pytest
from PIL import Image

from export import load_predictor
from hub.samples import SAMPLES, sample_images

CAT = (SAMPLES / "cat_1.png").read_bytes()


def files(data: bytes = CAT, name: str = "image.png", field: str = "image"):
    return {field: (name, data, "image/png")}


@pytest.fixture(scope="module")
def reference():
    return load_predictor("alternet-tiny-cifar10", "onnxruntime", threads=1)


def expected_top(reference, image_bytes: bytes, k: int = 5):
    batch = reference.preprocess([Image.open(io.BytesIO(image_bytes)).convert("RGB")])
    logits = reference.predict(batch)[0].astype(np.float64)
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    order = np.argsort(-probs)[:k]
    return [reference.config.label_names[i] for i in order], probs[order]


def test_in_process_prediction_matches_the_predictor(app_client, reference):
    response = app_client.post("/predict", files=files(), data={"top_k": "3"})
    assert response.status_code == 200, response.text
    body = response.json()
    labels, probs = expected_top(reference, CAT, 3)
    assert [p["label"] for p in body["top_k"]] == labels
    assert np.allclose([p["probability"] for p in body["top_k"]], probs, atol=1e-5)
    assert body["model"] == "alternet-tiny-cifar10" and body["backend"] == "onnxruntime"
    assert body["image"] == {"width": 32, "height": 32, "format": "PNG", "mode": "RGB"}


def test_batch_endpoint_and_model_info(app_client, reference):
    images = [(SAMPLES / name).read_bytes() for name in ("dog_1.png", "ship_2.png", "frog_3.png")]
    response = app_client.post("/predict_batch", files=[("images", (f"{i}.png", d, "image/png"))
                                                        for i, d in enumerate(images)])
    assert response.status_code == 200, response.text
    predictions = response.json()["predictions"]
    assert [p["top_k"][0]["label"] for p in predictions] == [expected_top(reference, d, 1)[0][0] for d in images]
    info = app_client.get("/model").json()
    assert info["config"]["architecture"] == "alternet_tiny" and info["providers"] == ["CPUExecutionProvider"]
    assert info["card_metrics"]["accuracy"] > 0.8 and info["parity"]["fp32"]["passed"]
    assert info["threads"] == 1 and info["batching"]["enabled"]


def test_diagnostics_are_deterministic_and_complete(app_client):
    first = app_client.post("/diagnose", files=files(), data={"seed": "3", "figure": "true"}).json()
    second = app_client.post("/diagnose", files=files(), data={"seed": "3", "figure": "true"}).json()
    other = app_client.post("/diagnose", files=files(), data={"seed": "4", "draws": "16"}).json()
    assert first["diagnostics"] == second["diagnostics"]
    assert first["diagnostics"]["band_noise"] != other["diagnostics"]["band_noise"]
    diagnostics = first["diagnostics"]
    assert set(diagnostics["band_noise"]) == {"low", "middle", "high"}
    assert 0 <= diagnostics["spectrum"]["high_frequency_share"] <= 1
    assert len(diagnostics["spectrum"]["power"]) == 17
    assert {"low_pass", "high_pass"} == set(diagnostics["shape_vs_texture"])
    png = base64.b64decode(first["figure_png_base64"])
    assert Image.open(io.BytesIO(png)).format == "PNG"


def test_a_large_rgba_photo_is_resized_not_rejected(app_client):
    image = Image.new("RGBA", (640, 480), (200, 30, 30, 128))
    buffer = io.BytesIO()
    image.save(buffer, "WEBP")
    response = app_client.post("/predict", files={"image": ("big.webp", buffer.getvalue(), "image/webp")})
    assert response.status_code == 200 and response.json()["image"]["width"] == 640


def test_real_server_answers_like_the_predictor(server, reference):
    with httpx.Client(base_url=server, timeout=60) as client:
        for name in ("cat_1.png", "truck_4.png", "bird_2.png"):
            data = (SAMPLES / name).read_bytes()
            body = client.post("/predict", files=files(data)).json()
            labels, probs = expected_top(reference, data)
            assert [p["label"] for p in body["top_k"]] == labels
            assert np.allclose([p["probability"] for p in body["top_k"]], probs, atol=1e-5)
        a = client.post("/diagnose", files=files(), data={"seed": "1"}).json()
        b = client.post("/diagnose", files=files(), data={"seed": "1"}).json()
        assert a["diagnostics"] == b["diagnostics"]
        assert client.get("/readyz").status_code == 200
        assert client.get("/livez").status_code == 200
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "howvits_request_total" in metrics.text
        assert client.get("/docs.json").json()["paths"]["/predict"]
        assert len(sample_images()) == 40


def test_the_page_runs_under_a_strict_policy_and_model_info_names_no_local_paths(app_client):
    from serving.page import UI_PAGE

    page = app_client.get("/ui")
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and policy.count("'sha256-") == 2 and "unsafe-inline" not in policy
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "innerHTML" not in UI_PAGE.read_text() and "insertAdjacentHTML" not in UI_PAGE.read_text()
    info = app_client.get("/model")
    assert info.headers["x-content-type-options"] == "nosniff"
    assert str(Path(__file__).parents[2]) not in info.text and "/root/" not in info.text and "/tmp/" not in info.text


def test_decoder_messages_are_our_own(app_client):
    response = app_client.post("/predict", files=files(CAT[: len(CAT) // 2]))
    assert response.status_code == 400 and response.json() == {"error": "the image is corrupt or truncated"}


def test_no_process_of_an_onnx_runtime_server_loads_torch(server):
    import psutil

    root = psutil.Process(server.pid)
    processes = [root, *root.children(recursive=True)]
    mapped = {p.pid: {m.path.rsplit("/", 1)[-1] for m in p.memory_maps()} for p in processes}
    assert len(processes) >= 2  # BentoML's arbiter and a worker
    assert any(any("onnxruntime" in name for name in names) for names in mapped.values())
    assert not any("libtorch" in name for names in mapped.values() for name in names), mapped
    megabytes = sum(p.memory_info().rss for p in processes) / 2**20
    print(f"server process tree: {megabytes:.0f} MB RSS")
    assert megabytes < 600


def test_bentomls_own_client_calls_the_typed_endpoints(server, reference):
    import bentoml

    with bentoml.SyncHTTPClient(server, timeout=60) as client:
        prediction = client.predict(image=SAMPLES / "cat_1.png", top_k=3, model="alternet-tiny-cifar10")
        batch = client.predict_batch(images=[SAMPLES / "dog_1.png", SAMPLES / "ship_2.png"], top_k=1)
        diagnosis = client.diagnose(image=SAMPLES / "cat_1.png", seed=2, draws=4)
    labels, _ = expected_top(reference, CAT, 3)
    assert [p["label"] for p in prediction["top_k"]] == labels
    assert len(batch["predictions"]) == 2 and diagnosis["diagnostics"]["seed"] == 2
