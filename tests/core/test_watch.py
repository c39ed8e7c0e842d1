"""The watcher's own rules, in-process: what a WatchTags request may ask, how a slow subscriber
is dropped rather than buffered without bound, how waits are jittered and backed off, and how
moves are published (only a newer, different digest is a move)."""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from imagepin_server import errors, store
from imagepin_server.api.convert import parse_tag_references
from imagepin_server.core import Dependencies, ObservationRecorder
from imagepin_server.core.cache import TagAnswer
from imagepin_server.core.followers import (
    SUBSCRIBER_BACKLOG,
    EventSource,
    Follow,
    Subscription,
    TagEvent,
)
from imagepin_server.core.watch import (
    DEFAULT_INTERVAL,
    JITTER,
    MAX_BACKOFF,
    MAX_REFERENCES,
    TagWatcher,
    watch_request,
)
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference
from imagepin_server.registry import build_client, load_config

A = Digest.parse("sha256:" + "a" * 64)
B = Digest.parse("sha256:" + "b" * 64)
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
REF = Reference("registry.example", "team/app", "1.0")
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def tags(*texts: str) -> list[Reference]:
    """References as the edge parses them for WatchTags (api/convert.py)."""
    return parse_tag_references(texts, purpose="watching")


def test_requests_are_checked_and_deduplicated() -> None:
    refs, interval = watch_request(tags("redis", "docker.io/library/redis:latest", "redis:7"), None)
    assert [str(r) for r in refs] == ["docker.io/library/redis:latest", "docker.io/library/redis:7"]
    assert interval == DEFAULT_INTERVAL
    with pytest.raises(errors.InvalidArgument):
        watch_request([], None)
    with pytest.raises(errors.InvalidArgument):
        watch_request(tags(*(f"redis:{i}" for i in range(MAX_REFERENCES + 1))), None)
    with pytest.raises(errors.BadReference):
        watch_request(tags("redis@sha256:" + "a" * 64), None)
    with pytest.raises(errors.InvalidArgument):
        watch_request(tags("redis"), timedelta(milliseconds=999))
    assert watch_request(tags("redis"), timedelta(seconds=1))[1] == timedelta(seconds=1)


async def test_a_subscriber_too_far_behind_is_ended_not_buffered() -> None:
    subscription = Subscription(DEFAULT_INTERVAL)
    event = TagEvent(REF, A, B, T0, EventSource.POLL)
    for _ in range(SUBSCRIBER_BACKLOG):
        subscription.offer(event)
    assert not subscription.behind
    subscription.offer(event)
    with pytest.raises(errors.WatchBehind):
        await subscription.next()


@pytest.fixture
async def watcher(tmp_path: Path) -> TagWatcher:
    database = store.Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    deps = Dependencies(
        registry=build_client(load_config(None)),
        database=database,
        recorder=ObservationRecorder(database),
        wall=lambda: datetime.now(UTC),
        monotonic=time.monotonic,
    )
    return TagWatcher(deps, rng=random.Random(7))


def answer(digest: Digest, at: datetime) -> TagAnswer:
    return TagAnswer(digest, MANIFEST, 100, at, time.monotonic())


def test_waits_are_jittered_below_the_interval_and_backed_off_on_failures(
    watcher: TagWatcher,
) -> None:
    follow = Follow(REF, timedelta(seconds=10), T0)
    waits = [watcher._wait_s(follow) for _ in range(200)]
    assert all(10 * (1 - JITTER) <= w <= 10 for w in waits)
    assert len(set(waits)) > 100  # spread, not one value
    follow.failures = 3
    assert 80 * (1 - JITTER) <= watcher._wait_s(follow) <= 80
    follow.failures = 40
    assert watcher._wait_s(follow) <= MAX_BACKOFF.total_seconds()


def test_only_a_newer_different_digest_is_published(watcher: TagWatcher) -> None:
    follow = Follow(REF, timedelta(seconds=10), T0)
    watcher.followers.follows[follow.key] = follow
    subscription = Subscription(timedelta(seconds=10))
    follow.subscribers.add(subscription)
    followers = watcher.followers
    followers.observed(REF, answer(A, T0))  # the first answer: the subscriber got it on joining
    followers.observed(REF, answer(A, T0 + timedelta(seconds=1)))  # same digest: no move
    followers.observed(REF, answer(B, T0 - timedelta(seconds=1)))  # older than known: ignored
    assert not subscription._events
    followers.observed(REF, answer(B, T0 + timedelta(seconds=2)))  # a resolution saw it move
    [event] = subscription._events
    assert (event.previous, event.digest, event.source) == (A, B, EventSource.RESOLUTION)
    followers.observed(Reference("registry.example", "team/app", "2.0"), answer(A, T0))
    assert len(subscription._events) == 1  # a tag nobody follows is nobody's event


def test_a_push_hint_for_a_tag_nobody_knows_only_forgets(watcher: TagWatcher) -> None:
    key = ("registry.example", "team/other", "1.0")
    assert not watcher.push_hint(Reference(*key), A)
    watcher._deps.caches.tags[key] = answer(A, T0)
    watcher._closed = True  # no background confirmation in this test
    assert not watcher.push_hint(Reference(*key), B)
    assert watcher._deps.caches.tags.get(key) is None  # the cached answer is forgotten


async def test_a_tag_whose_first_answer_fails_is_not_followed(watcher: TagWatcher) -> None:
    unreachable = Reference("127.0.0.1:1", "team/app", "1.0")  # nothing listens on port 1
    with pytest.raises(errors.ImagepinError):
        async for _ in watcher.watch([unreachable], timedelta(seconds=1)):
            pass
    assert watcher.followers.follows == {}
    await watcher.aclose()
    await watcher._deps.registry.aclose()
