"""Against the real server: more than 200 distinct hostile requests across every POST endpoint and transport
(multipart, urlencoded, JSON, raw and chunked bodies), every one a 4xx with a JSON message, none making the
server fetch anything, /livez answering while the heavy ones run and the server healthy afterwards; then a
bounded load test with adaptive batching visible in /metrics."""

import contextlib
import http.server
import io
import json
import re
import socket
import struct
import threading
import time
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


def _png(size: tuple[int, int], mode: str = "L") -> bytes:
    return _encoded(mode, "PNG", size)


def hostile_requests(canary: str) -> list[tuple[str, str, dict]]:
    """The classes the service once answered with a 500 or at a disproportionate cost; ``canary`` is the URL of a
    loopback server that must never be contacted."""
    good = ("cat.png", PNG, "image/png")
    digits = "9" * 5000
    deep = "[" * 50_000 + "]" * 50_000
    requests = []
    for endpoint, field in (("predict", "image"), ("predict_batch", "images"), ("diagnose", "image")):
        for what, text in (("url", f"{canary}/x.png"), ("file url", "file:///etc/passwd"), ("path", "/etc/passwd"),
                           ("relative path", "hub/samples/cat_1.png")):
            requests += [
                (f"{endpoint}: {what} as a multipart text value", endpoint, {"data": {field: text}}),
                (f"{endpoint}: {what} urlencoded", endpoint, {"content": f"{field}={text}".encode(),
                 "headers": {"content-type": "application/x-www-form-urlencoded"}}),
                (f"{endpoint}: {what} in JSON", endpoint, {"json": {field: [text] if field == "images" else text}}),
            ]
        files = [(field, good)]
        requests += [
            (f"{endpoint}: top_k of 5000 digits", endpoint, {"files": files, "data": {"top_k": digits}}),
            (f"{endpoint}: top_k of 5000 digits urlencoded", endpoint, {"content": f"top_k={digits}".encode(),
             "headers": {"content-type": "application/x-www-form-urlencoded"}}),
            (f"{endpoint}: deep JSON", endpoint, {"content": deep.encode(),
                                                  "headers": {"content-type": "application/json"}}),
            (f"{endpoint}: 1001 parts", endpoint, {"files": files + [("top_k", (None, "1"))] * 1001}),
            (f"{endpoint}: 1001 fields urlencoded", endpoint, {"content": "&".join(["a=1"] * 1001).encode(),
             "headers": {"content-type": "application/x-www-form-urlencoded"}}),
            (f"{endpoint}: a 2 MiB text part", endpoint, {"files": files, "data": {"top_k": "1" * (2 << 20)}}),
            (f"{endpoint}: a 100k-character file name", endpoint, {"files": [(field, ("a" * 100_000 + ".png", PNG,
                                                                                      "image/png"))]}),
            (f"{endpoint}: a part named in another charset", endpoint, {"content": _raw_part(
                "Content-Disposition: form-data; name*=UTF-8''image; filename=\"x.png\""), "headers": RAW}),
            (f"{endpoint}: a part without Content-Disposition", endpoint, {"content": _raw_part(
                "Content-Type: image/png"), "headers": RAW}),
            (f"{endpoint}: two Content-Type headers in a part", endpoint, {"content": _raw_part(
                f'Content-Disposition: form-data; name="{field}"; filename="x.png"\r\nContent-Type: text/plain\r\n'
                "Content-Type: image/png"), "headers": RAW}),
            (f"{endpoint}: a NUL in the part name", endpoint, {"content": _raw_part(
                f'Content-Disposition: form-data; name="{field}\x00"; filename="x.png"'), "headers": RAW}),
            (f"{endpoint}: a unicode part name", endpoint, {"content": _raw_part(
                'Content-Disposition: form-data; name="imag\u00e9"; filename="x.png"'), "headers": RAW}),
            (f"{endpoint}: no closing boundary", endpoint, {"content": _raw_part(
                f'Content-Disposition: form-data; name="{field}"; filename="x.png"')[:-20], "headers": RAW}),
            (f"{endpoint}: a multipart body without a boundary", endpoint, {"content": b"--x\r\n\r\n",
             "headers": {"content-type": "multipart/form-data"}}),
            (f"{endpoint}: a 1 x 100000 PNG", endpoint, {"files": [(field, ("t.png", _png((1, 100_000)),
                                                                            "image/png"))]}),
            (f"{endpoint}: a 1 x 40000000 PNG header", endpoint, {"files": [(field, ("t.png", _png_header_only(
                1, 40_000_000), "image/png"))]}),
            (f"{endpoint}: an ICO holding a PNG", endpoint, {"files": [(field, ("x.ico", _encoded(
                "RGBA", "ICO", (64, 64)), "image/x-icon"))]}),
            (f"{endpoint}: an RLE BMP", endpoint, {"files": [(field, ("x.bmp", _rle_bmp(), "image/bmp"))]}),
            (f"{endpoint}: a JPEG with 200 scans", endpoint, {"files": [(field, ("x.jpg", _many_scans(),
                                                                                 "image/jpeg"))]}),
        ]
    big = _png((3000, 3000))
    requests += [
        ("predict_batch: 64 zero PNGs of 9M pixels", "predict_batch",
         {"files": [("images", (f"{i}.png", big, "image/png")) for i in range(64)]}),
        ("logits: objects in the batch", "logits", {"json": {"batch": [[[[{"a": 1}] * 32] * 32] * 3]}}),
        ("logits: 400-digit integers", "logits", {"content": ('{"batch": [[[[' + "9" * 400 + "]]]]}").encode(),
                                                  "headers": {"content-type": "application/json"}}),
        ("logits: batch is an object", "logits", {"json": {"batch": {"0": [1.0]}}}),
        ("logits: a flat list of the right size", "logits", {"json": {"batch": [0.0] * 3072}}),
        ("logits: the right count in the wrong shape", "logits", {"json": {"batch": [[[[0.0] * 16] * 64] * 3]}}),
        ("logits: an empty batch", "logits", {"json": {"batch": []}}),
        ("logits: numbers as strings", "logits", {"json": {"batch": [[[["0.5"] * 32] * 32] * 3]}}),
        ("logits: NaN", "logits", {"content": b'{"batch": [[[[NaN]]]]}',
                                   "headers": {"content-type": "application/json"}}),
        ("logits: Infinity", "logits", {"content": ('{"batch": [[' + ",".join(
            ["[" + ",".join(["Infinity"] * 32) + "]"] * 32) + "]]]}").encode(),
                                        "headers": {"content-type": "application/json"}}),
        ("logits: deep JSON", "logits", {"content": deep.encode(), "headers": {"content-type": "application/json"}}),
        ("logits: multipart", "logits", {"files": {"batch": ("b.json", b"[]", "application/json")}}),
        ("logits: 65 images", "logits", {"json": {"batch": [[[[0.0] * 32] * 32] * 3] * 65}}),
    ]
    return requests


