"""Several models behind one service, and the Open Inference Protocol: the JSON and binary forms in-process,
the real ``tritonclient`` against a real ``bentoml serve``, results equal to the in-process predictor."""

import base64
import json
import struct
import time

import numpy as np
import pytest

from export import load_predictor
from hub.samples import SAMPLES

NAMES = ("alternet-tiny-cifar10", "vit-tiny-cifar10", "resnet-tiny-cifar10")
IMAGES = [(SAMPLES / name).read_bytes() for name in ("cat_1.png", "dog_1.png", "ship_2.png")]


@pytest.fixture(scope="module")
def predictors():
    return {name: load_predictor(name, "onnxruntime", threads=1) for name in NAMES}


def batch_of(predictor, images=IMAGES) -> np.ndarray:
    from serving.images import decode_image

    return predictor.preprocess([decode_image(data, 10 << 20, 10**7, 36).image for data in images])


def infer(client, model: str, payload: dict, binary: bytes = b"", **headers):
    body = json.dumps(payload).encode()
    if binary:
        headers["Inference-Header-Content-Length"] = str(len(body))
    return client.post(f"/v2/models/{model}/infer", content=body + binary, headers=headers)


def fp32_input(array: np.ndarray, binary: bool = False) -> dict:
    tensor = {"name": "input", "datatype": "FP32", "shape": list(array.shape)}
    if binary:
        tensor["parameters"] = {"binary_data_size": array.nbytes}
    else:
        tensor["data"] = array.reshape(-1).tolist()
    return tensor


def test_server_metadata_health_and_the_model_list(app_client):
    assert app_client.get("/v2").json()["extensions"] == ["binary_tensor_data", "classification", "model_repository",
                                                          "model_configuration", "statistics"]
    assert app_client.get("/v2/health/live").status_code == 200
    assert app_client.get("/v2/health/ready").status_code == 200
    listed = app_client.get("/models").json()
    assert [m["name"] for m in listed["models"]] == list(NAMES) and listed["default"] == NAMES[0]
    assert all(m["ready"] and m["backend"] == "onnxruntime" and m["batching"]["enabled"] for m in listed["models"])
    assert app_client.get("/model", params={"model": "vit-tiny-cifar10"}).json()["config"]["architecture"] == \
        "vit_tiny"
    assert app_client.get("/model", params={"model": "nope"}).status_code == 404
    meta = app_client.get("/v2/models/vit-tiny-cifar10").json()
    assert meta["versions"] == ["1"] and meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "input", "datatype": "FP32", "shape": [-1, 3, 32, 32]},
                              {"name": "image", "datatype": "BYTES", "shape": [-1]}]
    assert [o["name"] for o in meta["outputs"]] == ["logits", "probabilities"]
    assert app_client.get("/v2/models/vit-tiny-cifar10/versions/1").json() == meta
    assert app_client.get("/v2/models/vit-tiny-cifar10/ready").status_code == 200


