"""The layer index (image_layers, index_children) and images_with_layer, on both backends."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from imagepin_server.store import (
    Database,
    ImageLayer,
    ImageWithLayerRecord,
    IndexChild,
    IndexChildRow,
    LayerRow,
    TagObservation,
    has_image_layers,
    images_with_layer,
    put_content,
    record_image_layers,
    record_index_children,
    record_tag_observation,
)
from sqlalchemy import event, func, select

DOCKER = "docker.io"
GHCR = "ghcr.io"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
SEEN = datetime(2024, 6, 1, tzinfo=UTC)


def sha(label: str) -> str:
    return "sha256:" + hashlib.sha256(label.encode()).hexdigest()


def layers_of(name: str, count: int = 3) -> list[LayerRow]:
    return [
        LayerRow(i, sha(f"{name}/layer{i}"), sha(f"{name}/diff{i}"), LAYER_TYPE, 1000 + i)
        for i in range(count)
    ]


async def seen_in(
    database: Database,
    registry: str,
    repository: str,
    raw: bytes,
    *,
    tags: Sequence[str] = (),
    media_type: str = MANIFEST_TYPE,
) -> str:
    """Cache ``raw`` (a manifest or index) as seen in the repository, tagged with ``tags``."""
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    async with database.transaction() as session:
        await put_content(
            session,
            registry=registry,
            repository=repository,
            digest=digest,
            media_type=media_type,
            kind="manifest",
            content=raw,
            seen_at=SEEN,
        )
        for tag in tags:
            obs = TagObservation(registry, repository, tag, digest, media_type, SEEN)
            await record_tag_observation(session, obs)
    return digest


async def manifest(database: Database, name: str, layers: Sequence[LayerRow]) -> str:
    """The digest of an image manifest named ``name``, with its layers recorded."""
    digest = sha(f"manifest:{name}")
    async with database.transaction() as session:
        await record_image_layers(session, digest, layers)
    return digest


async def image_index(database: Database, name: str, children: Sequence[IndexChild]) -> bytes:
    raw = json.dumps({"name": name, "manifests": [c.child_digest for c in children]}).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    async with database.transaction() as session:
        await record_index_children(session, digest, children)
    return raw


async def find(database: Database, digest: str, *, limit: int = 100) -> list[ImageWithLayerRecord]:
    async with database.session() as session:
        return await images_with_layer(session, digest, limit=limit)


async def count(database: Database, model: Any) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@contextmanager
def counting_selects(database: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if statement.lstrip().upper().startswith(("SELECT", "WITH")):
            statements.append(statement)

    engine = database.engine.sync_engine
    event.listen(engine, "before_cursor_execute", before)
    try:
        yield statements
    finally:
        event.remove(engine, "before_cursor_execute", before)


async def test_image_in_two_repositories_is_found_by_layer_digest_and_by_diff_id(
    database: Database,
) -> None:
    layers = layers_of("app")
    raw = b'{"schemaVersion":2,"layers":["app"]}'
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    async with database.transaction() as session:
        await record_image_layers(session, digest, layers)
    await seen_in(database, DOCKER, "team/app", raw, tags=["latest", "1.0"])
    await seen_in(database, GHCR, "team/app-mirror", raw, tags=["v1", "stable"])

    expected = [
        ImageWithLayerRecord(
            registry=DOCKER,
            repository="team/app",
            tags=("1.0", "latest"),
            manifest_digest=digest,
            index_digests=(),
            layer_index=1,
            layer_digest=layers[1].layer_digest,
            diff_id=layers[1].diff_id,
            platform="",
        ),
        ImageWithLayerRecord(
            registry=GHCR,
            repository="team/app-mirror",
            tags=("stable", "v1"),
            manifest_digest=digest,
            index_digests=(),
            layer_index=1,
            layer_digest=layers[1].layer_digest,
            diff_id=layers[1].diff_id,
            platform="",
        ),
    ]
    assert await find(database, layers[1].layer_digest) == expected
    assert await find(database, layers[1].diff_id) == expected


async def test_child_of_an_index_is_found_with_the_indexes_their_tags_and_platform(
    database: Database,
) -> None:
    amd = await manifest(database, "amd64", layers_of("amd64"))
    arm_layers = layers_of("arm64")
    arm = await manifest(database, "arm64", arm_layers)
    new_index = await image_index(
        database, "new", [IndexChild(amd, 0, "linux/amd64"), IndexChild(arm, 1, "linux/arm64/v8")]
    )
    # An older index of the same repository listing the same arm64 image.
    old_index = await image_index(database, "old", [IndexChild(arm, 0, "linux/arm64/v8")])
    new = await seen_in(
        database,
        DOCKER,
        "library/alpine",
        new_index,
        tags=["3.20", "latest"],
        media_type=INDEX_TYPE,
    )
    old = await seen_in(
        database, DOCKER, "library/alpine", old_index, tags=["3.19"], media_type=INDEX_TYPE
    )
    # A tag of another repository pointing at the same index (never seen there) is not theirs.
    async with database.transaction() as session:
        obs = TagObservation(DOCKER, "library/other", "x", new, INDEX_TYPE, SEEN)
        await record_tag_observation(session, obs)

    [record] = await find(database, arm_layers[2].diff_id)
    assert record == ImageWithLayerRecord(
        registry=DOCKER,
        repository="library/alpine",
        tags=("3.19", "3.20", "latest"),
        manifest_digest=arm,
        index_digests=tuple(sorted([new, old])),
        layer_index=2,
        layer_digest=arm_layers[2].layer_digest,
        diff_id=arm_layers[2].diff_id,
        platform="linux/arm64/v8",
    )


async def test_child_seen_directly_and_through_an_index_is_one_record(database: Database) -> None:
    layers = layers_of("child")
    raw = b'{"child":true}'
    child = "sha256:" + hashlib.sha256(raw).hexdigest()
    async with database.transaction() as session:
        await record_image_layers(session, child, layers)
    index_raw = await image_index(database, "idx", [IndexChild(child, 0, "linux/amd64")])
    index = await seen_in(
        database, DOCKER, "team/app", index_raw, tags=["1"], media_type=INDEX_TYPE
    )
    # The client fetched the child too (by digest): recorded under the same repository.
    await seen_in(database, DOCKER, "team/app", raw)
    # And a repository where only the child was seen, by digest.
    await seen_in(database, DOCKER, "team/bare", raw, tags=["pinned"])

    records = await find(database, layers[0].layer_digest)
    assert [(r.repository, r.tags, r.index_digests, r.platform) for r in records] == [
        ("team/app", ("1",), (index,), "linux/amd64"),
        # Not seen through the index there, but the platform is still the manifest's own.
        ("team/bare", ("pinned",), (), "linux/amd64"),
    ]


async def test_diff_ids_learnt_later_fill_the_empty_ones_and_never_replace_one(
    database: Database,
) -> None:
    """Layers recorded before the config was read (VerifyDigest BLOBS) get their diff_ids when
    a later record knows them; a diff_id once recorded is never changed."""
    known = layers_of("late")
    unknown = [dataclasses.replace(layer, diff_id="") for layer in known]
    raw = b'{"schemaVersion":2,"layers":["late"]}'
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    await seen_in(database, DOCKER, "team/late", raw, tags=["1"])
    async with database.transaction() as session:
        await record_image_layers(session, digest, unknown)
    assert await find(database, known[0].diff_id) == []
    async with database.transaction() as session:
        await record_image_layers(session, digest, known)
    [found] = await find(database, known[0].diff_id)
    assert (found.layer_digest, found.diff_id) == (known[0].layer_digest, known[0].diff_id)
    other = [dataclasses.replace(layer, diff_id=sha("other")) for layer in known]
    async with database.transaction() as session:
        await record_image_layers(session, digest, other)
    assert await find(database, sha("other")) == []
    assert [r.diff_id for r in await find(database, known[0].layer_digest)] == [known[0].diff_id]


async def test_unknown_or_empty_digest_finds_nothing(database: Database) -> None:
    raw = b'{"m":1}'
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    async with database.transaction() as session:
        # diff_id unknown: stored as "", which must never match a search.
        await record_image_layers(session, digest, [LayerRow(0, sha("l"), "", LAYER_TYPE, 1)])
    await seen_in(database, DOCKER, "team/app", raw, tags=["t"])

    assert await find(database, sha("nowhere")) == []
    assert await find(database, "") == []
    assert len(await find(database, sha("l"))) == 1


async def test_layers_recorded_but_never_seen_in_a_repository_are_not_reported(
    database: Database,
) -> None:
    layers = layers_of("orphan")
    await manifest(database, "orphan", layers)
    assert await find(database, layers[0].layer_digest) == []


async def test_results_are_ordered_and_limited(database: Database) -> None:
    shared = LayerRow(0, sha("base-layer"), sha("base-diff"), LAYER_TYPE, 10)
    expected: list[tuple[str, str, str]] = []
    for registry in (GHCR, DOCKER):
        for repo in ("b/one", "a/two", "c/three"):
            for version in (2, 1):
                raw = f"{registry}/{repo}:{version}".encode()
                digest = "sha256:" + hashlib.sha256(raw).hexdigest()
                own = LayerRow(1, sha(f"{raw!r}-top"), sha(f"{raw!r}-topdiff"), LAYER_TYPE, 5)
                async with database.transaction() as session:
                    await record_image_layers(session, digest, [shared, own])
                await seen_in(database, registry, repo, raw, tags=[str(version)])
                expected.append((registry, repo, digest))
    expected.sort()

    every = await find(database, shared.layer_digest)
    assert [(r.registry, r.repository, r.manifest_digest) for r in every] == expected
    assert all(r.layer_index == 0 for r in every)

    for limit in (1, 5, 12, 13):
        found = await find(database, shared.diff_id, limit=limit)
        assert [(r.registry, r.repository, r.manifest_digest) for r in found] == expected[:limit]
    assert await find(database, shared.layer_digest, limit=0) == []
    with pytest.raises(ValueError, match="limit"):
        await find(database, shared.layer_digest, limit=-1)


async def test_images_with_layer_uses_a_fixed_number_of_queries(database: Database) -> None:
    shared = LayerRow(0, sha("shared"), sha("shared-diff"), LAYER_TYPE, 10)
    for i in range(30):
        child = await manifest(database, f"m{i}", [shared])
        index_raw = await image_index(database, f"i{i}", [IndexChild(child, 0, "linux/amd64")])
        await seen_in(database, DOCKER, f"repo{i:02}", index_raw, tags=["a", "b"])

    async with database.session() as session:
        with counting_selects(database) as selects:
            found = await images_with_layer(session, shared.layer_digest)
    assert len(found) == 30
    assert all(r.tags == ("a", "b") and len(r.index_digests) == 1 for r in found)
    assert len(selects) <= 4


async def test_a_layer_repeated_in_a_manifest_is_reported_once_at_its_first_position(
    database: Database,
) -> None:
    empty = sha("empty-layer")
    layers = [
        LayerRow(0, sha("base"), sha("base-diff"), LAYER_TYPE, 100),
        LayerRow(1, empty, sha("empty-diff"), LAYER_TYPE, 32),
        LayerRow(2, sha("mid"), sha("mid-diff"), LAYER_TYPE, 100),
        LayerRow(3, empty, sha("empty-diff"), LAYER_TYPE, 32),
    ]
    raw = b'{"repeats":true}'
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    async with database.transaction() as session:
        await record_image_layers(session, digest, layers)
    await seen_in(database, DOCKER, "team/app", raw)

    [record] = await find(database, empty)
    assert record.layer_index == 1


async def test_recording_layers_is_idempotent(database: Database) -> None:
    digest = sha("manifest:idempotent")
    layers = layers_of("idempotent", 4)
    async with database.session() as session:
        assert not await has_image_layers(session, digest)

    async with database.transaction() as session:
        await record_image_layers(session, digest, layers)
        await record_image_layers(session, digest, [])
    # A replay (even a wrong one) leaves the recorded layers as they were.
    bogus = [LayerRow(0, sha("bogus"), "", LAYER_TYPE, 1)]
    async with database.transaction() as session:
        await record_image_layers(session, digest, layers)
        await record_image_layers(session, digest, bogus)

    async with database.session() as session:
        assert await has_image_layers(session, digest)
        assert not await has_image_layers(session, sha("manifest:other"))
        rows = (
            await session.execute(
                select(ImageLayer.position, ImageLayer.layer_digest, ImageLayer.size)
                .where(ImageLayer.manifest_digest == digest)
                .order_by(ImageLayer.position)
            )
        ).all()
    assert [tuple(row) for row in rows] == [(x.position, x.layer_digest, x.size) for x in layers]


async def test_recording_index_children_is_idempotent(database: Database) -> None:
    index = sha("index")
    children = [IndexChild(sha(f"child{i}"), i, f"linux/arch{i}") for i in range(3)]
    async with database.transaction() as session:
        await record_index_children(session, index, children)
        await record_index_children(session, index, children[:1])
        await record_index_children(session, index, [])
    assert await count(database, IndexChildRow) == 3


async def test_large_layer_sizes_and_many_layers_fit(database: Database) -> None:
    digest = sha("manifest:huge")
    layers = [
        LayerRow(i, sha(f"huge{i}"), sha(f"hugediff{i}"), LAYER_TYPE, 5 * 2**40 + i)
        for i in range(1200)
    ]
    async with database.transaction() as session:
        await record_image_layers(session, digest, layers)
    assert await count(database, ImageLayer) == 1200
    async with database.session() as session:
        biggest = await session.scalar(select(func.max(ImageLayer.size)))
    assert biggest == 5 * 2**40 + 1199


async def test_concurrent_recording_of_the_same_image_is_harmless(database: Database) -> None:
    digest = sha("manifest:concurrent")
    layers = layers_of("concurrent", 5)
    index = sha("index:concurrent")
    children = [IndexChild(digest, 0, "linux/amd64")]

    async def one() -> None:
        async with database.session() as session, session.begin():
            await record_image_layers(session, digest, layers)
            await record_index_children(session, index, children)

    await asyncio.gather(*(one() for _ in range(20)))
    assert await count(database, ImageLayer) == 5
    assert await count(database, IndexChildRow) == 1


async def test_writes_need_the_callers_transaction(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(RuntimeError, match="transaction"):
            await record_image_layers(session, sha("m"), layers_of("m"))
        with pytest.raises(RuntimeError, match="transaction"):
            await record_index_children(session, sha("i"), [IndexChild(sha("m"), 0, "")])


async def test_tags_of_the_manifest_and_of_its_index_in_the_same_repository_merge(
    database: Database,
) -> None:
    layers = layers_of("merge")
    raw = b'{"merge":1}'
    child = "sha256:" + hashlib.sha256(raw).hexdigest()
    async with database.transaction() as session:
        await record_image_layers(session, child, layers)
    index_raw = await image_index(database, "merge", [IndexChild(child, 0, "")])
    await seen_in(database, DOCKER, "team/app", index_raw, tags=["multi"], media_type=INDEX_TYPE)
    await seen_in(database, DOCKER, "team/app", raw, tags=["amd64-only", "multi"])
    # A tag that moved away from the manifest long ago still counts: it was recorded.
    async with database.transaction() as session:
        old = TagObservation(
            DOCKER, "team/app", "old", child, MANIFEST_TYPE, SEEN - timedelta(days=30)
        )
        await record_tag_observation(session, old)

    [record] = await find(database, layers[0].layer_digest)
    assert record.tags == ("amd64-only", "multi", "old")
    assert record.platform == ""
