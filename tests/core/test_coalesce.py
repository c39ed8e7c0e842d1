"""Single flight: one upstream call for identical concurrent requests."""

from __future__ import annotations

import asyncio

import pytest
from imagepin_server.core.coalesce import SingleFlight


async def test_concurrent_callers_share_one_call() -> None:
    calls = 0
    release = asyncio.Event()

    async def upstream() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "answer"

    flight: SingleFlight[str, str] = SingleFlight()
    waiters = [asyncio.create_task(flight.run("key", upstream)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == ["answer"] * 50
    assert calls == 1
    assert flight.coalesced == 49
    assert len(flight) == 0  # forgotten once done: the next call asks again


async def test_a_caller_giving_up_does_not_cancel_the_call_for_the_others() -> None:
    release = asyncio.Event()

    async def upstream() -> str:
        await release.wait()
        return "answer"

    flight: SingleFlight[str, str] = SingleFlight()
    impatient = asyncio.create_task(flight.run("key", upstream))
    patient = asyncio.create_task(flight.run("key", upstream))
    await asyncio.sleep(0)
    impatient.cancel()
    release.set()
    assert await patient == "answer"
    with pytest.raises(asyncio.CancelledError):
        await impatient


async def test_failures_reach_every_waiter_from_one_call() -> None:
    calls = 0

    async def upstream() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0)
        raise ValueError("registry said no")

    flight: SingleFlight[str, str] = SingleFlight()
    results = await asyncio.gather(
        *(flight.run("key", upstream) for _ in range(3)), return_exceptions=True
    )
    assert calls == 1
    assert len(results) == 3
    assert all(isinstance(r, ValueError) for r in results)
