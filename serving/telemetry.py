"""Prometheus metrics with bounded labels, served at ``/metrics``: requests by route template (unknown paths as
``other``), and per model, as Triton counts them, requests, images, model executions and the time spent queued
and in each compute phase (:mod:`serving.statistics` records them).

BentoML's own request metrics label every request by its raw path, so each random 404 would add series that
live as long as the process; they are switched off.
"""

from __future__ import annotations

import bentoml

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
BATCH_BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)
REQUESTS = bentoml.metrics.Counter(name="howvits_request_total", labelnames=["endpoint", "method", "status"],
                                   documentation="requests by endpoint (unknown paths: other), method and status")
DURATION = bentoml.metrics.Histogram(name="howvits_request_duration_seconds", labelnames=["endpoint"],
                                     buckets=BUCKETS, documentation="request latency by endpoint")
BATCH_SIZE = bentoml.metrics.Histogram(name="howvits_model_batch_size", buckets=BATCH_BUCKETS,
                                       documentation="images per model call formed by adaptive batching")


def _counter(name: str, documentation: str):
    return bentoml.metrics.Counter(name=f"howvits_inference_{name}", labelnames=["model"],
                                   documentation=documentation)


INFERENCE = {
    "success": _counter("request_success", "inference requests answered, per model (Triton's "
                                           "nv_inference_request_success)"),
    "failure": _counter("request_failure", "inference requests refused or failed after reaching a model"),
    "count": _counter("count", "images inferred (nv_inference_count)"),
    "exec_count": _counter("exec_count", "model executions; count / exec_count is the mean batch size"),
    "request_us": _counter("request_duration_us", "cumulative request time, microseconds"),
    "queue_us": _counter("queue_duration_us", "cumulative time requests waited for a model execution"),
    "compute_input_us": _counter("compute_input_duration_us", "cumulative decode and preprocessing time"),
    "compute_infer_us": _counter("compute_infer_duration_us", "cumulative model execution time per request"),
    "compute_output_us": _counter("compute_output_duration_us", "cumulative postprocessing time"),
}


def record_request(endpoint: str, method: str, status: int, seconds: float) -> None:
    REQUESTS.labels(endpoint=endpoint, method=method if method in ("GET", "HEAD", "POST") else "other",
                    status=str(status)).inc()
    DURATION.labels(endpoint=endpoint).observe(seconds)


def exposition() -> tuple[bytes, str]:
    """The Prometheus text of every metric of this process (or of all workers, in multiprocess mode)."""
    from bentoml._internal.configuration.containers import BentoMLContainer

    client = BentoMLContainer.metrics_client.get()
    return client.generate_latest(), client.CONTENT_TYPE_LATEST
