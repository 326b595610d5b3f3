"""Repository control against real ``bentoml serve`` processes: refused while off (the default), without the
token, with a wrong one and with a body type a cross-site page can send; allowed with all of them; the default
model is kept unless the request insists; a failed load says why in a few words, without hosts or paths."""

import httpx
import pytest

from serving.settings import ServiceSettings
from tests.serving.conftest import TOKEN

JSON = {"content-type": "application/json"}
AUTH = {"authorization": f"Bearer {TOKEN}"}


def control(url: str, action: str, name: str, **kwargs) -> httpx.Response:
    return httpx.post(f"{url}/v2/repository/models/{name}/{action}", timeout=120, **kwargs)


def test_control_is_refused_while_off_whatever_the_request_carries(server):
    for headers in ({}, JSON, {**JSON, **AUTH}, {"content-type": "text/plain"}):
        for action in ("load", "unload"):
            refused = control(server, action, "vit-tiny-cifar10", headers=headers, content=b"{}")
            assert refused.status_code == 403 and "HOWVITS_MODEL_CONTROL=explicit" in refused.json()["error"]
    assert httpx.get(f"{server}/v2/models/vit-tiny-cifar10/ready").status_code == 200


@pytest.mark.parametrize(("headers", "status"), [
    ({}, 401), (JSON, 401), ({**JSON, "authorization": "Bearer wrong"}, 401),
    ({**JSON, "authorization": f"Bearer {TOKEN[:-1]}"}, 401), ({**JSON, "authorization": f"Basic {TOKEN}"}, 401),
    ({**JSON, "authorization": TOKEN}, 401),
    (AUTH, 415), ({**AUTH, "content-type": "text/plain"}, 415),
    ({**AUTH, "content-type": "application/x-www-form-urlencoded"}, 415),
    ({**AUTH, "content-type": "multipart/form-data; boundary=x"}, 415),
])
def test_control_needs_the_token_and_a_json_body(strict_server, headers, status):
    refused = control(strict_server, "unload", "resnet-tiny-cifar10", headers=headers, content=b"{}")
    assert refused.status_code == status, refused.text
    assert refused.json()["error"]
    if status == 401:
        assert refused.headers["www-authenticate"].startswith("Bearer")
    assert httpx.get(f"{strict_server}/v2/models/resnet-tiny-cifar10/ready").status_code == 200


def test_an_operator_unloads_and_loads_and_the_default_model_is_kept(strict_server):
    allowed = {**AUTH, **JSON}
    assert control(strict_server, "unload", "resnet-tiny-cifar10", headers=allowed, json={}).status_code == 200
    assert httpx.get(f"{strict_server}/v2/models/resnet-tiny-cifar10/ready").status_code == 400
    assert httpx.get(f"{strict_server}/v2/health/ready").status_code == 503  # a configured model is missing
    kept = control(strict_server, "unload", "alternet-tiny-cifar10", headers=allowed, json={})
    assert kept.status_code == 409 and '"force": true' in kept.json()["error"]
    assert control(strict_server, "load", "resnet-tiny-cifar10", headers=allowed, json={}).status_code == 200
    assert httpx.get(f"{strict_server}/v2/health/ready").status_code == 200
    overrides = control(strict_server, "load", "resnet-tiny-cifar10", headers=allowed,
                        json={"parameters": {"file:1/model.onnx": "AAAA"}})
    assert overrides.status_code == 400 and "not accepted" in overrides.json()["error"]
    for name in ("http:", "not-a-model", "..", "%2Fetc%2Fpasswd", "~"):
        refused = control(strict_server, "load", name, headers=allowed, json={})
        assert refused.status_code in (400, 404), name
        assert refused.status_code == 404 or "may load" in refused.json()["error"]


def test_a_failed_load_says_why_in_a_few_words_and_harms_no_one(strict_server):
    failed = control(strict_server, "load", "alternet-cifar100", headers={**AUTH, **JSON}, json={})
    assert failed.status_code == 422, failed.text
    message = failed.json()["error"]
    assert "not available on this server" in message
    assert not any(leak in message for leak in ("/", "http", "127.0.0.1", "issue", "torchrun")), message
    rows = {row["name"]: row for row in httpx.post(f"{strict_server}/v2/repository/index").json()}
    assert rows["alternet-cifar100"]["state"] == "UNAVAILABLE" and "/" not in rows["alternet-cifar100"]["reason"]
    assert httpx.get(f"{strict_server}/v2/health/ready").status_code == 200


def test_tritonclient_controls_the_repository_with_the_token(strict_server):
    import tritonclient.http as httpclient
    from tritonclient.utils import InferenceServerException

    client = httpclient.InferenceServerClient(strict_server.removeprefix("http://"))
    with pytest.raises(InferenceServerException, match="token"):
        client.unload_model("resnet-tiny-cifar10")
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    client.unload_model("resnet-tiny-cifar10", headers=headers)
    assert not client.is_model_ready("resnet-tiny-cifar10")
    client.load_model("resnet-tiny-cifar10", headers=headers)
    assert client.is_model_ready("resnet-tiny-cifar10")


def test_explicit_control_needs_one_worker_and_a_real_token(monkeypatch):
    for env, words in (({"HOWVITS_MODEL_CONTROL": "explicit"}, "control token"),
                       ({"HOWVITS_MODEL_CONTROL": "explicit", "HOWVITS_CONTROL_TOKEN": "short"}, "16 characters"),
                       ({"HOWVITS_MODEL_CONTROL": "explicit", "HOWVITS_CONTROL_TOKEN": TOKEN, "HOWVITS_WORKERS": "2"},
                        "HOWVITS_WORKERS=1")):
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        with pytest.raises(ValueError, match=words):
            ServiceSettings()
        for key in env:
            monkeypatch.delenv(key)
    assert ServiceSettings().model_control == "none"
    monkeypatch.setenv("HOWVITS_CONTROL_TOKEN", TOKEN)
    assert TOKEN not in repr(ServiceSettings())
