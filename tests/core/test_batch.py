"""resolve_many in-process: every item its own answer or error, in order."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta

import pytest
from imagepin_server import errors, mediatypes, store
from imagepin_server.core import BatchItem, Source, resolve_many

from tests.core.helpers import ManualClock, reference, use_cases
from tests.support.hostile_registry import (
    Behaviour,
    HostileHandler,
    launch_hostile_registry,
    reply,
)
from tests.support.image_fixtures import ImageCatalog

MANIFEST = mediatypes.OCI_MANIFEST


async def test_each_item_gets_its_own_answer_or_error_in_order(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    a, b = pushed_images.app_a, pushed_images.app_b
    missing = f"{a.registry}/{a.repository}:no-such-tag"
    refused = errors.BadReference("not a reference")
    items = [
        BatchItem(text=a.reference, reference=reference(a.reference)),
        BatchItem(text="Not A Reference", invalid=refused),
        BatchItem(text=missing, reference=reference(missing)),
        BatchItem(text=b.reference, reference=reference(b.reference)),
        BatchItem(text=a.reference, reference=reference(a.reference)),
    ]
    async with use_cases(sqlite_database, ManualClock()) as deps:
        outcomes = await resolve_many(deps, items)
    assert [outcome.reference for outcome in outcomes] == [item.text for item in items]
    first, invalid, absent, second, again = outcomes
    assert first.resolution is not None
    assert str(first.resolution.digest) == a.digest
    assert invalid.error is refused
    assert isinstance(absent.error, errors.NotFound)
    assert second.resolution is not None
    assert str(second.resolution.digest) == b.digest
    assert again.resolution is not None
    assert str(again.resolution.digest) == a.digest


async def test_items_honour_their_own_max_staleness(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.single
    clock = ManualClock()
    async with use_cases(sqlite_database, clock) as deps:
        await resolve_many(deps, [BatchItem(text="x", reference=reference(image.reference))])
        clock.advance(5)
        cached, fresh = await resolve_many(
            deps,
            [
                BatchItem(text="cached", reference=reference(image.reference)),
                BatchItem(
                    text="fresh",
                    reference=reference(image.reference),
                    max_staleness=timedelta(0),
                ),
            ],
        )
    assert cached.resolution is not None
    assert (cached.resolution.source, cached.resolution.age) == (
        Source.CACHE,
        timedelta(seconds=5),
    )
    assert fresh.resolution is not None
    assert fresh.resolution.source is Source.REGISTRY


async def test_a_batch_over_the_limit_is_refused_whole(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.single
    items = [BatchItem(text=image.reference, reference=reference(image.reference))] * 3
    async with use_cases(sqlite_database, ManualClock(), batch_limit=2) as deps:
        with pytest.raises(errors.InvalidArgument):
            await resolve_many(deps, items)


async def test_a_batch_keeps_the_hosts_slots_full_and_never_exceeds_them(
    sqlite_database: store.Database,
) -> None:
    """Politeness bounds the batch: never more than the host's max_concurrency HEADs in flight,
    and (so that a batch runs at the registry's speed) always that many while items remain.

    The registry holds each HEAD until `cap` of them are in flight (a barrier): a batch that
    sent fewer at once would break the barrier; one that sent more would be caught in flight.
    """
    cap, tags = 4, 12
    barrier = threading.Barrier(cap, timeout=10)
    in_flight, most = 0, 0
    counting = threading.Lock()

    def held_head(body: bytes) -> Behaviour:
        answer = reply(
            200,
            headers={
                "Content-Type": MANIFEST,
                "Content-Length": str(len(body)),
                "Docker-Content-Digest": "sha256:" + hashlib.sha256(body).hexdigest(),
            },
        )

        def behave(handler: HostileHandler) -> None:
            nonlocal in_flight, most
            with counting:
                in_flight += 1
                most = max(most, in_flight)
            try:
                barrier.wait()
                answer(handler)
            finally:
                with counting:
                    in_flight -= 1

        return behave

    with launch_hostile_registry() as registry:
        for i in range(tags):
            body = b'{"schemaVersion":2,"mediaType":"%s","tag":%d}' % (MANIFEST.encode(), i)
            registry.script("HEAD", f"/v2/team/app/manifests/t{i}", held_head(body))
        items = [
            BatchItem(text=f"t{i}", reference=reference(f"{registry.host}/team/app:t{i}"))
            for i in range(tags)
        ]
        async with use_cases(
            sqlite_database, ManualClock(), limits={"max_concurrency": cap}
        ) as deps:
            outcomes = await resolve_many(deps, items)

    assert [o.error for o in outcomes] == [None] * tags  # no wave broke the barrier
    assert most == cap
