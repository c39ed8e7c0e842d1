"""Background layer indexing: opt-in, within its GET budget, content already held costs none."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from imagepin_server import core, store
from imagepin_server.config import Settings
from imagepin_server.digests import Digest
from imagepin_server.reference import parse
from imagepin_server.registry import build_client, load_config
from imagepin_server.store import Database
from prometheus_client import REGISTRY

from tests.support.image_fixtures import ImageCatalog, PushedImage


@pytest.fixture
async def deps(sqlite_database: Database) -> AsyncIterator[core.Dependencies]:
    registry = build_client(load_config(None))  # loopback registries are allowed by default
    yield core.Dependencies(
        registry=registry,
        database=sqlite_database,
        recorder=core.ObservationRecorder(sqlite_database),
        wall=lambda: datetime.now(UTC),
        monotonic=time.monotonic,
    )
    await registry.aclose()


async def _indexed(deps: core.Dependencies, image: PushedImage) -> bool:
    async with deps.database.session() as session:
        return await store.has_image_layers(session, image.digest)


def _skipped(why: str) -> float:
    return REGISTRY.get_sample_value("imagepin_index_skipped_total", {"why": why}) or 0.0


def test_background_indexing_is_off_unless_asked_for() -> None:
    assert Settings().index_layers is False
    assert Settings.from_env({}).index_layers is False
    assert Settings.from_env({"IMAGEPIN_INDEX_LAYERS": "true"}).index_layers is True


async def test_the_budget_bounds_the_gets_spent(
    deps: core.Dependencies, pushed_images: ImageCatalog
) -> None:
    first, second = pushed_images.app_a, pushed_images.app_b
    indexer = core.BackgroundIndexer(deps, gets_per_minute=2)  # one manifest and one config
    spent = _skipped("budget_spent")
    indexer.schedule(parse(first.reference), Digest.parse(first.digest))
    await indexer.idle()
    indexer.schedule(parse(second.reference), Digest.parse(second.digest))
    await indexer.idle()
    await indexer.aclose()
    assert await _indexed(deps, first)
    assert not await _indexed(deps, second)
    assert _skipped("budget_spent") == spent + 1


async def test_content_already_held_is_indexed_without_budget(
    deps: core.Dependencies, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    ref = parse(image.reference)
    manifest = await core.content.manifest(deps, ref, Digest.parse(image.digest))  # fetched anyway
    parsed = core.images.parse_manifest(manifest.raw, manifest.media_type)
    assert isinstance(parsed, core.images.ImageManifest)
    await core.content.config(deps, ref, parsed.config.digest)
    indexer = core.BackgroundIndexer(deps, gets_per_minute=0)  # no GET at all
    indexer.schedule(ref, Digest.parse(image.digest))
    await indexer.idle()
    await indexer.aclose()
    assert await _indexed(deps, image)
