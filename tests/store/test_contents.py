"""The content cache (contents, repository_contents) and migration 0002, on both backends."""

from __future__ import annotations

import asyncio
import hashlib
import random
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from imagepin_server.store import (
    MAX_CONTENT_SIZE,
    Content,
    ContentRejected,
    Database,
    IndexChild,
    LayerRow,
    RepositoryContent,
    StoredContent,
    StoreError,
    TagObservation,
    get_content,
    get_contents,
    head_revision,
    images_with_layer,
    put_content,
    record_image_layers,
    record_index_children,
    record_tag_observation,
    tag_history,
)
from sqlalchemy import event, func, inspect, select

REGISTRY = "registry.example"
REPO = "team/app"
OTHER_REPO = "team/other"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
SEEN = datetime(2024, 6, 1, 8, 30, 0, 123456, tzinfo=UTC)
NEW_TABLES = ("contents", "repository_contents", "image_layers", "index_children")


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(size: int, seed: int) -> bytes:
    """Reproducible bytes covering every byte value (NULs, high bytes, invalid UTF-8)."""
    return random.Random(seed).randbytes(size)


async def put(
    database: Database,
    content: bytes,
    *,
    digest: str | None = None,
    registry: str = REGISTRY,
    repository: str = REPO,
    kind: str = "manifest",
    media_type: str = MANIFEST_TYPE,
    seen_at: datetime = SEEN,
) -> str:
    digest = digest or sha256(content)
    async with database.transaction() as session:
        await put_content(
            session,
            registry=registry,
            repository=repository,
            digest=digest,
            media_type=media_type,
            kind=kind,
            content=content,
            seen_at=seen_at,
        )
    return digest


async def get(
    database: Database, digest: str, *, registry: str = REGISTRY, repository: str = REPO
) -> StoredContent | None:
    async with database.session() as session:
        return await get_content(session, registry=registry, repository=repository, digest=digest)


async def count(database: Database, model: Any) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model)) or 0)


@contextmanager
def counting_selects(database: Database) -> Iterator[list[str]]:
    """Collect the SELECT statements sent to the database inside the block."""
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


async def test_round_trip_is_byte_exact(database: Database) -> None:
    manifest = b'{"schemaVersion":2,"mediaType":"' + MANIFEST_TYPE.encode() + b'"}\n'
    config = b"\x00\x01\xff\xfe" + "caf\u00e9".encode() + b"\r\n\x00"
    m = await put(database, manifest)
    c = await put(database, config, kind="config", media_type=CONFIG_TYPE)

    assert await get(database, m) == StoredContent(m, MANIFEST_TYPE, "manifest", manifest, SEEN)
    stored = await get(database, c)
    assert stored == StoredContent(c, CONFIG_TYPE, "config", config, SEEN)
    assert isinstance(stored.content, bytes)
    assert stored.stored_at.utcoffset() == timedelta(0)


async def test_five_mebibyte_blob_round_trips(database: Database) -> None:
    data = blob(5 * 1024 * 1024, seed=5)
    digest = await put(database, data, kind="config", media_type=CONFIG_TYPE)
    stored = await get(database, digest)
    assert stored is not None
    assert len(stored.content) == len(data)
    assert stored.content == data
    assert sha256(stored.content) == digest
    async with database.session() as session:
        size = await session.scalar(select(Content.size).where(Content.digest == digest))
    assert size == len(data)


async def test_the_largest_allowed_blob_is_accepted_and_one_more_byte_refused(
    database: Database,
) -> None:
    data = blob(MAX_CONTENT_SIZE, seed=8)
    digest = await put(database, data)
    stored = await get(database, digest)
    assert stored is not None
    assert stored.content == data

    with pytest.raises(ContentRejected, match="more than"):
        await put(database, data + b"x")
    assert await count(database, Content) == 1


