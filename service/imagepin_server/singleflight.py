"""Single flight: concurrent identical requests share one upstream call.

200 concurrent resolutions of one cold tag cost one registry request, 200 requests needing one
token cost one token fetch, and a credential helper runs once for all who ask at once. The
shared call runs as its own task, in a context of its own and under a bound of its own, and
every waiter is shielded from it: one caller giving up (its deadline passed, its task cancelled)
never cancels the call for the others. Only when the last waiter has left may the call be
cancelled too (`cancel_when_abandoned`), for calls nobody else would use the result of.

A leaf: core and registry both use it.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from imagepin_server import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(slots=True)
class _Flight(Generic[V]):
    task: asyncio.Task[V]
    waiters: int = 0


class SingleFlight(Generic[K, V]):
    """One call per key in flight; everyone asking meanwhile waits for that one.

    `timeout_s` bounds the shared call itself (no caller's deadline does): past it the call
    fails with TimeoutError for every waiter. With `cancel_when_abandoned`, the call is
    cancelled once every waiter has given up; otherwise it runs to the end (its result may be
    worth keeping: a tag's answer is recorded and cached by the call).
    """

    def __init__(
        self, *, timeout_s: float | None = None, cancel_when_abandoned: bool = False
    ) -> None:
        self._timeout_s = timeout_s
        self._cancel_when_abandoned = cancel_when_abandoned
        self._in_flight: dict[K, _Flight[V]] = {}
        self._running: set[asyncio.Task[V]] = set()  # also those abandoned and being cancelled

    async def run(self, key: K, call: Callable[[], Coroutine[Any, Any, V]]) -> V:
        flight = self._in_flight.get(key)
        if flight is None:
            # A context of its own: the first caller's (its deadline, its log fields) must not
            # govern a call every later caller shares.
            task = asyncio.get_running_loop().create_task(
                self._bounded(call), context=contextvars.Context()
            )
            flight = self._in_flight[key] = _Flight(task)
            self._running.add(task)
            task.add_done_callback(lambda done: self._finished(key, done))
        else:
            metrics.COALESCED_WAITS.inc()
        flight.waiters += 1
        try:
            return await asyncio.shield(flight.task)
        finally:
            flight.waiters -= 1
            if flight.waiters == 0 and self._cancel_when_abandoned and not flight.task.done():
                await self._abandon(key, flight)

    async def _abandon(self, key: K, flight: _Flight[V]) -> None:
        """Cancel a call nobody waits for, and wait until it has cleaned up (a helper process
        killed and reaped) before the last caller's own cancellation goes on."""
        if self._in_flight.get(key) is flight:
            del self._in_flight[key]  # whoever asks next starts afresh, not on a dying call
        flight.task.cancel()
        await asyncio.wait({flight.task})

    async def _bounded(self, call: Callable[[], Coroutine[Any, Any, V]]) -> V:
        async with asyncio.timeout(self._timeout_s):
            return await call()

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        self._running.discard(task)
        flight = self._in_flight.get(key)
        if flight is not None and flight.task is task:
            del self._in_flight[key]
        if not task.cancelled():
            task.exception()  # retrieved: every caller may have given up already

    def __len__(self) -> int:
        return len(self._in_flight)

    async def aclose(self) -> None:
        """Cancel the calls still in flight and wait for them (before their resources close)."""
        tasks = list(self._running)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
