"""resolve: registry, cache within max_staleness, stale-if-error, single flight; no sleeps."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from pathlib import Path

import pytest
from imagepin_server import errors, store
from imagepin_server.core import Source, resolve, tag_history
from imagepin_server.digests import Digest
from prometheus_client import REGISTRY

from tests.core.helpers import ManualClock, reference, use_cases
from tests.support.image_fixtures import ImageCatalog, build_small_image, push_layout
from tests.support.registries import launch_registry

ACCESS_LOGGED = {"log": {"level": "info", "accesslog": {"disabled": False}}}


async def test_a_tag_is_asked_of_the_registry_and_recorded(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.app_a
    clock = ManualClock()
    async with use_cases(sqlite_database, clock) as deps:
        answer = await resolve(deps, reference(image.reference), None)
        history = await tag_history(deps, reference(image.reference), as_of=None, limit=0)
    assert answer.source is Source.REGISTRY
    assert str(answer.digest) == image.digest
    assert answer.media_type == image.media_type
    assert answer.observed_at == clock.wall()
    assert answer.age == timedelta(0)
    assert [(m.digest, m.first_seen) for m in history.moves] == [(image.digest, clock.wall())]


async def test_an_answer_is_reused_within_max_staleness_and_its_age_is_the_time_passed(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.single
    clock = ManualClock()
    async with use_cases(sqlite_database, clock, max_staleness=timedelta(seconds=30)) as deps:
        first = await resolve(deps, reference(image.reference), None)
        clock.advance(12)
        cached = await resolve(deps, reference(image.reference), None)
        clock.advance(18)  # exactly max_staleness old: still fresh enough
        edge = await resolve(deps, reference(image.reference), None)
        clock.advance(0.5)
        asked = await resolve(deps, reference(image.reference), None)
    assert first.source is Source.REGISTRY
    assert (cached.source, cached.age, cached.observed_at) == (
        Source.CACHE,
        timedelta(seconds=12),
        first.observed_at,
    )
    assert (edge.source, edge.age) == (Source.CACHE, timedelta(seconds=30))
    assert asked.source is Source.REGISTRY
    assert asked.observed_at == first.observed_at + timedelta(seconds=30.5)
    assert asked.digest == first.digest


async def test_a_caller_asking_for_no_staleness_gets_the_registry_every_time(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.index
    clock = ManualClock()
    async with use_cases(sqlite_database, clock) as deps:
        first = await resolve(deps, reference(image.reference), None)
        clock.advance(1)
        second = await resolve(
            deps,
            reference(image.reference),
            None,
            max_staleness=timedelta(0),
            include_children=True,
        )
    assert (first.source, second.source) == (Source.REGISTRY, Source.REGISTRY)
    assert second.observed_at - first.observed_at == timedelta(seconds=1)
    assert [str(child.digest) for child in second.children] == [
        child.digest for child in image.children
    ]


async def test_a_registry_gone_down_is_answered_stale_within_stale_if_error(
    tmp_path: Path, sqlite_database: store.Database
) -> None:
    clock = ManualClock()
    built = build_small_image(tmp_path / "layout", "downed")
    bound = timedelta(minutes=10)
    async with use_cases(sqlite_database, clock, stale_if_error=bound) as deps:
        with launch_registry(tmp_path / "registry") as registry:
            image = push_layout(registry, built, "team/downed", "1")
            ref = reference(image.reference)
            fresh = await resolve(deps, ref, None)
        # The registry has stopped: nothing listens on its port any more.
        clock.advance(300)
        stale = await resolve(deps, ref, None)
        with pytest.raises(errors.Unavailable):  # the caller accepts nothing this old
            await resolve(deps, ref, None, stale_if_error=timedelta(seconds=299))
        clock.advance(300.5)
        with pytest.raises(errors.Unavailable):  # older than the policy's bound now
            await resolve(deps, ref, None)
    assert fresh.source is Source.REGISTRY
    assert (stale.source, stale.stale, stale.digest) == (Source.STALE, True, fresh.digest)
    assert stale.age == timedelta(seconds=300)
    assert stale.observed_at == fresh.observed_at


async def test_a_new_process_answers_stale_from_the_store_by_the_wall_clock(
    tmp_path: Path, sqlite_database: store.Database
) -> None:
    """Cold caches (another process on the same database): the recorded mapping stands in."""
    clock = ManualClock()
    built = build_small_image(tmp_path / "layout", "recorded")
    with launch_registry(tmp_path / "registry") as registry:
        image = push_layout(registry, built, "team/recorded", "1")
        ref = reference(image.reference)
        async with use_cases(sqlite_database, clock) as deps:
            fresh = await resolve(deps, ref, None)
    clock.advance(120)
    async with use_cases(sqlite_database, clock, stale_if_error=timedelta(minutes=5)) as cold:
        stale = await resolve(cold, ref, None)
        clock.advance(181)
        with pytest.raises(errors.Unavailable):
            await resolve(cold, ref, None)
    assert (stale.source, stale.digest) == (Source.STALE, fresh.digest)
    assert stale.age == timedelta(seconds=120)
    assert stale.observed_at == fresh.observed_at


async def test_concurrent_resolutions_of_a_cold_tag_share_one_registry_request(
    tmp_path: Path, sqlite_database: store.Database
) -> None:
    built = build_small_image(tmp_path / "layout", "crowd")
    workdir = tmp_path / "registry"
    with launch_registry(workdir, config_extra=ACCESS_LOGGED) as registry:
        image = push_layout(registry, built, "team/crowd", "1")
        log = workdir / "registry.log"
        heads = re.compile(r'"HEAD /v2/team/crowd/manifests/1 HTTP/1\.1"')
        before = sum(1 for line in log.read_text().splitlines() if heads.search(line))
        waits_before = REGISTRY.get_sample_value("imagepin_coalesced_waits_total") or 0.0
        async with use_cases(sqlite_database, ManualClock()) as deps:
            answers = await asyncio.gather(
                *(resolve(deps, reference(image.reference), None) for _ in range(50))
            )
            waits = REGISTRY.get_sample_value("imagepin_coalesced_waits_total") or 0.0
            coalesced = waits - waits_before
        after = sum(1 for line in log.read_text().splitlines() if heads.search(line))
    assert {str(answer.digest) for answer in answers} == {image.digest}
    assert {answer.source for answer in answers} == {Source.REGISTRY}
    assert after - before == 1
    assert coalesced == 49


async def test_a_digest_reference_is_fetched_and_hashed_not_headed(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.app_b
    absent = Digest.of(b"no manifest has these bytes")
    async with use_cases(sqlite_database, ManualClock()) as deps:
        answer = await resolve(deps, reference(image.pinned_reference), None)
        with pytest.raises(errors.ManifestNotFound):
            await resolve(deps, reference(f"{image.registry}/{image.repository}@{absent}"), None)
        cached = deps.caches.contents.get(
            (image.registry, image.repository, image.digest, "manifest")
        )
    assert str(answer.digest) == image.digest
    assert answer.size == len(image.raw_manifest)
    assert cached is not None
    assert cached.raw == image.raw_manifest
