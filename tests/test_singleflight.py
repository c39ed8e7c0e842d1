"""Single flight: one upstream call for identical concurrent requests, which no single caller
giving up can cancel for the others."""

from __future__ import annotations

import asyncio
import contextvars

import pytest
from imagepin_server.singleflight import SingleFlight
from prometheus_client import REGISTRY

_caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="none")


def _coalesced() -> float:
    return REGISTRY.get_sample_value("imagepin_coalesced_waits_total") or 0.0


async def test_concurrent_callers_share_one_call() -> None:
    calls = 0
    release = asyncio.Event()

    async def upstream() -> str:
        nonlocal calls
        calls += 1
        await release.wait()
        return "answer"

    flight: SingleFlight[str, str] = SingleFlight()
    before = _coalesced()
    waiters = [asyncio.create_task(flight.run("key", upstream)) for _ in range(50)]
    await asyncio.sleep(0)
    release.set()
    assert await asyncio.gather(*waiters) == ["answer"] * 50
    assert calls == 1
    assert _coalesced() - before == 49
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


@pytest.mark.parametrize("abandon", [False, True])
async def test_the_first_callers_deadline_firing_does_not_cancel_the_shared_call(
    abandon: bool,
) -> None:
    started, release = asyncio.Event(), asyncio.Event()
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def upstream() -> str:
        started.set()
        try:
            await release.wait()
        except asyncio.CancelledError:
            outcome.set_result("cancelled")
            raise
        outcome.set_result("finished")
        return "answer"

    flight: SingleFlight[str, str] = SingleFlight(cancel_when_abandoned=abandon)

    async def first() -> str:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(loop.time()):  # its deadline passes while it waits
            return await flight.run("key", upstream)

    first_caller = asyncio.create_task(first())
    second = asyncio.create_task(flight.run("key", upstream))
    with pytest.raises(TimeoutError):
        await first_caller
    await started.wait()
    assert not outcome.done()  # still running for the second caller
    release.set()
    assert await second == "answer"
    assert await outcome == "finished"


async def test_the_last_waiter_leaving_cancels_the_call_when_asked_to() -> None:
    started = asyncio.Event()
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def upstream() -> str:
        started.set()
        try:
            await asyncio.Event().wait()  # never set: only a cancellation ends it
        except asyncio.CancelledError:
            outcome.set_result("cancelled")
            raise
        return "unreachable"

    flight: SingleFlight[str, str] = SingleFlight(cancel_when_abandoned=True)
    waiters = [asyncio.create_task(flight.run("key", upstream)) for _ in range(2)]
    await started.wait()
    waiters[0].cancel()
    await asyncio.gather(waiters[0], return_exceptions=True)
    assert not outcome.done()  # one waiter is left
    waiters[1].cancel()
    await asyncio.gather(waiters[1], return_exceptions=True)
    assert await outcome == "cancelled"
    assert len(flight) == 0

    async def fresh() -> str:
        return "fresh"

    assert await flight.run("key", fresh) == "fresh"  # a new call, not the dying one


async def test_an_abandoned_call_runs_to_the_end_by_default() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    outcome: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def upstream() -> str:
        started.set()
        await release.wait()
        outcome.set_result("finished")
        return "answer"

    flight: SingleFlight[str, str] = SingleFlight()
    waiter = asyncio.create_task(flight.run("key", upstream))
    await started.wait()
    waiter.cancel()
    await asyncio.gather(waiter, return_exceptions=True)
    release.set()
    assert await outcome == "finished"


async def test_the_shared_call_has_its_own_bound_and_its_own_context() -> None:
    seen: list[str] = []

    async def upstream() -> str:
        seen.append(_caller.get())
        await asyncio.Event().wait()
        return "unreachable"

    flight: SingleFlight[str, str] = SingleFlight(timeout_s=0)
    _caller.set("first caller")
    with pytest.raises(TimeoutError):
        await flight.run("key", upstream)
    assert seen == ["none"]  # the caller's context variables do not reach the shared call
    assert len(flight) == 0


async def test_aclose_cancels_calls_in_flight() -> None:
    started = asyncio.Event()

    async def upstream() -> str:
        started.set()
        await asyncio.Event().wait()
        return "unreachable"

    flight: SingleFlight[str, str] = SingleFlight()
    waiter = asyncio.create_task(flight.run("key", upstream))
    await started.wait()
    await flight.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiter
