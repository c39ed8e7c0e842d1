"""WatchTags: follow tags and tell every subscriber when one moves.

One follower per tag, however many subscribers: it asks the registry once per interval (the
shortest any subscriber asked for, with jitter, backing off while the registry fails), through
the same single flight and politeness budget as every resolution, and each answer is recorded
in the tag history as a resolution's is. Moves are heard three ways: a poll, a registry's push
notification confirmed by a HEAD (:meth:`TagWatcher.confirm_push`), or an ordinary resolution
that saw the move first (core/followers.py: ``Followers.observed``); whichever is first
becomes the event.

Followed tags are kept in the database (store.follows) until nobody has wanted them for the
follow retention, so a restarted server resumes them; replicas share the work through a lease
per tag: the holder asks the registry, the others read what it records.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta
from typing import Any, Final

from sqlalchemy.ext.asyncio import AsyncSession

from imagepin_server import errors, metrics, store
from imagepin_server.core.cache import TagAnswer, TagKey
from imagepin_server.core.context import Dependencies
from imagepin_server.core.followers import EventSource, Follow, Subscription, TagEvent, reported_as
from imagepin_server.core.resolve import accept, look, pin
from imagepin_server.core.storecall import store_call
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference

log = logging.getLogger("imagepin.watch")

DEFAULT_INTERVAL: Final = timedelta(seconds=60)
MIN_INTERVAL: Final = timedelta(seconds=1)
MAX_INTERVAL: Final = timedelta(hours=24)
MAX_REFERENCES: Final = 100  # tags per WatchTags call
JITTER: Final = 0.1  # each wait is the interval less up to 10 %, so followers drift apart
MAX_BACKOFF: Final = timedelta(minutes=10)
DEFAULT_FOLLOW_RETENTION: Final = timedelta(hours=1)
LEASE_MIN: Final = timedelta(seconds=10)  # a lease lasts 3 intervals, and at least this
RESUME_LIMIT: Final = 10_000  # followed tags read back at start
RESUME_SPREAD: Final = 0.1  # resumed tags are first polled within this share of their interval
# Confirming a push: the registry notifies before it has written the tag, so the first HEADs
# may still see the old digest (or fail); these waits between attempts bound the whole.
CONFIRM_WAITS_S: Final = (0.0, 0.1, 0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0)
MAX_CONFIRMATIONS: Final = 64  # confirmations under way at once; more hints are dropped


def watch_request(
    texts: Sequence[Reference], interval: timedelta | None
) -> tuple[list[Reference], timedelta]:
    """Check a WatchTags request: tag references (parsed at the edge, each naming a tag;
    deduplicated here, in order) and the interval."""
    if not texts:
        raise errors.InvalidArgument("references: give at least one tag reference to watch")
    if len(texts) > MAX_REFERENCES:
        raise errors.InvalidArgument(
            f"references: at most {MAX_REFERENCES} tags per watch, not {len(texts)}"
        )
    refs: dict[str, Reference] = {}
    for ref in texts:
        refs.setdefault(str(ref), ref)
    chosen = DEFAULT_INTERVAL if interval is None else interval
    if not MIN_INTERVAL <= chosen <= MAX_INTERVAL:
        raise errors.InvalidArgument(
            f"interval must be between {MIN_INTERVAL.total_seconds():g} s and "
            f"{MAX_INTERVAL.total_seconds():g} s, not {chosen.total_seconds():g} s"
        )
    return list(refs.values()), chosen


class TagWatcher:
    """Every followed tag of this process, its follower task, and its subscribers."""

    def __init__(
        self,
        deps: Dependencies,
        *,
        follow_retention: timedelta = DEFAULT_FOLLOW_RETENTION,
        holder: str | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._deps = deps
        self._retention = follow_retention
        self.holder = holder or f"{socket.gethostname()[:80]}:{os.getpid()}:{os.urandom(4).hex()}"
        self._rng = rng or random.Random()
        self.followers = deps.followers
        self._confirming: dict[tuple[TagKey, Digest], asyncio.Task[bool]] = {}
        self._subscriptions: set[Subscription] = set()
        self._closed = False

    # ---------------------------------------------------------------------------------------
    # Subscribing

    async def watch(
        self, refs: Sequence[Reference], interval: timedelta
    ) -> AsyncIterator[TagEvent]:
        """Each tag's current digest, then every move, until the caller stops iterating.

        The first answer for a tag new to this process is asked of the registry at once; a
        failure there (no such tag, no access) ends the watch with that error.
        """
        subscription = Subscription(interval)
        follows = [self._follow(ref, interval) for ref in refs]
        metrics.WATCH_SUBSCRIBERS.inc()
        self._subscriptions.add(subscription)
        try:
            for follow in follows:
                try:
                    answer = await self._current(follow)
                except BaseException:
                    self._forget_if_unwanted(follow)  # a typo is not followed for an hour
                    raise
                # No await between reading the answer and subscribing: no move falls between.
                subscription.offer(
                    TagEvent(follow.ref, None, answer.digest, answer.observed_at, EventSource.POLL)
                )
                follow.subscribers.add(subscription)
                follow.changed.set()  # the interval may be shorter now
                if follow.renew_at == 0.0:  # new here: list it now, so a restart resumes it
                    await self._persist(follow, force=True)
            while True:
                yield await subscription.next()
        finally:
            metrics.WATCH_SUBSCRIBERS.dec()
            self._subscriptions.discard(subscription)
            for follow in follows:
                follow.subscribers.discard(subscription)

    def _follow(self, ref: Reference, interval: timedelta) -> Follow:
        assert ref.tag is not None
        key: TagKey = (ref.registry, ref.repository, ref.tag)
        follow = self.followers.follows.get(key)
        if follow is None:
            follow = Follow(ref, interval, self._deps.wall() + self._retention)
            self._start(follow)
        return follow

    def _start(self, follow: Follow, *, soon: bool = False) -> None:
        if self._closed:
            raise errors.Unavailable("the server is shutting down")
        self.followers.follows[follow.key] = follow
        metrics.WATCH_FOLLOWED.set(len(self.followers.follows))
        follow.task = asyncio.get_running_loop().create_task(self._run(follow, soon=soon))

    def _forget_if_unwanted(self, follow: Follow) -> None:
        """Stop a follow asked for here that never had an answer nor a subscriber (nor a row:
        that is written only after its first answer), when its first answer failed."""
        if follow.answer is None and not follow.subscribers and not follow.resumed:
            if self.followers.follows.get(follow.key) is follow:
                del self.followers.follows[follow.key]
                metrics.WATCH_FOLLOWED.set(len(self.followers.follows))
            if follow.task is not None:
                follow.task.cancel()

    async def _current(self, follow: Follow) -> TagAnswer:
        if follow.answer is None:
            await self._ask(follow)
        assert follow.answer is not None
        return follow.answer

    # ---------------------------------------------------------------------------------------
    # Following

    async def _run(self, follow: Follow, *, soon: bool = False) -> None:
        """Ask once per interval (or read what the lease holder recorded) while wanted.

        A new subscriber may shorten the interval: it wakes the loop, which then waits for
        what is left of the shorter one. `soon` (a resumed follow) spreads the first polls of
        many tags over a few seconds rather than waiting a whole interval.
        """
        last = self._deps.monotonic()
        if soon:
            last -= follow.interval.total_seconds() * (1 - self._rng.random() * RESUME_SPREAD)
        while True:
            due = last + self._wait_s(follow)
            while (left := due - self._deps.monotonic()) > 0:
                try:
                    async with asyncio.timeout(left):
                        await follow.changed.wait()
                except TimeoutError:
                    break
                follow.changed.clear()
                due = min(due, last + self._wait_s(follow))
            last = self._deps.monotonic()
            if not follow.subscribers and self._deps.wall() > follow.wanted_until:
                self.followers.follows.pop(follow.key, None)
                metrics.WATCH_FOLLOWED.set(len(self.followers.follows))
                return
            try:
                await self._persist(follow)
                if follow.holder or follow.answer is None:
                    await self._ask(follow)
                else:
                    await self._read_recorded(follow)
            except (errors.ImagepinError, store.StoreError, TimeoutError, OSError) as exc:
                follow.failures += 1
                log.warning(
                    "cannot poll a followed tag",
                    extra={
                        "fields": {
                            "reference": str(follow.ref),
                            "failures": follow.failures,
                            "error": str(exc)[:200],
                        }
                    },
                )
            else:
                follow.failures = 0

    def _wait_s(self, follow: Follow) -> float:
        """The interval less up to JITTER, doubled for each failure in a row up to MAX_BACKOFF."""
        interval = follow.poll_interval().total_seconds()
        if follow.failures:
            backoff = interval * 2 ** min(follow.failures, 16)
            interval = min(backoff, max(interval, MAX_BACKOFF.total_seconds()))
        return interval * (1 - JITTER * self._rng.random())

    async def _ask(self, follow: Follow) -> None:
        """One registry answer, shared with any resolution in flight for the tag."""
        metrics.WATCH_POLLS.labels("registry").inc()
        follow.asking = EventSource.POLL
        try:
            answer, _ = await pin(
                self._deps, follow.ref, max_staleness=timedelta(0), stale_if_error=timedelta(0)
            )
        finally:
            follow.asking = None
        # The hook has seen it if this call led the flight; if it joined one, it is seen here.
        self.followers.update(follow, answer, EventSource.POLL)

    async def _read_recorded(self, follow: Follow) -> None:
        """Another replica holds the lease: what it recorded last is the tag's answer."""
        metrics.WATCH_POLLS.labels("store").inc()
        key = follow.store_key
        record = await store_call(
            self._deps.database,
            lambda session: store.latest_mapping(session, key.registry, key.repository, key.tag),
        )
        if record is None:
            return
        known = follow.answer
        if known is not None and (
            record.digest == str(known.digest) or record.last_seen <= known.observed_at
        ):
            return
        age = max((self._deps.wall() - record.last_seen).total_seconds(), 0.0)
        answer = TagAnswer(
            Digest.parse(record.digest),
            record.media_type,
            0,
            record.last_seen,
            self._deps.monotonic() - age,
        )
        self.followers.update(follow, answer, EventSource.POLL)

    async def _persist(self, follow: Follow, *, force: bool = False) -> None:
        """Write the follow (while somebody here wants it) and take or renew the tag's lease.

        Renewed at half the lease's life; when the database cannot be reached this process
        polls itself: asking twice is better than missing a move.
        """
        if not force and self._deps.monotonic() < follow.renew_at:
            return
        now = self._deps.wall()
        interval = follow.poll_interval()
        lease = max(interval * 3, LEASE_MIN)
        wanted = follow.subscribers or force
        wanted_until = now + self._retention

        async def write(session: AsyncSession) -> bool:
            if wanted:
                await store.follow_tag(
                    session,
                    follow.store_key,
                    interval_ms=int(interval.total_seconds() * 1000),
                    wanted_until=wanted_until,
                    now=now,
                )
            return await store.take_lease(
                session, follow.store_key, holder=self.holder, now=now, until=now + lease
            )

        if wanted:
            follow.wanted_until = wanted_until
        try:
            follow.holder = await store_call(self._deps.database, write, write=True)
        except errors.StoreUnavailable as exc:
            log.warning(
                "cannot write a followed tag; polling it from here",
                extra={"fields": {"reference": str(follow.ref), "error": str(exc)[:200]}},
            )
            follow.holder = True
            follow.renew_at = self._deps.monotonic() + interval.total_seconds()
            return
        follow.renew_at = self._deps.monotonic() + lease.total_seconds() / 2

    async def resume(self) -> int:
        """Follow again every tag the database says is still wanted; how many."""
        now = self._deps.wall()

        async def read(session: AsyncSession) -> Sequence[store.FollowedTagRecord]:
            # Follows nobody wanted for the retention go (a bounded batch each start).
            await store.sweep_follows(session, now=now, limit=RESUME_LIMIT)
            return await store.followed_tags(session, now=now, limit=RESUME_LIMIT)

        try:
            records = await store_call(self._deps.database, read, write=True)
        except errors.StoreUnavailable as exc:
            log.warning("cannot read the followed tags", extra={"fields": {"error": str(exc)}})
            return 0
        for record in records:
            key = record.key
            if (key.registry, key.repository, key.tag) in self.followers.follows:
                continue
            ref = Reference(registry=key.registry, repository=key.repository, tag=key.tag)
            interval = max(timedelta(milliseconds=record.interval_ms), MIN_INTERVAL)
            self._start(Follow(ref, interval, record.wanted_until, resumed=True), soon=True)
        log.info("resumed followed tags", extra={"fields": {"tags": len(records)}})
        return len(records)

    # ---------------------------------------------------------------------------------------
    # Notifications

    def push_hint(self, ref: Reference, digest: Digest) -> bool:
        """A registry said it pushed `digest` to `ref`'s tag: forget the cached answer and, for
        a tag somebody follows or asked about, confirm it in the background. False when the
        hint is dropped (nothing to confirm, already confirming it, or too many at once)."""
        assert ref.tag is not None
        key: TagKey = (ref.registry, ref.repository, ref.tag)
        cached = self._deps.caches.tags.get(key)
        self._deps.caches.tags.pop(key, None)
        if self._closed or (key not in self.followers.follows and cached is None):
            return False
        if (key, digest) in self._confirming or len(self._confirming) >= MAX_CONFIRMATIONS:
            return False
        task = asyncio.get_running_loop().create_task(self.confirm_push(ref, digest))
        self._confirming[(key, digest)] = task
        task.add_done_callback(lambda _: self._confirming.pop((key, digest), None))
        return True

    async def confirm_push(self, ref: Reference, digest: Digest) -> bool:
        """Ask the registry until it shows `digest` for the tag (bounded); only then record it
        and publish the move. True when confirmed; otherwise nothing is recorded."""
        for wait in CONFIRM_WAITS_S:
            if wait:
                await asyncio.sleep(wait)
            try:
                answer = await look(self._deps, ref)
            except (errors.NotFound, errors.Unavailable, errors.Timeout, errors.RateLimited):
                continue  # not written yet, or the registry is busy: ask again
            except errors.ImagepinError as exc:
                log.warning(
                    "cannot confirm a push",
                    extra={"fields": {"reference": str(ref), "error": str(exc)[:200]}},
                )
                break
            if answer.digest != digest:
                continue
            token = reported_as.set(EventSource.NOTIFICATION)
            try:
                await accept(self._deps, ref, answer)
            finally:
                reported_as.reset(token)
            metrics.NOTIFICATIONS.labels("confirmed").inc()
            return True
        metrics.NOTIFICATIONS.labels("unconfirmed").inc()
        log.warning(
            "push not confirmed by the registry; nothing recorded",
            extra={"fields": {"reference": str(ref), "digest": str(digest)}},
        )
        return False

    # ---------------------------------------------------------------------------------------

    def end_watches(self) -> None:
        """End every open watch with UNAVAILABLE, so a stopping server is not held open by
        streams that never finish on their own; their callers watch again elsewhere."""
        self._closed = True
        for subscription in list(self._subscriptions):
            subscription.end(errors.Unavailable("the server is stopping; watch again"))

    async def aclose(self) -> None:
        """Stop following (leases released, so another replica takes over at once)."""
        self._closed = True
        tasks: list[asyncio.Task[Any]] = [f.task for f in self.followers.follows.values() if f.task]
        tasks += list(self._confirming.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        held = [f.store_key for f in self.followers.follows.values() if f.holder]
        if not held:
            return

        async def release(session: AsyncSession) -> None:
            for key in held:
                await store.release_lease(session, key, holder=self.holder)

        try:
            await store_call(self._deps.database, release, write=True)
        except errors.StoreUnavailable as exc:
            log.warning("cannot release leases", extra={"fields": {"error": str(exc)[:200]}})
