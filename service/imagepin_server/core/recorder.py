"""Recording tag observations without letting a database outage stop resolution.

Observations are written through while the database answers, and concurrent ones share one
transaction (group commit: a batch of 100 resolutions is a few commits, not 100). When the
database does not answer (down, or slower than the store's STORE_TIMEOUT_S), they wait in a
bounded queue and a background task writes them when it is back. The store folds late or
repeated observations into the tag's history without inventing moves (see
store.record_tag_observation), so queued writes may land after newer ones.
The queue's length and drops are logged, exported as metrics, and shown in the health status.
"""

from __future__ import annotations

import asyncio
import collections
import logging
from collections.abc import Callable
from typing import Final

from imagepin_server import errors, metrics, store
from imagepin_server.core.storecall import STORE_TIMEOUT_S, store_call

log = logging.getLogger("imagepin.recorder")

QUEUE_LIMIT: Final = 10_000
RETRY_MIN_S: Final = 0.5
RETRY_MAX_S: Final = 5.0
FLUSH_BATCH: Final = 500
# A queued batch of up to FLUSH_BATCH observations is given five store calls' time.
DRAIN_TIMEOUT_S: Final = STORE_TIMEOUT_S * 5


class ObservationRecorder:
    """Writes tag observations through, or queues them while the database is away."""

    def __init__(
        self,
        database: store.Database,
        *,
        queue_limit: int = QUEUE_LIMIT,
        on_health_change: Callable[[bool], None] | None = None,
    ) -> None:
        self._database = database
        self._queue: collections.deque[store.TagObservation] = collections.deque()
        self._limit = queue_limit
        self._flusher: asyncio.Task[None] | None = None
        self._group: list[tuple[store.TagObservation, asyncio.Future[None]]] = []
        self._committer: asyncio.Task[None] | None = None
        self._on_health_change = on_health_change
        self._down = False  # set when a write failed, cleared when the queue has drained
        self.dropped = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    @property
    def healthy(self) -> bool:
        return not self._down

    async def record(self, observation: store.TagObservation) -> None:
        """Write now if the database answers; otherwise queue. Never raises for the database."""
        if self._down:  # already known down: do not make this caller wait on it
            self._enqueue(observation)
            return
        written: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._group.append((observation, written))
        if self._committer is None or self._committer.done():
            self._committer = asyncio.create_task(self._commit_groups())
        await asyncio.shield(written)

    async def _commit_groups(self) -> None:
        """Write everything waiting in one transaction; repeat while more arrived meanwhile."""
        while self._group:
            group, self._group = self._group, []
            observations = [observation for observation, _ in group]
            try:
                await self._write(observations)
            except errors.StoreUnavailable as exc:
                log.warning(
                    "database unavailable; queueing observations",
                    extra={"fields": {"error": str(exc)[:200], "observations": len(group)}},
                )
                for observation in observations:
                    self._enqueue(observation)
            except Exception as exc:  # a bug: the callers get it, not a silent loss
                for _, written in group:
                    if not written.done():
                        written.set_exception(exc)
                continue
            for _, written in group:
                if not written.done():
                    written.set_result(None)

    async def flush(self) -> None:
        """Wait for writes under way and for the queue to empty (shutdown, tests)."""
        for task in (self._committer, self._flusher):
            if task is not None and not task.done():
                await asyncio.shield(task)

    async def aclose(self) -> None:
        """Stop the background writers (and wait for them) before the database closes."""
        for task in (self._committer, self._flusher):
            if task is not None and not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        if self._queue:
            log.error(
                "stopping with observations not yet written",
                extra={"fields": {"pending": len(self._queue)}},
            )

    async def _write(
        self, observations: list[store.TagObservation], *, timeout_s: float = STORE_TIMEOUT_S
    ) -> None:
        await store_call(
            self._database,
            lambda session: store.record_tag_observations(session, observations),
            write=True,
            timeout_s=timeout_s,
        )

    def _enqueue(self, observation: store.TagObservation) -> None:
        was_healthy = not self._down
        self._down = True
        if len(self._queue) >= self._limit:
            self._queue.popleft()
            self._count_drops(1)
        self._queue.append(observation)
        metrics.WRITE_QUEUE_LENGTH.set(len(self._queue))
        if was_healthy and self._on_health_change is not None:
            self._on_health_change(False)
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._drain())

    def _count_drops(self, count: int) -> None:
        self.dropped += count
        metrics.WRITE_QUEUE_DROPS.inc(count)
        log.error(
            "write queue full; dropped the oldest observations",
            extra={"fields": {"dropped_total": self.dropped, "limit": self._limit}},
        )

    async def _drain(self) -> None:
        delay = RETRY_MIN_S
        while self._queue:
            await asyncio.sleep(delay)
            batch = [self._queue.popleft() for _ in range(min(FLUSH_BATCH, len(self._queue)))]
            try:
                await self._write(batch, timeout_s=DRAIN_TIMEOUT_S)
            except Exception as exc:  # the store's failure or a bug: keep the batch, retry later
                room = self._limit - len(self._queue)
                if room < len(batch):  # newer observations arrived meanwhile: drop the oldest
                    self._count_drops(len(batch) - room)
                    batch = batch[len(batch) - room :] if room > 0 else []
                self._queue.extendleft(reversed(batch))
                delay = min(delay * 2, RETRY_MAX_S)
                log.warning(
                    "database still unavailable",
                    extra={"fields": {"pending": len(self._queue), "error": str(exc)[:200]}},
                )
                continue
            metrics.WRITE_QUEUE_LENGTH.set(len(self._queue))
            delay = 0.0 if self._queue else RETRY_MIN_S
            log.info("wrote queued observations", extra={"fields": {"pending": len(self._queue)}})
        self._down = False
        if self._on_health_change is not None:
            self._on_health_change(True)