RAW = {"content-type": "multipart/form-data; boundary=XyZ"}


def _raw_part(headers: str, data: bytes = PNG) -> bytes:
    return f"--XyZ\r\n{headers}\r\n\r\n".encode() + data + b"\r\n--XyZ--\r\n"


def _rle_bmp() -> bytes:
    data = bytearray(_encoded("P", "BMP", (64, 64)))
    data[30:34] = (1).to_bytes(4, "little")
    return bytes(data)


def _many_scans() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "JPEG", progressive=True)
    return buffer.getvalue()[:-2] + b"\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00" * 200 + b"\xff\xd9"


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


def raw_requests() -> list[tuple[str, bytes]]:
    """Requests an HTTP client library would not send: chunked bodies, repeated or broken headers."""
    def chunked(path: str, content_type: str, size: int) -> bytes:
        piece = b"x" * (1 << 20)
        chunks = b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for _ in range(size >> 20))
        return (f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\n"
                f"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode() + chunks + b"0\r\n\r\n"

    def with_headers(path: str, headers: str, body: bytes = b"{}") -> bytes:
        return f"POST {path} HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n".encode() + body

    cases = []
    for path in ("/predict", "/predict_batch", "/diagnose", "/logits"):
        cases += [
            (f"{path}: a chunked 12 MiB text body", chunked(path, "text/plain", 12 << 20)),
            (f"{path}: a chunked 12 MiB JSON body", chunked(path, "application/json", 12 << 20)),
            (f"{path}: a chunked 12 MiB multipart body", chunked(path, "multipart/form-data; boundary=XyZ", 12 << 20)),
            (f"{path}: two Content-Type headers", with_headers(
                path, "Content-Type: application/json\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
                      "Content-Length: 2\r\n")),
            (f"{path}: a Content-Length that is not a number", with_headers(
                path, "Content-Type: application/json\r\nContent-Length: 2abc\r\n")),
        ]
    return cases


def send_raw(base: str, request: bytes) -> tuple[int, bytes]:
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(request)  # the server may answer and close before reading everything
        received = b""
        while b"\r\n\r\n" not in received or len(received) < 4096:
            try:
                chunk = sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                break
            if not chunk:
                break
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), body


