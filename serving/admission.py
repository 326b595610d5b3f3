"""A bounded queue in front of expensive work: up to ``running`` at once, up to ``waiting`` more wait (each at
most ``wait_s``) for a slot; beyond that, or after the wait, the request is refused with a 503 and Retry-After,
so a busy worker answers ordinary load late rather than refusing it, and never piles up unbounded work."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from http import HTTPStatus

from serving.errors import RequestError

RETRY_AFTER_SECONDS = 1


class AdmissionQueue:
    def __init__(self, running: int, waiting: int, wait_s: float, what: str) -> None:
        self.running, self.max_waiting, self.wait_s, self.what = running, waiting, wait_s, what
        self.slots = asyncio.Semaphore(running)
        self.waiting = 0

    def busy(self, why: str) -> RequestError:
        return RequestError(f"{self.what}: {why}; try again after the Retry-After delay",
                            HTTPStatus.SERVICE_UNAVAILABLE, {"Retry-After": str(RETRY_AFTER_SECONDS)})

    @contextlib.asynccontextmanager
    async def admitted(self) -> AsyncIterator[None]:
        if self.slots.locked() and self.waiting >= self.max_waiting:
            raise self.busy(f"{self.running} are running and {self.waiting} waiting, the most this worker queues")
        self.waiting += 1
        try:
            async with asyncio.timeout(self.wait_s):
                await self.slots.acquire()
        except TimeoutError:
            raise self.busy(f"no slot came free within {self.wait_s:g} s") from None
        finally:
            self.waiting -= 1
        try:
            yield
        finally:
            self.slots.release()