async def test_content_is_only_served_for_repositories_it_was_seen_in(database: Database) -> None:
    data = b'{"schemaVersion":2}'
    digest = await put(database, data)

    assert await get(database, digest) is not None
    assert await get(database, digest, repository=OTHER_REPO) is None
    assert await get(database, digest, registry="ghcr.io") is None
    assert await get(database, sha256(b"never stored")) is None
    async with database.session() as session:
        other = await get_contents(
            session, registry=REGISTRY, repository=OTHER_REPO, digests=[digest]
        )
    assert other == {}

    # Seen in the other repository too: now served there as well, from the one stored copy.
    await put(database, data, repository=OTHER_REPO, seen_at=SEEN + timedelta(days=1))
    stored = await get(database, digest, repository=OTHER_REPO)
    assert stored is not None
    assert stored.content == data
    assert stored.stored_at == SEEN
    assert await count(database, Content) == 1
    assert await count(database, RepositoryContent) == 2


async def test_second_put_with_other_bytes_never_overwrites(database: Database) -> None:
    original = b'{"original":true}'
    digest = await put(database, original)
    later = SEEN + timedelta(hours=1)
    await put(
        database,
        b"tampered",
        digest=digest,
        kind="config",
        media_type=CONFIG_TYPE,
        seen_at=later,
    )
    await put(database, b"tampered", digest=digest, repository=OTHER_REPO, seen_at=later)

    for repository in (REPO, OTHER_REPO):
        assert await get(database, digest, repository=repository) == StoredContent(
            digest, MANIFEST_TYPE, "manifest", original, SEEN
        )
    async with database.session() as session:
        first_seen = await session.scalar(
            select(RepositoryContent.first_seen).where(RepositoryContent.repository == REPO)
        )
    assert first_seen == SEEN


async def test_concurrent_puts_of_the_same_content_yield_one_row(database: Database) -> None:
    """Twenty sessions (think: replicas) cache the same manifest at once: no error, one row."""
    data = blob(64 * 1024, seed=20)
    digest = sha256(data)

    async def one(i: int, repository: str) -> None:
        async with database.session() as session, session.begin():
            await put_content(
                session,
                registry=REGISTRY,
                repository=repository,
                digest=digest,
                media_type=MANIFEST_TYPE,
                kind="manifest",
                content=data,
                seen_at=SEEN + timedelta(seconds=i),
            )

    await asyncio.gather(*(one(i, REPO) for i in range(20)))
    assert await count(database, Content) == 1
    assert await count(database, RepositoryContent) == 1

    # The same, each replica in a repository of its own: still one copy of the bytes.
    await asyncio.gather(*(one(i, f"team/app-{i}") for i in range(20)))
    assert await count(database, Content) == 1
    assert await count(database, RepositoryContent) == 21
    stored = await get(database, digest, repository="team/app-7")
    assert stored is not None
    assert stored.content == data


async def test_get_contents_answers_many_digests_in_one_query(database: Database) -> None:
    blobs = [f'{{"n":{i}}}'.encode() for i in range(12)]
    digests = [await put(database, data) for data in blobs]
    elsewhere = await put(database, b'{"elsewhere":1}', repository=OTHER_REPO)
    missing = sha256(b"missing")

    wanted = [*digests, digests[0], elsewhere, missing]
    async with database.session() as session:
        with counting_selects(database) as selects:
            found = await get_contents(session, registry=REGISTRY, repository=REPO, digests=wanted)
    assert len(selects) == 1
    assert set(found) == set(digests)
    for digest, data in zip(digests, blobs, strict=True):
        assert found[digest] == StoredContent(digest, MANIFEST_TYPE, "manifest", data, SEEN)

    async with database.session() as session:
        with counting_selects(database) as selects:
            assert await get_contents(session, registry=REGISTRY, repository=REPO, digests=[]) == {}
    assert selects == []


async def test_many_digests_are_batched(database: Database) -> None:
    digest = await put(database, b"one")
    fake = [f"sha256:{i:064x}" for i in range(2500)]
    async with database.session() as session:
        found = await get_contents(
            session, registry=REGISTRY, repository=REPO, digests=[*fake, digest]
        )
    assert list(found) == [digest]


