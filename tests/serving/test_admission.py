"""The bounded queue in front of /diagnose: requests beyond the running ones wait for a slot; only a full queue,
or a wait past its limit, is refused with a 503 and Retry-After."""

import asyncio

import pytest

from serving.admission import AdmissionQueue
from serving.errors import RequestError


def test_waiting_requests_all_run_and_only_a_full_queue_is_refused():
    async def scenario() -> tuple[list[str], int]:
        queue = AdmissionQueue(running=2, waiting=3, wait_s=5, what="/diagnose is busy")
        running, peak, outcomes = 0, 0, []

        async def job(i: int) -> None:
            nonlocal running, peak
            try:
                async with queue.admitted():
                    running += 1
                    peak = max(peak, running)
                    await asyncio.sleep(0.05)
                    running -= 1
                outcomes.append("done")
            except RequestError as err:
                assert err.status == 503 and err.headers["Retry-After"] == "1" and "most this worker" in str(err)
                outcomes.append("refused")

        await asyncio.gather(*(job(i) for i in range(7)))
        return outcomes, peak

    outcomes, peak = asyncio.run(scenario())
    assert outcomes.count("done") == 5 and outcomes.count("refused") == 2 and peak == 2


def test_a_wait_past_its_limit_is_refused():
    async def scenario() -> None:
        queue = AdmissionQueue(running=1, waiting=5, wait_s=0.05, what="/diagnose is busy")
        async with queue.admitted():
            with pytest.raises(RequestError, match=r"no slot came free within 0\.05 s"):
                async with queue.admitted():
                    pass
        assert queue.waiting == 0 and not queue.slots.locked()

    asyncio.run(scenario())
