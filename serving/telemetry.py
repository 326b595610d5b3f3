"""Request metrics with bounded labels, served at ``/metrics`` (Prometheus text).

BentoML's own request metrics label every request by its raw path, so each random 404 would add series that
live as long as the process; they are switched off and these count unknown paths under ``other``.
"""

from __future__ import annotations

import bentoml

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
REQUESTS = bentoml.metrics.Counter(name="howvits_request_total", labelnames=["endpoint", "method", "status"],
                                   documentation="requests by endpoint (unknown paths: other), method and status")
DURATION = bentoml.metrics.Histogram(name="howvits_request_duration_seconds", labelnames=["endpoint"],
                                     buckets=BUCKETS, documentation="request latency by endpoint")


def record(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint=endpoint, method=method if method in ("GET", "HEAD", "POST") else "other",
                    status=str(status)).inc()
    DURATION.labels(endpoint=endpoint).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of every metric of this process (or of all workers, in multiprocess mode)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    client = BentoMLContainer.metrics_client.get()
    return client.generate_latest(), client.CONTENT_TYPE_LATEST
