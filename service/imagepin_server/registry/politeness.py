"""How politely imagepin talks to a registry host: how many at once, how fast, how long to wait.

Each host has a concurrency cap and a token bucket (`aiolimiter`); retries wait an exponential
backoff with full jitter, or the registry's `Retry-After` when it gave one, but never past the
caller's deadline and never longer than the configured bound: a caller is better told "rate
limited, retry after 60s" at once than answered after its deadline.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Final

from aiolimiter import AsyncLimiter

from imagepin_server import deadlines
from imagepin_server.errors import RegistryTimeout
from imagepin_server.registry.config import Limits
from imagepin_server.registry.errors import retry_after_seconds

RETRY_STATUSES: Final = frozenset({408, 429, 500, 502, 503, 504})
# A retry is not started with less than this left before the caller's deadline.
RETRY_MIN_LEFT_S: Final = 0.1
# Distinct hosts with their own budget; callers name hosts, so past this they share one.
HOST_BUDGET_LIMIT: Final = 1000
_SHARED: Final = "(other hosts)"


@dataclass(slots=True)
class _Budget:
    slots: asyncio.Semaphore
    long_slots: asyncio.Semaphore  # at most half the slots for long blob downloads
    bucket: AsyncLimiter


class HostBudgets:
    """One concurrency cap and one token bucket per registry host.

    Long blob downloads (VerifyDigest with layers) may hold at most half of a host's slots, so
    they cannot starve the short requests that resolve tags. Waiting for a slot is bounded by
    the host's whole-request timeout: a caller is told the registry is busy rather than kept
    waiting without end.
    """

    def __init__(self, reserved: Iterable[str] = ()) -> None:
        self._budgets: dict[str, _Budget] = {}
        # Hosts the operator configured keep a budget of their own even when callers have
        # named HOST_BUDGET_LIMIT other hosts: their configured politeness must hold.
        self._reserved = frozenset(host.lower() for host in reserved)

    @asynccontextmanager
    async def slot(self, host: str, limits: Limits, *, long: bool = False) -> AsyncIterator[None]:
        """Wait for a token and a free slot for `host`; hold the slot for the block."""
        budget = self._budget(host, limits)
        wait_s = limits.request_timeout_s
        held: list[asyncio.Semaphore] = []
        try:
            async with asyncio.timeout(wait_s):
                await budget.bucket.acquire()
                for semaphore in (budget.long_slots, budget.slots) if long else (budget.slots,):
                    await semaphore.acquire()
                    held.append(semaphore)
        except TimeoutError:
            for semaphore in held:
                semaphore.release()
            raise RegistryTimeout(
                f"registry {host} is busy: no request slot came free within {wait_s:g}s",
                registry=host,
            ) from None
        try:
            yield
        finally:
            for semaphore in held:
                semaphore.release()

    def _budget(self, host: str, limits: Limits) -> _Budget:
        budget = self._budgets.get(host)
        if budget is not None:
            return budget
        if len(self._budgets) >= HOST_BUDGET_LIMIT and host.lower() not in self._reserved:
            host = _SHARED
            if host in self._budgets:
                return self._budgets[host]
        burst = float(limits.burst)
        budget = _Budget(
            slots=asyncio.Semaphore(limits.max_concurrency),
            long_slots=asyncio.Semaphore(max(1, limits.max_concurrency // 2)),
            bucket=AsyncLimiter(burst, burst / limits.requests_per_second),
        )
        self._budgets[host] = budget
        return budget


def retry_delay(attempt: int, limits: Limits, retry_after: str | None = None) -> float | None:
    """Seconds to wait before retry number `attempt + 1`, or None when it must not happen."""
    if attempt >= limits.retries:
        return None
    delay = random.uniform(0, min(limits.backoff_max_s, limits.backoff_s * 2**attempt))
    asked = retry_after_seconds(retry_after)
    if asked is not None:
        if asked > limits.max_retry_after_s:
            return None
        delay = max(delay, float(asked))
    left = deadlines.remaining()
    if left is not None and delay + RETRY_MIN_LEFT_S > left:
        return None
    return delay