@pytest.mark.parametrize("name", NAMES)
def test_json_infer_equals_the_predictor(app_client, predictors, name):
    batch = batch_of(predictors[name])
    response = infer(app_client, name, {"id": "r1", "inputs": [fp32_input(batch)]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "r1" and body["model_name"] == name and body["model_version"] == "1"
    outputs = {o["name"]: o for o in body["outputs"]}
    logits = np.array(outputs["logits"]["data"], dtype=np.float32).reshape(outputs["logits"]["shape"])
    assert np.allclose(logits, predictors[name].predict(batch), atol=1e-4)
    assert np.allclose(np.array(outputs["probabilities"]["data"]).reshape(3, -1).sum(1), 1, atol=1e-5)


def test_images_as_base64_json_and_as_binary_bytes(app_client, predictors):
    name = "resnet-tiny-cifar10"
    expected = predictors[name].predict(batch_of(predictors[name]))
    as_json = infer(app_client, name, {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [3],
                                                   "data": [base64.b64encode(d).decode() for d in IMAGES]}],
                                       "outputs": [{"name": "logits"}]})
    assert as_json.status_code == 200, as_json.text
    assert np.allclose(np.array(as_json.json()["outputs"][0]["data"]).reshape(3, -1), expected, atol=1e-4)
    raw = b"".join(struct.pack("<I", len(d)) + d for d in IMAGES)
    binary = infer(app_client, name, {"inputs": [{"name": "image", "datatype": "BYTES", "shape": [3, 1],
                                                  "parameters": {"binary_data_size": len(raw)}}],
                                      "outputs": [{"name": "logits", "parameters": {"binary_data": True}}]}, raw)
    assert binary.status_code == 200, binary.text
    head = int(binary.headers["inference-header-content-length"])
    header = json.loads(binary.content[:head])
    assert header["outputs"][0]["parameters"]["binary_data_size"] == 3 * 10 * 4
    logits = np.frombuffer(binary.content[head:], dtype="<f4").reshape(3, 10)
    assert np.allclose(logits, expected, atol=1e-4)
    top = app_client.post("/predict", files={"image": ("x.png", IMAGES[0], "image/png")}, data={"model": name})
    assert top.json()["model"] == name
    assert top.json()["top_k"][0]["index"] == int(np.argmax(expected[0]))


def test_binary_fp32_input_and_classification(app_client, predictors):
    name = "alternet-tiny-cifar10"
    batch = batch_of(predictors[name])
    response = infer(app_client, name, {"inputs": [fp32_input(batch, binary=True)],
                                        "outputs": [{"name": "probabilities", "parameters": {"classification": 3}}]},
                     batch.astype("<f4").tobytes())
    assert response.status_code == 200, response.text
    output = response.json()["outputs"][0]
    assert output["datatype"] == "BYTES" and output["shape"] == [3, 3]
    probabilities = np.exp(predictors[name].predict(batch).astype(np.float64))
    probabilities /= probabilities.sum(1, keepdims=True)
    labels = predictors[name].config.label_names
    for row, strings in zip(probabilities, np.array(output["data"]).reshape(3, 3), strict=True):
        order = np.argsort(-row)[:3]
        assert [s.split(":", 1)[1] for s in strings] == [f"{i}:{labels[i]}" for i in order]
        assert np.allclose([float(s.split(":")[0]) for s in strings], row[order], atol=1e-5)


@pytest.mark.parametrize(("payload", "binary", "message"), [
    ({"inputs": []}, b"", "exactly one input"),
    ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": [0.0]}]}, b"", "3072 numbers"),
    ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 16, 16], "data": [0.0] * 768}]}, b"",
     "has shape [-1, 3, 32, 32]"),
    ({"inputs": [{"name": "input", "datatype": "FP64", "shape": [1, 3, 32, 32], "data": [0.0] * 3072}]}, b"",
     "is FP32"),
    ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32], "data": ["a"] * 3072}]}, b"",
     "non-numbers"),
    ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32],
                  "parameters": {"binary_data_size": 12288}}]}, b"\x00\x00\xc0\x7f" * 3072, "NaN"),
    ({"inputs": [{"name": "input", "datatype": "FP32", "shape": [1, 3, 32, 32],
                  "parameters": {"binary_data_size": 100}}]}, b"\x00" * 100, "12288 bytes"),
    ({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["%%%"]}]}, b"", "base64"),
    ({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": [base64.b64encode(b"GIF89a").decode()]}]},
     b"", "GIF"),
    ({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "parameters": {"binary_data_size": 6}}]},
     b"\x09\x00\x00\x00ab", "ends inside"),
    ({"inputs": [{"name": "x", "datatype": "FP32", "shape": [1], "data": [1]}]}, b"", "unknown input"),
    ({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["aGk="]}],
      "outputs": [{"name": "features"}]}, b"", "unknown output"),
    ({"inputs": [{"name": "image", "datatype": "BYTES", "shape": [1], "data": ["aGk="]}],
      "outputs": [{"name": "logits", "parameters": {"classification": 11}}]}, b"", "classification"),
])
def test_bad_requests_are_4xx_with_the_protocols_error_object(app_client, payload, binary, message):
    response = infer(app_client, "alternet-tiny-cifar10", payload, binary)
    assert 400 <= response.status_code < 500, response.text
    assert message in response.json()["error"]


