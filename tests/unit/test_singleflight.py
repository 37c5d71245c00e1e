"""SingleFlight: one computation per key for concurrent callers, and nothing shared that
should not be (failures, refused results, a cancelled caller's fate)."""

from __future__ import annotations

import asyncio

import pytest

from service.events.singleflight import SingleFlight

pytestmark = pytest.mark.asyncio


async def test_concurrent_callers_share_one_computation():
    flights: SingleFlight[int] = SingleFlight(10)
    calls = 0
    started, release = asyncio.Event(), asyncio.Event()

    async def compute() -> int:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return 42

    callers = [asyncio.create_task(flights.get("k", compute)) for _ in range(500)]
    # The computation is scheduled by the first caller, so it starts after every caller asked.
    await started.wait()
    release.set()
    assert await asyncio.gather(*callers) == [42] * 500
    assert calls == 1
    assert await flights.get("k", compute) == 42 and calls == 1  # remembered


async def test_a_cancelled_caller_does_not_cancel_the_others():
    flights: SingleFlight[str] = SingleFlight(10)
    calls = 0
    started, release = asyncio.Event(), asyncio.Event()

    async def compute() -> str:
        nonlocal calls
        calls += 1
        started.set()
        await release.wait()
        return "done"

    first = asyncio.create_task(flights.get("k", compute))
    second = asyncio.create_task(flights.get("k", compute))
    await started.wait()  # both callers wait on the one computation (see above)
    first.cancel()
    with pytest.raises(asyncio.CancelledError):
        await first  # its cancellation is over
    release.set()
    assert await second == "done"
    assert calls == 1


async def test_failures_and_refused_results_are_not_remembered():
    flights: SingleFlight[int] = SingleFlight(10)
    attempts = 0

    async def flaky() -> int:
        nonlocal attempts
        attempts += 1
        await asyncio.sleep(0)
        if attempts == 1:
            raise ConnectionError("database hiccup")
        return attempts

    callers = [asyncio.create_task(flights.get("k", flaky)) for _ in range(3)]
    outcomes = await asyncio.gather(*callers, return_exceptions=True)
    assert all(isinstance(o, ConnectionError) for o in outcomes)  # all saw the one failure
    assert await flights.get("k", flaky) == 2  # computed afresh
    assert await flights.get("r", flaky, keep=lambda r: r > 10) == 3
    assert await flights.get("r", flaky, keep=lambda r: r > 10) == 4  # refused: not remembered


async def test_the_oldest_key_is_forgotten_beyond_the_size():
    flights: SingleFlight[str] = SingleFlight(2)
    computed: list[str] = []

    def compute(key: str):
        async def run() -> str:
            computed.append(key)
            return key

        return run

    for key in ["a", "b", "c", "a"]:
        assert await flights.get(key, compute(key)) == key
    assert computed == ["a", "b", "c", "a"] and len(flights) == 2