async def test_put_content_needs_the_callers_transaction(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(RuntimeError, match="transaction"):
            await put_content(
                session,
                registry=REGISTRY,
                repository=REPO,
                digest=sha256(b"x"),
                media_type=MANIFEST_TYPE,
                kind="manifest",
                content=b"x",
                seen_at=SEEN,
            )

    async with database.session() as session, session.begin():
        for data in (b"a", b"b"):
            await put_content(
                session,
                registry=REGISTRY,
                repository=REPO,
                digest=sha256(data),
                media_type=MANIFEST_TYPE,
                kind="manifest",
                content=data,
                seen_at=SEEN,
            )
        await session.rollback()
    assert await count(database, Content) == 0


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"digest": "sha256:abc"}, "digest"),
        ({"digest": "md5:" + "0" * 32}, "digest"),
        ({"digest": "sha256:" + "A" * 64}, "digest"),
        ({"kind": "layer"}, "kind"),
        ({"media_type": "x" * 256}, "media type"),
    ],
)
async def test_invalid_content_is_refused(
    database: Database, changes: dict[str, str], message: str
) -> None:
    args: dict[str, Any] = {
        "registry": REGISTRY,
        "repository": REPO,
        "digest": sha256(b"x"),
        "media_type": MANIFEST_TYPE,
        "kind": "manifest",
        "content": b"x",
        "seen_at": SEEN,
    }
    args.update(changes)
    with pytest.raises(ContentRejected, match=message) as info:
        async with database.transaction() as session:
            await put_content(session, **args)
    assert isinstance(info.value, StoreError)
    assert isinstance(info.value, ValueError)
    assert await count(database, Content) == 0


async def test_naive_seen_at_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await put(database, b"x", seen_at=datetime(2024, 1, 1))


async def test_stored_at_keeps_the_instant_across_time_zones(database: Database) -> None:
    seen = datetime(2024, 7, 1, 14, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))
    digest = await put(database, b"tz", seen_at=seen)
    stored = await get(database, digest)
    assert stored is not None
    assert stored.stored_at == seen
    assert stored.stored_at.tzinfo == UTC


async def test_migration_0002_goes_up_down_and_up_again(database: Database) -> None:
    assert await database.current_revision() == head_revision()

    # Something in every table, including the 0001 one that must survive the downgrade.
    manifest = b'{"layers":[]}'
    digest = await put(database, manifest)
    async with database.transaction() as session:
        await record_tag_observation(
            session, TagObservation(REGISTRY, REPO, "1", digest, MANIFEST_TYPE, SEEN)
        )
        await record_image_layers(
            session, digest, [LayerRow(0, sha256(b"l"), sha256(b"d"), "layer", 1)]
        )
        await record_index_children(session, sha256(b"i"), [IndexChild(digest, 0, "linux/amd64")])

    async def tables() -> set[str]:
        async with database.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))

    async def tag_mapping_indexes() -> set[str]:
        async with database.engine.connect() as conn:
            found = await conn.run_sync(lambda c: inspect(c).get_indexes("tag_mappings"))
        return {str(index["name"]) for index in found}

    assert set(NEW_TABLES) <= await tables()
    assert "ix_tag_mappings_digest" in await tag_mapping_indexes()

    await database.downgrade("0001")
    assert await database.current_revision() == "0001"
    assert not set(NEW_TABLES) & await tables()
    assert "ix_tag_mappings_digest" not in await tag_mapping_indexes()
    async with database.session() as session:
        [kept] = await tag_history(session, REGISTRY, REPO, "1")
    assert kept.digest == digest

    await database.migrate()
    assert await database.current_revision() == head_revision()
    assert set(NEW_TABLES) <= await tables()
    assert "ix_tag_mappings_digest" in await tag_mapping_indexes()
    assert await get(database, digest) is None  # the cache starts empty again
    await put(database, manifest)
    assert await get(database, digest) is not None
    async with database.session() as session:
        assert await images_with_layer(session, sha256(b"l")) == []  # layers were dropped too
