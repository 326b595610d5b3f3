"""Per-model inference statistics in the form of Triton's statistics extension (``GET /v2/models/{name}/stats``,
what ``tritonclient``'s ``get_inference_statistics`` and ``perf_analyzer`` read), mirrored into Prometheus
counters (:mod:`serving.telemetry`).

For each request: ``success``/``fail`` with the whole request time, ``queue`` (waiting for a model execution),
``compute_input`` (decoding and preprocessing), ``compute_infer`` (the execution its images ran in) and
``compute_output`` (postprocessing); per execution, ``batch_stats`` by batch size, as Triton counts them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from serving import telemetry


@dataclass
class Duration:
    count: int = 0
    ns: int = 0

    def add(self, ns: int) -> None:
        self.count += 1
        self.ns += ns

    def to_dict(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass
class BatchStatistics:
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)


@dataclass
class RequestTiming:
    """One request's phases, in nanoseconds, as it goes."""

    started: int = field(default_factory=time.perf_counter_ns)
    queue: int = 0
    compute_input: int = 0
    compute_infer: int = 0
    compute_output: int = 0


@dataclass
class ModelStatistics:
    name: str
    success: Duration = field(default_factory=Duration)
    fail: Duration = field(default_factory=Duration)
    queue: Duration = field(default_factory=Duration)
    compute_input: Duration = field(default_factory=Duration)
    compute_infer: Duration = field(default_factory=Duration)
    compute_output: Duration = field(default_factory=Duration)
    inference_count: int = 0
    execution_count: int = 0
    last_inference_ms: int = 0
    batches: dict[int, BatchStatistics] = field(default_factory=dict)

    def executed(self, batch_size: int, infer_ns: int) -> None:
        """One model execution of ``batch_size`` images."""
        self.execution_count += 1
        self.inference_count += batch_size
        self.last_inference_ms = time.time_ns() // 1_000_000
        self.batches.setdefault(batch_size, BatchStatistics()).compute_infer.add(infer_ns)
        telemetry.BATCH_SIZE.observe(batch_size)
        telemetry.INFERENCE["exec_count"].labels(model=self.name).inc()
        telemetry.INFERENCE["count"].labels(model=self.name).inc(batch_size)

    def finished(self, timing: RequestTiming, ok: bool) -> None:
        """A request to this model, answered (``ok``) or failed."""
        total = time.perf_counter_ns() - timing.started
        (self.success if ok else self.fail).add(total)
        metrics = telemetry.INFERENCE
        metrics["success" if ok else "failure"].labels(model=self.name).inc()
        metrics["request_us"].labels(model=self.name).inc(total / 1000)
        if not ok:
            return
        for phase in ("queue", "compute_input", "compute_infer", "compute_output"):
            ns = getattr(timing, phase)
            getattr(self, phase).add(ns)
            metrics[f"{phase}_us"].labels(model=self.name).inc(ns / 1000)

    def to_triton(self, version: str) -> dict:
        """One entry of Triton's ``model_stats``."""
        stats = {name: getattr(self, name).to_dict() for name in
                 ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")}
        return {"name": self.name, "version": version, "last_inference": self.last_inference_ms,
                "inference_count": self.inference_count, "execution_count": self.execution_count,
                "inference_stats": {**stats, "cache_hit": Duration().to_dict(), "cache_miss": Duration().to_dict()},
                "batch_stats": [{"batch_size": size, "compute_input": b.compute_input.to_dict(),
                                 "compute_infer": b.compute_infer.to_dict(),
                                 "compute_output": b.compute_output.to_dict()}
                                for size, b in sorted(self.batches.items())],
                "memory_usage": []}
