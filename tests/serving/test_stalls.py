"""No single request stalls a worker: while each hostile request runs against a real ``bentoml serve``, a prober
asks ``/livez`` every 50 ms and the test fails on any answer slower than 1 s (or none). The classes: Open
Inference Protocol shape lists, deep JSON on every JSON route, long and many headers, long multipart part
headers, large JSON tensors, and bodies that trickle in."""

import contextlib
import json
import select
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from hub.samples import SAMPLES
from tests.serving.test_hardening import send_raw

PNG = (SAMPLES / "cat_1.png").read_bytes()
MODEL = "alternet-tiny-cifar10"


@contextlib.contextmanager
def livez_prober(url: str) -> Iterator[list[float]]:
    """Probe ``/livez`` every 50 ms in a thread until the block ends; yields the latencies (a failed or
    timed-out probe counts as infinitely slow)."""
    latencies: list[float] = []
    done = threading.Event()

    def probe() -> None:
        with httpx.Client(base_url=url, timeout=5) as client:
            while not done.is_set():
                started = time.perf_counter()
                try:
                    ok = client.get("/livez").status_code == 200
                except httpx.HTTPError:
                    ok = False
                latencies.append(time.perf_counter() - started if ok else float("inf"))
                time.sleep(0.05)

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    try:
        yield latencies
    finally:
        done.set()
        thread.join()


def hostile_bodies() -> dict[str, tuple[str, dict]]:
    deep = b"[" * 2_000_000 + b"]" * 2_000_000
    numbers = json.dumps({"inputs": [{"name": "input", "datatype": "FP32", "shape": [64, 3, 32, 32],
                                      "data": [0.123456789] * (64 * 3 * 32 * 32)}]}).encode()
    return {
        "400,000 shape entries": (f"/v2/models/{MODEL}/infer", {"content": json.dumps({"inputs": [{
            "name": "input", "datatype": "FP32", "shape": [1 << 30] * 400_000, "data": [0.0]}]}).encode()}),
        "deep JSON to infer": (f"/v2/models/{MODEL}/infer", {"content": deep}),
        "deep JSON to the repository index": ("/v2/repository/index", {"content": deep[:30_000] + deep[-30_000:]}),
        "deep JSON to /logits": ("/logits", {"content": deep, "headers": {"content-type": "application/json"}}),
        "an escaped-quote string to infer": (f"/v2/models/{MODEL}/infer", {"content": b'"' + b'\\"' * 4_000_000}),
        "a full batch of JSON numbers": (f"/v2/models/{MODEL}/infer", {"content": numbers}),
        "a 4 MB part header": ("/predict", {"content": b"--x\r\nContent-Disposition: form-data; name=\"image\"; "
                                                       b"filename=\"" + b"a" * (4 << 20) + b"\"\r\n\r\n" + PNG +
                                                       b"\r\n--x--\r\n",
                                            "headers": {"content-type": "multipart/form-data; boundary=x"}}),
        "60 parts": ("/predict", {"files": [("image", ("x.png", PNG, "image/png"))] + [("top_k", (None, "1"))] * 60}),
    }


@pytest.mark.parametrize("name", list(hostile_bodies()))
def test_no_hostile_body_stalls_the_worker(server, name):
    path, kwargs = hostile_bodies()[name]
    with livez_prober(server) as latencies:
        time.sleep(0.2)
        response = httpx.post(f"{server}{path}", timeout=120, **kwargs)
        time.sleep(0.2)
    assert 200 <= response.status_code < 500 and response.json(), (name, response.status_code, response.text[:200])
    assert response.status_code == 200 or response.json()["error"]
    slowest = max(latencies)
    print(f"{name}: {response.status_code}, {len(latencies)} probes, slowest {1000 * slowest:.0f} ms")
    assert len(latencies) >= 3 and slowest < 1.0, f"/livez took {slowest:.2f} s during {name}"


def raw_header_requests() -> dict[str, bytes]:
    return {
        "a 1 MB header line": b"GET /models HTTP/1.1\r\nHost: x\r\nX-Long: " + b"a" * (1 << 20) + b"\r\n\r\n",
        "10,000 headers": b"GET /models HTTP/1.1\r\nHost: x\r\n" + b"X-A: b\r\n" * 10_000 + b"\r\n",
        "a 1 MB request line": b"GET /" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
    }


@pytest.mark.parametrize("name", list(raw_header_requests()))
def test_no_header_flood_stalls_the_worker(server, name):
    with livez_prober(server) as latencies:
        time.sleep(0.2)
        status, _ = send_raw(server, raw_header_requests()[name])
        time.sleep(0.2)
    assert status < 500, status  # refused by the HTTP parser, or (10,000 short headers) answered
    assert len(latencies) >= 3 and max(latencies) < 1.0, f"/livez took {max(latencies):.2f} s during {name}"


def trickle(url: str, path: str, headers: str, body: bytes, seconds: float) -> int:
    """Send a request whose body arrives one byte every 100 ms for ``seconds``; the status answered."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode())
        deadline = time.monotonic() + seconds
        sent = 0
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline and sent < len(body) - 1 and not select.select([sock], [], [], 0)[0]:
                sock.sendall(body[sent:sent + 1])
                sent += 1
                time.sleep(0.1)
        answer = sock.recv(65536)
    return int(answer.split(b" ")[1])


@pytest.mark.parametrize(("path", "headers", "body"), [
    ("/predict", "Content-Type: multipart/form-data; boundary=x\r\n",
     b'--x\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n\r\n' + PNG + b"\r\n--x--\r\n"),
    (f"/v2/models/{MODEL}/infer", "", b'{"inputs": [' + b" " * 1000 + b"]}"),
    ("/logits", "Content-Type: application/json\r\n", b'{"batch": [' + b" " * 1000 + b"]}"),
])
def test_a_trickling_body_is_cut_off_at_the_deadline(strict_server, path, headers, body):
    with livez_prober(strict_server) as latencies:
        started = time.monotonic()
        status = trickle(strict_server, path, headers, body, seconds=6)
        elapsed = time.monotonic() - started
    assert status == 408 and elapsed < 5, (status, elapsed)  # HOWVITS_BODY_TIMEOUT_S=2
    assert max(latencies) < 1.0