def test_framing_errors_unknown_models_and_methods(app_client):
    url = "/v2/models/alternet-tiny-cifar10/infer"
    assert "not valid JSON" in app_client.post(url, content=b"{nope").json()["error"]
    deep = app_client.post(url, content=b"[" * 100_000 + b"]" * 100_000)
    assert deep.status_code == 400 and "nests deeper than 32" in deep.json()["error"]
    deep_index = app_client.post("/v2/repository/index", content=b'{"a":' * 5_000 + b"1" + b"}" * 5_000,
                                 headers={"content-type": "application/json"})
    assert deep_index.status_code == 400 and "nests deeper" in deep_index.json()["error"]
    bad_length = app_client.post(url, content=b"{}", headers={"Inference-Header-Content-Length": "99"})
    assert bad_length.status_code == 400 and "does not fit" in bad_length.json()["error"]
    unknown = app_client.post("/v2/models/nope/infer", content=b"{}")
    assert unknown.status_code == 400 and "unknown model" in unknown.json()["error"]
    assert app_client.get("/v2/models/nope/ready").status_code == 400
    assert "no version" in app_client.get("/v2/models/alternet-tiny-cifar10/versions/2").json()["error"]
    assert app_client.get(url).status_code == 405
    assert app_client.get("/v2/models/a/b/c/d").status_code == 404
    assert app_client.post("/predict", files={"image": ("x.png", IMAGES[0], "image/png")},
                           data={"model": "../etc/passwd"}).status_code == 400
    assert "not loaded" in app_client.post("/predict", files={"image": ("x.png", IMAGES[0], "image/png")},
                                           data={"model": "nope"}).json()["error"]


def test_repository_control_is_off_by_default_and_the_index_lists_what_may_be_loaded(app_client):
    index = {row["name"]: row for row in app_client.post("/v2/repository/index").json()}
    assert all(index[name]["state"] == "READY" for name in NAMES) and "alternet-cifar100" in index
    assert [r["name"] for r in app_client.post("/v2/repository/index", json={"ready": True}).json()] == sorted(NAMES)
    for action in ("load", "unload"):
        for kwargs in ({}, {"json": {}}, {"content": b"x", "headers": {"content-type": "text/plain"}},
                       {"json": {}, "headers": {"authorization": "Bearer " + "x" * 32}}):
            refused = app_client.post(f"/v2/repository/models/vit-tiny-cifar10/{action}", **kwargs)
            assert refused.status_code == 403 and "HOWVITS_MODEL_CONTROL=explicit" in refused.json()["error"]
    assert app_client.get("/v2/models/vit-tiny-cifar10/ready").status_code == 200
    assert app_client.get("/v2/health/ready").status_code == 200


def test_statistics_and_model_configuration(app_client, predictors):
    name = "resnet-tiny-cifar10"
    before = app_client.get(f"/v2/models/{name}/stats").json()["model_stats"][0]
    batch = batch_of(predictors[name])
    assert infer(app_client, name, {"inputs": [fp32_input(batch)]}).status_code == 200
    assert infer(app_client, name, {"inputs": [{"name": "input"}]}).status_code == 400  # counted as a failure
    after = app_client.get(f"/v2/models/{name}/versions/1/stats").json()["model_stats"][0]
    assert after["name"] == name and after["version"] == "1"
    assert after["inference_count"] - before["inference_count"] == 3
    assert after["execution_count"] - before["execution_count"] == 1
    stats, old = after["inference_stats"], before["inference_stats"]
    assert stats["success"]["count"] - old["success"]["count"] == 1 == stats["fail"]["count"] - old["fail"]["count"]
    for phase in ("queue", "compute_input", "compute_infer", "compute_output"):
        assert stats[phase]["count"] - old[phase]["count"] == 1 and stats[phase]["ns"] > old[phase]["ns"]
    assert {b["batch_size"] for b in after["batch_stats"]} >= {3}
    every = app_client.get("/v2/models/stats").json()["model_stats"]
    assert [m["name"] for m in every] == list(NAMES)
    config = app_client.get(f"/v2/models/{name}/config").json()
    assert config["name"] == name and config["platform"] == "onnxruntime_onnx" and config["max_batch_size"] == 64
    assert config["input"][0] == {"name": "input", "data_type": "TYPE_FP32", "format": "FORMAT_NCHW",
                                  "dims": [3, 32, 32]}
    assert [o["name"] for o in config["output"]] == ["logits", "probabilities"]
    assert "dynamic_batching" in config