class Canary(http.server.ThreadingHTTPServer):
    """A loopback server that records any request: the service must never contact it."""

    def __init__(self) -> None:
        self.hits: list[str] = []
        super().__init__(("127.0.0.1", 0), CanaryHandler)


class CanaryHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        self.send_response(200)
        self.end_headers()
        self.wfile.write(PNG)


@pytest.fixture(scope="module")
def canary():
    server = Canary()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()


def test_there_are_more_than_200_distinct_hostile_requests():
    names = [name for name, _, _ in malformed_requests() + hostile_requests("http://127.0.0.1:9")]
    names += [name for name, _ in raw_requests()]
    assert len(names) == len(set(names)) >= 200, len(names)


def _json_error(response: httpx.Response) -> str | None:
    """What is wrong with an error response (None when it is a 4xx carrying {"error": message})."""
    if not 400 <= response.status_code < 500:
        return f"{response.status_code} {response.text[:200]}"
    try:
        message = response.json()
    except json.JSONDecodeError:
        return f"{response.status_code} without a JSON body: {response.text[:100]}"
    return None if isinstance(message, dict) and message.get("error") else f"no error message in {message}"


def test_hostile_requests_get_4xx_fetch_nothing_and_the_server_keeps_serving(server, canary):
    url = f"http://127.0.0.1:{canary.server_address[1]}"
    failures, statuses = [], {}
    with httpx.Client(base_url=server, timeout=60) as client:
        for name, endpoint, kwargs in malformed_requests() + hostile_requests(url):
            response = client.post(f"/{endpoint}", **kwargs)
            statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
            if problem := _json_error(response):
                failures.append(f"{name}: {problem}")
        for name, request in raw_requests():
            status, body = send_raw(server, request)
            statuses[status] = statuses.get(status, 0) + 1
            if not 400 <= status < 500:
                failures.append(f"{name}: {status} {body[:200]}")
        assert client.get("/readyz").status_code == 200
        assert client.post("/predict", files={"image": ("cat.png", PNG, "image/png")}).status_code == 200
    print(f"statuses: {dict(sorted(statuses.items()))}")
    assert not failures, "\n".join(failures)
    with httpx.Client(base_url=server, timeout=60) as client:  # a file field given as text is a 400 in any form
        for name, endpoint, kwargs in hostile_requests(url):
            words = (" as a multipart text value", " urlencoded", " in JSON", "deep JSON")
            if endpoint != "logits" and any(word in name for word in words):
                response = client.post(f"/{endpoint}", **kwargs)
                assert response.status_code == 400 and "file" in response.json()["error"], (name, response.text)
    assert canary.hits == [], f"the service fetched {canary.hits}"


