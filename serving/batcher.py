"""Adaptive batching of model calls inside a worker, without serialisation.

Requests that arrive while the model is busy wait in a queue; the next model call takes all of them (up to
``max_batch_size`` images), so batches grow with the load and a lone request never waits for company. The
batch sizes formed are exported as the Prometheus histogram ``howvits_model_batch_size``.

(BentoML's own dispatcher batches the ``/logits`` API for clients that send arrays; routing every image
request through it costs a JSON round trip of the float tensor per request, and under load its in-process
client dropped connections: see the README's serving section.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np

Predict = Callable[[np.ndarray], np.ndarray]
BUCKETS = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128)


def batch_size_histogram():
    import bentoml

    return bentoml.metrics.Histogram(name="howvits_model_batch_size", buckets=BUCKETS,
                                     documentation="images per model call formed by adaptive batching")


class MicroBatcher:
    def __init__(self, predict: Predict, max_batch_size: int = 64, observe: Callable[[int], None] | None = None):
        self.predict, self.max_batch_size, self.observe = predict, max_batch_size, observe
        self.queue: asyncio.Queue[tuple[np.ndarray, asyncio.Future]] | None = None
        self.worker: asyncio.Task | None = None

    async def __call__(self, batch: np.ndarray) -> np.ndarray:
        if self.queue is None:
            self.queue = asyncio.Queue()
            self.worker = asyncio.get_running_loop().create_task(self._serve())
        future = asyncio.get_running_loop().create_future()
        await self.queue.put((batch, future))
        return await future

    async def _serve(self) -> None:
        assert self.queue is not None
        while True:
            items = [await self.queue.get()]
            size = len(items[0][0])
            while not self.queue.empty() and size + len(self.queue._queue[0][0]) <= self.max_batch_size:
                items.append(self.queue.get_nowait())
                size += len(items[-1][0])
            batch = items[0][0] if len(items) == 1 else np.concatenate([b for b, _ in items])
            try:
                logits = await asyncio.to_thread(self.predict, batch)
            except Exception as err:  # every waiting request gets the error, the loop keeps serving
                for _, future in items:
                    if not future.done():
                        future.set_exception(err)
                continue
            if self.observe is not None:
                self.observe(size)
            start = 0
            for part, future in items:
                if not future.done():
                    future.set_result(logits[start:start + len(part)])
                start += len(part)
