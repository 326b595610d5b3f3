"""A soak against a real ``bentoml serve`` on loopback: 10,000 requests at concurrency 32, valid and invalid
mixed across the endpoints. Valid requests all succeed at the first attempt (none is refused: diagnoses beyond the
running ones wait in a bounded queue), the server's resident memory grows less than 10% after warm-up, and no
upload leaves a file in its temporary directory (BentoML keeps a pool of empty per-request directories, at
most one per concurrent request, for reuse)."""

import itertools
import random
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import numpy as np
import psutil
import pytest

from hub.samples import SAMPLES
from tests.servers import bentoml_serve
from tests.serving.test_hardening import bad_images

TOTAL, CONCURRENCY, WARM_UP = 10_000, 32, 3_000
TIMEOUT_S = 10
"""BentoML keeps each request's context until its request timeout expires (its timer is never cancelled): with
a 10 s timeout the memory levels off within the warm-up, so what grows after it would be a leak."""
IMAGES = [path.read_bytes() for path in sorted(SAMPLES.glob("*.png"))]
BAD = list(bad_images().values())


def job(i: int) -> tuple[str, bool, dict]:
    """``(path, valid, request kwargs)`` of request ``i``: about 70% valid."""
    pick = random.Random(i)
    image = IMAGES[i % len(IMAGES)]
    roll = pick.random()
    if roll < 0.50:
        return "/predict", True, {"files": {"image": ("x.png", image, "image/png")}, "data": {"top_k": "3"}}
    if roll < 0.62:
        images = [("images", (f"{k}.png", IMAGES[(i + k) % len(IMAGES)], "image/png")) for k in range(4)]
        return "/predict_batch", True, {"files": images}
    if roll < 0.66:
        return "/diagnose", True, {"files": {"image": ("x.png", image, "image/png")}, "data": {"draws": "4"}}
    if roll < 0.70:
        return "/logits", True, {"json": {"batch": np.zeros((2, 3, 32, 32)).tolist()}}
    bad = BAD[i % len(BAD)]
    return pick.choice([
        ("/predict", False, {"files": {"image": ("x.png", bad, "image/png")}}),
        ("/predict_batch", False, {"files": [("images", ("a.png", image, "image/png")), ("images", ("b", bad))]}),
        ("/diagnose", False, {"files": {"image": ("x.png", image, "image/png")}, "data": {"draws": "9" * 30}}),
        ("/predict", False, {"data": {"image": "http://127.0.0.1:9/x.png"}}),
        ("/logits", False, {"json": {"batch": [1.0, 2.0]}}),
        ("/predict", False, {"content": b"plain", "headers": {"content-type": "text/plain"}}),
    ])


def rss(pid: int) -> int:
    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process, *process.children(recursive=True)])


@pytest.mark.slow
def test_soak_mixed_requests_at_concurrency_32(tmp_path):
    uploads = tmp_path / "tmp"
    uploads.mkdir()
    with bentoml_serve(TMPDIR=str(uploads), HOWVITS_TIMEOUT_S=str(TIMEOUT_S)) as server:
        before = set(uploads.rglob("*"))
        results: list[tuple[bool, int, float, int]] = []
        samples: list[tuple[int, int]] = []

        def worker(indices: range) -> None:
            with httpx.Client(base_url=server, timeout=120) as client:
                for i in indices:
                    path, valid, kwargs = job(i)
                    tic = time.perf_counter()
                    response = client.post(path, **kwargs)
                    results.append((valid, response.status_code, time.perf_counter() - tic))
                    if len(results) % 500 == 0:
                        samples.append((len(results), rss(server.pid)))

        bounds = [round(k * TOTAL / CONCURRENCY) for k in range(CONCURRENCY + 1)]
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(worker, [range(a, b) for a, b in itertools.pairwise(bounds)]))
        created = set(uploads.rglob("*")) - before
        leftover = [p for p in created if not p.is_dir()]
        pooled = [p for p in created if p.is_dir()]
    valid = [r for r in results if r[0]]
    failures = [status for ok, status, _ in valid if status != 200]
    invalid_5xx = [status for ok, status, _ in results if not ok and status >= 500]
    warm = next(memory for count, memory in samples if count >= WARM_UP)
    peak = max(memory for count, memory in samples if count >= WARM_UP)
    p99 = 1000 * float(np.percentile([seconds for _, _, seconds in valid], 99))
    print(f"soak: {len(results)} requests, {len(valid)} valid, refused {failures.count(503)}, "
          f"RSS after warm-up {warm / 2**20:.0f} MiB, peak after {peak / 2**20:.0f} MiB "
          f"({100 * (peak / warm - 1):+.1f}%), valid p99 {p99:.0f} ms, files left {len(leftover)}, pooled empty "
          f"directories {len(pooled)}")
    print("RSS (MiB) every 500 requests:", [round(m / 2**20) for _, m in samples])
    assert len(results) == TOTAL and not failures and not invalid_5xx
    assert len(pooled) <= CONCURRENCY + 1
    assert peak < 1.10 * warm
    assert not leftover, sorted(map(str, leftover))[:10]