def test_livez_answers_while_heavy_requests_run(server):
    big = io.BytesIO()
    Image.effect_noise((2000, 2000), 64).convert("RGB").save(big, "JPEG", quality=95)
    heavy = [("/diagnose", {"files": {"image": ("n.jpg", big.getvalue(), "image/jpeg")}, "data": {"draws": "32"}}),
             ("/predict_batch", {"files": [("images", (f"{i}.jpg", big.getvalue(), "image/jpeg"))
                                           for i in range(3)]})] * 4
    done = threading.Event()
    heavy_statuses: list[int] = []

    def load() -> None:
        with httpx.Client(base_url=server, timeout=120) as client, ThreadPoolExecutor(4) as pool:
            heavy_statuses.extend(pool.map(lambda job: client.post(job[0], **job[1]).status_code, heavy))
        done.set()

    threading.Thread(target=load).start()
    latencies = []
    with httpx.Client(base_url=server, timeout=2) as client:
        while not done.is_set():
            tic = time.perf_counter()
            assert client.get("/livez").status_code == 200
            latencies.append(time.perf_counter() - tic)
            time.sleep(0.05)
    assert set(heavy_statuses) == {200}, heavy_statuses
    print(f"/livez during heavy requests: {len(latencies)} probes, max {1000 * max(latencies):.0f} ms")
    assert len(latencies) >= 5 and max(latencies) < 2


def _noisy_jpeg(size: int) -> bytes:
    big = io.BytesIO()
    Image.effect_noise((size, size), 64).convert("RGB").save(big, "JPEG")
    return big.getvalue()


def test_concurrent_diagnoses_wait_for_a_slot_instead_of_being_refused(server):
    data = _noisy_jpeg(1500)
    with httpx.Client(base_url=server, timeout=120) as client, ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda _: client.post(
            "/diagnose", files={"image": ("n.jpg", data, "image/jpeg")}, data={"draws": "32"}), range(8)))
    assert [r.status_code for r in responses] == [200] * 8  # two run at once, six wait in the queue


def test_diagnoses_beyond_a_full_queue_get_503_with_retry_after(strict_server):
    data = _noisy_jpeg(1500)  # HOWVITS_MAX_DIAGNOSE=1, HOWVITS_DIAGNOSE_QUEUE=1
    with httpx.Client(base_url=strict_server, timeout=120) as client, ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: client.post(
            "/diagnose", files={"image": ("n.jpg", data, "image/jpeg")}, data={"draws": "32"}), range(6)))
    busy = [r for r in responses if r.status_code == 503]
    assert busy and {r.status_code for r in responses} == {200, 503}
    assert all(r.headers["retry-after"] == "1" and "most this worker queues" in r.json()["error"] for r in busy)


def test_unknown_paths_do_not_add_metric_series(server):
    def round_of_unknown_paths(client: httpx.Client, tag: str) -> int:
        for i in range(50):
            assert client.post(f"/no-such-path-{tag}-{i}", content=b"x").status_code == 404
            assert client.get(f"/random/{tag}/{i}").status_code == 404
        return len(client.get("/metrics").text.splitlines())

    def other_gets(text: str) -> float:
        found = re.search(r'howvits_request_total\{endpoint="other",method="GET",status="404"\} ([0-9.]+)', text)
        return float(found[1]) if found else 0.0

    with httpx.Client(base_url=server, timeout=30) as client:
        before = other_gets(client.get("/metrics").text)
        round_of_unknown_paths(client, "a")  # the first round (and the /metrics reads) create their series
        first = round_of_unknown_paths(client, "b")
        second = round_of_unknown_paths(client, "c")
        text = client.get("/metrics").text
    assert second == first  # another hundred unknown paths: no new series
    assert "no-such-path" not in text and "random/" not in text and other_gets(text) - before == 150


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
