"""The tags this process follows for WatchTags, and the hook every tag answer goes through.

A part of its own (in core.Dependencies, built by app.py) so the resolution path can tell the
watchers of a move it saw first without knowing the watcher: `accept` in core/resolve.py calls
`Followers.observed`; core/watch.py's TagWatcher starts, polls and ends the follows kept here.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import logging
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from imagepin_server import errors, metrics, store
from imagepin_server.core.cache import TagAnswer, TagKey
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference

log = logging.getLogger("imagepin.watch")

SUBSCRIBER_BACKLOG: Final = 1000  # events waiting for one slow subscriber before it is dropped


class EventSource(enum.Enum):
    POLL = "poll"
    NOTIFICATION = "notification"
    RESOLUTION = "resolution"


# What the caller already established when it reports an answer through the hook.
reported_as: contextvars.ContextVar[EventSource | None] = contextvars.ContextVar(
    "imagepin_watch_source", default=None
)


@dataclass(frozen=True, slots=True)
class TagEvent:
    """A tag's digest: the current one (``previous`` None) or a move."""

    reference: Reference
    previous: Digest | None
    digest: Digest
    observed_at: datetime
    source: EventSource


class Subscription:
    """The events of one WatchTags call, in order; dropped when it falls too far behind."""

    def __init__(self, interval: timedelta) -> None:
        self.interval = interval
        self._events: deque[TagEvent] = deque()
        self._arrived = asyncio.Event()
        self.behind = False
        self._ended: errors.ImagepinError | None = None

    def offer(self, event: TagEvent) -> None:
        if len(self._events) >= SUBSCRIBER_BACKLOG:
            self.behind = True
        else:
            self._events.append(event)
        self._arrived.set()

    def end(self, why: errors.ImagepinError) -> None:
        """End the watch with `why` (the server is stopping): the caller watches again."""
        self._ended = why
        self._arrived.set()

    async def next(self) -> TagEvent:
        while True:
            if self._ended is not None:
                raise self._ended
            if self.behind:
                raise errors.WatchBehind(
                    f"more than {SUBSCRIBER_BACKLOG} events waited for this watcher; watch again"
                )
            if self._events:
                return self._events.popleft()
            self._arrived.clear()
            await self._arrived.wait()


@dataclass(eq=False, slots=True)
class Follow:
    """One followed tag in this process."""

    ref: Reference
    interval: timedelta  # from the database (resumed), used while nobody here subscribes
    wanted_until: datetime
    answer: TagAnswer | None = None  # the last digest known, with when it was seen
    subscribers: set[Subscription] = field(default_factory=set)
    asking: EventSource | None = None  # set while this follower asks the registry itself
    holder: bool = False
    renew_at: float = 0.0  # monotonic: when to write the follow and lease again
    failures: int = 0
    resumed: bool = False  # read back from the database at start, not asked for here
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    @property
    def key(self) -> TagKey:
        assert self.ref.tag is not None
        return (self.ref.registry, self.ref.repository, self.ref.tag)

    @property
    def store_key(self) -> store.FollowedTagKey:
        return store.FollowedTagKey(*self.key)

    def poll_interval(self) -> timedelta:
        if not self.subscribers:
            return self.interval
        return min(subscriber.interval for subscriber in self.subscribers)


class Followers:
    """Every tag followed in this process, by key; one per process."""

    def __init__(self) -> None:
        self.follows: dict[TagKey, Follow] = {}

    def observed(self, ref: Reference, answer: TagAnswer) -> None:
        """The hook every registry answer for a tag goes through (core/resolve.py `accept`)."""
        if ref.tag is None:
            return
        follow = self.follows.get((ref.registry, ref.repository, ref.tag))
        if follow is not None:
            source = reported_as.get() or follow.asking or EventSource.RESOLUTION
            self.update(follow, answer, source)

    def update(self, follow: Follow, answer: TagAnswer, source: EventSource) -> None:
        """Take a newer answer; when its digest differs from the last one, publish the move."""
        old = follow.answer
        if old is not None and answer.observed_at < old.observed_at:
            return  # older than what is known: a late answer must not move the tag back
        follow.answer = answer
        if old is None or old.digest == answer.digest:
            return
        event = TagEvent(follow.ref, old.digest, answer.digest, answer.observed_at, source)
        metrics.WATCH_EVENTS.labels(source.value).inc()
        log.info(
            "tag moved",
            extra={
                "fields": {
                    "reference": str(follow.ref),
                    "previous": str(old.digest),
                    "digest": str(answer.digest),
                    "source": source.value,
                }
            },
        )
        for subscriber in follow.subscribers:
            subscriber.offer(event)
