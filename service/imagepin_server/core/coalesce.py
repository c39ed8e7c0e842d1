"""Single flight: concurrent identical requests share one upstream call.

200 concurrent resolutions of one cold tag cost one registry request. The shared call runs as
its own task, so one caller giving up (its deadline passed) does not cancel it for the others.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, Generic, TypeVar

from imagepin_server import metrics

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._in_flight: dict[K, asyncio.Task[V]] = {}
        self.coalesced = 0  # how many callers joined a call already in flight

    async def run(self, key: K, call: Callable[[], Coroutine[Any, Any, V]]) -> V:
        task = self._in_flight.get(key)
        if task is None:
            # A context of its own: the first caller's (its deadline, its log fields) must not
            # govern a call every later caller shares.
            task = asyncio.get_running_loop().create_task(call(), context=contextvars.Context())
            self._in_flight[key] = task
            task.add_done_callback(lambda done: self._finished(key, done))
        else:
            self.coalesced += 1
            metrics.COALESCED_WAITS.inc()
        return await asyncio.shield(task)

    def _finished(self, key: K, task: asyncio.Task[V]) -> None:
        self._in_flight.pop(key, None)
        if not task.cancelled():
            task.exception()  # retrieved: every caller may have given up already

    def __len__(self) -> int:
        return len(self._in_flight)

    async def aclose(self) -> None:
        """Cancel the calls still in flight and wait for them (before their resources close)."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