def test_a_shape_with_400000_entries_is_refused_at_once(app_client):
    started = time.perf_counter()
    response = infer(app_client, NAMES[0], {"inputs": [{"name": "input", "datatype": "FP32",
                                                         "shape": [1 << 30] * 400_000, "data": [0.0]}]})
    assert response.status_code == 400 and "at most 4 dimensions" in response.json()["error"]
    assert time.perf_counter() - started < 1


def test_tritonclient_against_a_real_server(server, predictors):
    import tritonclient.http as httpclient
    import tritonclient.http.aio as aioclient

    client = httpclient.InferenceServerClient(server.removeprefix("http://"))
    assert client.is_server_live() and client.is_server_ready()
    name = "vit-tiny-cifar10"
    assert client.is_model_ready(name) and not client.is_model_ready("nope")
    metadata = client.get_model_metadata(name)
    assert [i["name"] for i in metadata["inputs"]] == ["input", "image"]
    batch = batch_of(predictors[name])
    expected = predictors[name].predict(batch)
    for binary in (False, True):
        tensor = httpclient.InferInput("input", list(batch.shape), "FP32")
        tensor.set_data_from_numpy(batch, binary_data=binary)
        outputs = [httpclient.InferRequestedOutput("logits", binary_data=binary),
                   httpclient.InferRequestedOutput("probabilities", binary_data=binary, class_count=2)]
        result = client.infer(name, [tensor], outputs=outputs, request_id="abc")
        assert np.allclose(result.as_numpy("logits"), expected, atol=1e-4)
        top = result.as_numpy("probabilities")
        best = [(s.decode() if isinstance(s, bytes) else s).split(":")[1] for s in top[:, 0]]  # bytes when binary
        assert top.shape == (3, 2) and list(map(int, best)) == expected.argmax(1).tolist()
        assert result.get_response()["id"] == "abc"
    images = httpclient.InferInput("image", [len(IMAGES)], "BYTES")
    images.set_data_from_numpy(np.array(IMAGES, dtype=np.object_), binary_data=True)
    result = client.infer(name, [images], outputs=[httpclient.InferRequestedOutput("logits")])
    assert np.allclose(result.as_numpy("logits"), expected, atol=1e-4)
    with pytest.raises(Exception, match="unknown model"):
        client.infer("nope", [tensor])
    assert {r["name"] for r in client.get_model_repository_index() if r.get("state") == "READY"} == set(NAMES)
    statistics = client.get_inference_statistics(name)["model_stats"][0]
    assert statistics["name"] == name and statistics["inference_count"] >= 2 * len(batch) + len(IMAGES)
    assert statistics["inference_stats"]["compute_infer"]["ns"] > 0
    assert {m["name"] for m in client.get_inference_statistics()["model_stats"]} == set(NAMES)
    assert client.get_model_config(name)["max_batch_size"] == 64

    async def asynchronous() -> np.ndarray:
        async with aioclient.InferenceServerClient(server.removeprefix("http://")) as aio:
            tensor = aioclient.InferInput("input", list(batch.shape), "FP32")
            tensor.set_data_from_numpy(batch)
            return (await aio.infer(name, [tensor])).as_numpy("logits")

    import asyncio

    assert np.allclose(asyncio.run(asynchronous()), expected, atol=1e-4)
