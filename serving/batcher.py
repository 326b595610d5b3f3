"""Adaptive batching of model calls inside a worker, without serialisation.

Requests that arrive while the model is busy wait in a queue; the next model call takes all of them (up to
``max_batch_size`` images), so batches grow with the load and a lone request never waits for company. Each
execution and each request's queue and execution time go to the model's statistics (:mod:`serving.statistics`).

(BentoML's own dispatcher batches the ``/logits`` API for clients that send arrays; routing every image
request through it costs a JSON round trip of the float tensor per request.)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import numpy as np

from serving.statistics import ModelStatistics, RequestTiming

Predict = Callable[[np.ndarray], np.ndarray]


async def execute(predict: Predict, batch: np.ndarray, stats: ModelStatistics) -> tuple[np.ndarray, int]:
    """One model execution in a worker thread, counted; returns the logits and its duration in ns."""
    started = time.perf_counter_ns()
    logits = await asyncio.to_thread(predict, batch)
    elapsed = time.perf_counter_ns() - started
    stats.executed(len(batch), elapsed)
    return logits, elapsed


class MicroBatcher:
    def __init__(self, predict: Predict, stats: ModelStatistics, max_batch_size: int = 64) -> None:
        self.predict, self.stats, self.max_batch_size = predict, stats, max_batch_size
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future, int, RequestTiming]] | None = None
        self.worker: asyncio.Task | None = None

    async def __call__(self, batch: np.ndarray, timing: RequestTiming) -> np.ndarray:
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.worker = asyncio.get_running_loop().create_task(self._serve())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((batch, future, time.perf_counter_ns(), timing))
        return await future

    async def _serve(self) -> None:
        assert self.queue is not None
        while True:
            items = [await self.queue.get()]
            size = len(items[0][0])
            while not self.queue.empty() and size + len(self.queue._queue[0][0]) <= self.max_batch_size:
                items.append(self.queue.get_nowait())
                size += len(items[-1][0])
            batch = items[0][0] if len(items) == 1 else np.concatenate([item[0] for item in items])
            started = time.perf_counter_ns()
            try:
                logits, elapsed = await execute(self.predict, batch, self.stats)
            except Exception as err:  # every waiting request gets the error, the loop keeps serving
                for _, future, _, _ in items:
                    if not future.done():
                        future.set_exception(err)
                continue
            start = 0
            for part, future, enqueued, timing in items:
                timing.queue += started - enqueued
                timing.compute_infer += elapsed
                if not future.done():
                    future.set_result(logits[start:start + len(part)])
                start += len(part)
