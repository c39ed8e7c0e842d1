"""Per-host slots: long blob downloads cannot take every slot, and waiting is bounded."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from imagepin_server import errors
from imagepin_server.registry.config import Limits
from imagepin_server.registry.politeness import HostBudgets

LIMITS = dataclasses.replace(Limits(), max_concurrency=4, request_timeout_s=0.3)


async def settle() -> None:
    """Let every task that can run, run until it waits (on a slot or an event): the loop's own
    turns, not time, so what is asserted next is what the tasks could reach."""
    for _ in range(20):
        await asyncio.sleep(0)


async def test_long_downloads_leave_half_the_slots_to_short_requests() -> None:
    budgets = HostBudgets()
    release = asyncio.Event()
    started = 0

    async def download() -> None:
        nonlocal started
        async with budgets.slot("r.example", LIMITS, long=True):
            started += 1
            await release.wait()

    downloads = [asyncio.create_task(download()) for _ in range(4)]
    await settle()
    assert started == 2  # half of max_concurrency=4

    async def head() -> str:
        async with budgets.slot("r.example", LIMITS):
            return "answered"

    assert await asyncio.wait_for(head(), timeout=1) == "answered"
    release.set()
    await asyncio.gather(*downloads)
    assert started == 4


async def test_a_host_with_no_free_slot_is_reported_busy_in_bounded_time() -> None:
    budgets = HostBudgets()
    release = asyncio.Event()

    async def hold() -> None:
        async with budgets.slot("busy.example", LIMITS):
            await release.wait()

    holders = [asyncio.create_task(hold()) for _ in range(4)]
    await settle()
    with pytest.raises(errors.RegistryTimeout, match=r"busy\.example is busy"):
        async with budgets.slot("busy.example", LIMITS):
            pass
    release.set()
    await asyncio.gather(*holders)
    async with budgets.slot("busy.example", LIMITS):  # every slot came back
        pass


async def test_a_configured_host_keeps_its_own_budget_when_callers_named_many_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from imagepin_server.registry import politeness

    monkeypatch.setattr(politeness, "HOST_BUDGET_LIMIT", 3)
    budgets = HostBudgets(reserved=["registry.example"])
    tight = dataclasses.replace(LIMITS, max_concurrency=1)
    for i in range(3):
        async with budgets.slot(f"bogus-{i}.example", tight):
            pass
    release = asyncio.Event()

    async def hold_shared() -> None:
        async with budgets.slot("bogus-99.example", tight):  # past the limit: the shared budget
            await release.wait()

    holder = asyncio.create_task(hold_shared())
    await settle()
    async with budgets.slot("registry.example", tight):  # not stuck behind the shared slot
        pass
    release.set()
    await holder
