"""Against the real server: at least 100 distinct malformed requests, every one a 4xx with a JSON message and
the server healthy afterwards; then a bounded load test with adaptive batching visible in /metrics."""

import io
import json
import re
import struct
import zlib
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from PIL import Image

from hub.samples import SAMPLES

PNG = (SAMPLES / "cat_1.png").read_bytes()


def _encoded(mode: str, fmt: str, size=(32, 32)) -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, fmt)
    return buffer.getvalue()


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width x height`` pixels but carries almost no data (a decompression bomb)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\x00" * 64)) + \
        chunk(b"IEND", b"")


def bad_images() -> dict[str, bytes]:
    jpeg = _encoded("RGB", "JPEG", (64, 64))
    cases = {
        "empty": b"", "one byte": b"\x89", "text": b"hello world", "html": b"<html><body>x</body></html>",
        "json": b'{"image": 1}', "svg": b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>',
        "zeros": bytes(1000), "random": bytes(range(256)) * 8, "gif": _encoded("RGB", "GIF"),
        "tiff": _encoded("RGB", "TIFF"), "ico": _encoded("RGB", "ICO"), "pdf": b"%PDF-1.4\n%\xe2\xe3\n1 0 obj",
        "bomb 20k x 20k": _png_header_only(20000, 20000), "bomb 100k x 1k": _png_header_only(100000, 1000),
        "png header only": PNG[:8], "png signature and garbage": PNG[:8] + b"garbage" * 10,
        "jpeg soi only": b"\xff\xd8", "bmp header only": _encoded("RGB", "BMP")[:20],
        "webp header only": _encoded("RGB", "WEBP")[:16],
    }
    for cut in (16, 33, 60, 100, len(PNG) // 2, 3 * len(PNG) // 4):
        cases[f"png cut at {cut}"] = PNG[:cut]
    for cut in (4, 30, 100, 300, len(jpeg) // 2):
        cases[f"jpeg cut at {cut}"] = jpeg[:cut]
    return cases


def malformed_requests() -> list[tuple[str, str, dict]]:
    """(name, endpoint, httpx request kwargs)."""
    requests = []
    for name, data in bad_images().items():
        for endpoint in ("predict", "diagnose"):
            requests.append((f"{endpoint}: {name}", endpoint, {"files": {"image": ("x.png", data, "image/png")}}))
        pair = [("images", ("ok.png", PNG, "image/png")), ("images", ("x.png", data, "image/png"))]
        requests.append((f"predict_batch: {name}", "predict_batch", {"files": pair}))
    good = {"files": {"image": ("cat.png", PNG, "image/png")}}
    for value in ("0", "-1", "11", "1000000000", "abc", "2.5", "", "null", "[1]", "1e400"):
        for endpoint in ("predict", "diagnose"):
            requests.append((f"{endpoint}: top_k={value!r}", endpoint, {**good, "data": {"top_k": value}}))
    for field, value in (("draws", "0"), ("draws", "100000"), ("draws", "x"), ("seed", "-5"), ("seed", "1e30"),
                         ("strength", "0"), ("strength", "5"), ("strength", "nan"), ("figure", "maybe")):
        requests.append((f"diagnose: {field}={value}", "diagnose", {**good, "data": {field: value}}))
    for endpoint in ("predict", "predict_batch", "diagnose"):
        requests += [
            (f"{endpoint}: no body", endpoint, {}),
            (f"{endpoint}: unknown field", endpoint, {**good, "data": {"colour": "red"}}),
            (f"{endpoint}: plain text body", endpoint,
             {"content": b"just text", "headers": {"content-type": "text/plain"}}),
            (f"{endpoint}: xml body", endpoint, {"content": b"<a/>", "headers": {"content-type": "application/xml"}}),
            (f"{endpoint}: broken json", endpoint, {"content": b"{", "headers": {"content-type": "application/json"}}),
            (f"{endpoint}: json array", endpoint, {"json": [1, 2, 3]}),
            (f"{endpoint}: json without image", endpoint, {"json": {"top_k": 3}}),
            (f"{endpoint}: json image as number", endpoint, {"json": {"image": 5, "images": 5}}),
            (f"{endpoint}: pickle content type", endpoint,
             {"content": b"\x80\x04K\x01.", "headers": {"content-type": "application/vnd.bentoml+pickle"}}),
            (f"{endpoint}: wrong field name", endpoint, {"files": {"picture": ("cat.png", PNG, "image/png")}}),
            (f"{endpoint}: over-size body", endpoint,
             {"files": {"image": ("huge.png", b"\x00" * (12 * 1024 * 1024), "image/png")}}),
        ]
    requests += [
        ("predict_batch: no images", "predict_batch", {"data": {"top_k": "1"}}),
        ("predict_batch: too many images", "predict_batch",
         {"files": [("images", (f"{i}.png", PNG, "image/png")) for i in range(65)]}),
        ("logits: wrong shape", "logits", {"json": {"batch": [[1.0, 2.0]]}}),
        ("logits: strings", "logits", {"json": {"batch": "abc"}}),
        ("logits: missing", "logits", {"json": {}}),
        ("logits: unknown field", "logits", {"json": {"batch": [], "x": 1}}),
    ]
    return requests


def test_there_are_at_least_100_distinct_malformed_requests():
    names = [name for name, _, _ in malformed_requests()]
    assert len(names) == len(set(names)) >= 100


def test_malformed_requests_get_4xx_and_the_server_keeps_serving(server):
    failures = []
    with httpx.Client(base_url=server, timeout=60) as client:
        for name, endpoint, kwargs in malformed_requests():
            response = client.post(f"/{endpoint}", **kwargs)
            if not 400 <= response.status_code < 500:
                failures.append(f"{name}: {response.status_code} {response.text[:200]}")
                continue
            try:
                message = response.json()
            except json.JSONDecodeError:
                failures.append(f"{name}: {response.status_code} without a JSON body: {response.text[:100]}")
                continue
            if not (isinstance(message, dict) and message.get("error")):
                failures.append(f"{name}: no error message in {message}")
        assert client.get("/readyz").status_code == 200
        assert client.post("/predict", files={"image": ("cat.png", PNG, "image/png")}).status_code == 200
    assert not failures, "\n".join(failures)


def _batch_histogram(metrics: str) -> dict[str, float]:
    counts = {}
    for line in metrics.splitlines():
        match = re.match(r'howvits_model_batch_size_bucket\{.*le="([^"]+)".*\} ([0-9.e+]+)', line)
        if match:
            counts[match.group(1)] = counts.get(match.group(1), 0.0) + float(match.group(2))
    return counts


@pytest.mark.slow
def test_load_2000_requests_at_concurrency_16_zero_errors_and_real_batches(server):
    images = [path.read_bytes() for path in sorted(SAMPLES.glob("*.png"))]

    def worker(index: int) -> list[int]:
        statuses = []
        with httpx.Client(base_url=server, timeout=120) as client:
            for i in range(125):
                data = images[(index * 125 + i) % len(images)]
                statuses.append(client.post("/predict", files={"image": ("x.png", data, "image/png")}).status_code)
        return statuses

    with ThreadPoolExecutor(16) as pool:
        statuses = [s for result in pool.map(worker, range(16)) for s in result]
    assert len(statuses) == 2000 and statuses.count(200) == 2000, {s: statuses.count(s) for s in set(statuses)}
    histogram = _batch_histogram(httpx.get(f"{server}/metrics").text)
    assert histogram, "no adaptive batch histogram in /metrics"
    total, single = histogram.get("+Inf", 0), histogram.get("1.0", 0)
    assert total - single > 0, f"every batch had one request: {histogram}"
