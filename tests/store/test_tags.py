"""Recording tag -> digest observations and reading a tag's history back, on both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from imagepin_server.store import (
    Database,
    TagMapping,
    TagMappingRecord,
    TagObservation,
    latest_mapping,
    record_tag_observation,
    tag_history,
)
from sqlalchemy import func, select

REGISTRY = "docker.io"
REPO = "library/redis"
TAG = "7"
DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DAY1 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


def observe(
    digest: str, seen_at: datetime, *, tag: str = TAG, media_type: str = INDEX
) -> TagObservation:
    return TagObservation(REGISTRY, REPO, tag, digest, media_type, seen_at)


async def record(database: Database, *observations: TagObservation) -> None:
    for obs in observations:
        async with database.transaction() as session:
            await record_tag_observation(session, obs)


async def history(database: Database, *, as_of: datetime | None = None) -> list[TagMappingRecord]:
    async with database.session() as session:
        return await tag_history(session, REGISTRY, REPO, TAG, as_of=as_of)


async def row_count(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(TagMapping)) or 0)


async def test_same_observation_twice_keeps_one_row_and_advances_last_seen(
    database: Database,
) -> None:
    later = DAY1 + timedelta(minutes=5)
    await record(database, observe(DIGEST_A, DAY1), observe(DIGEST_A, later))

    [row] = await history(database)
    assert row == TagMappingRecord(REGISTRY, REPO, TAG, DIGEST_A, INDEX, DAY1, later)
    assert await row_count(database) == 1


async def test_identical_replay_changes_nothing(database: Database) -> None:
    await record(database, observe(DIGEST_A, DAY1), observe(DIGEST_A, DAY1))
    [row] = await history(database)
    assert (row.first_seen, row.last_seen) == (DAY1, DAY1)


async def test_late_older_observation_never_moves_last_seen_backwards(database: Database) -> None:
    newest = DAY1 + timedelta(hours=2)
    older = DAY1 - timedelta(hours=3)
    await record(database, observe(DIGEST_A, DAY1), observe(DIGEST_A, newest))
    await record(database, observe(DIGEST_A, older, media_type=MANIFEST))

    [row] = await history(database)
    assert row.last_seen == newest
    # The late report does widen the window backwards, and does not rewrite the newer media type.
    assert row.first_seen == older
    assert row.media_type == INDEX


async def test_media_type_follows_the_newest_observation(database: Database) -> None:
    await record(
        database,
        observe(DIGEST_A, DAY1, media_type=MANIFEST),
        observe(DIGEST_A, DAY1 + timedelta(seconds=1), media_type=INDEX),
    )
    [row] = await history(database)
    assert row.media_type == INDEX


async def test_tag_moving_a_b_a_reads_back_as_two_rows(database: Database) -> None:
    t1, t2, t3 = DAY1, DAY1 + timedelta(days=1), DAY1 + timedelta(days=2)
    await record(database, observe(DIGEST_A, t1), observe(DIGEST_B, t2), observe(DIGEST_A, t3))

    rows = await history(database)
    assert [(r.digest, r.first_seen, r.last_seen) for r in rows] == [
        (DIGEST_A, t1, t3),
        (DIGEST_B, t2, t2),
    ]
    async with database.session() as session:
        latest = await latest_mapping(session, REGISTRY, REPO, TAG)
    assert latest is not None
    assert latest.digest == DIGEST_A
    assert latest.last_seen == t3


async def test_as_of_answers_what_the_tag_pointed_at_on_an_earlier_day(database: Database) -> None:
    day2 = DAY1 + timedelta(days=1)
    await record(
        database,
        observe(DIGEST_A, DAY1),
        observe(DIGEST_A, DAY1 + timedelta(hours=6)),
        observe(DIGEST_B, day2),
        observe(DIGEST_B, day2 + timedelta(hours=6)),
    )

    on_day1 = await history(database, as_of=DAY1 + timedelta(hours=12))
    assert [r.digest for r in on_day1] == [DIGEST_A]
    on_day2 = await history(database, as_of=day2 + timedelta(hours=12))
    assert [r.digest for r in on_day2] == [DIGEST_B, DIGEST_A]
    assert await history(database, as_of=DAY1) == on_day1  # first_seen <= as_of is inclusive
    assert await history(database, as_of=DAY1 - timedelta(seconds=1)) == []


async def test_as_of_after_a_rollback_puts_what_was_current_then_first(database: Database) -> None:
    """A -> B -> A: asked while B was current, B comes first although A was seen later."""
    t = [DAY1 + timedelta(hours=h) for h in range(6)]
    await record(
        database,
        observe(DIGEST_A, t[0]),
        observe(DIGEST_B, t[1]),
        observe(DIGEST_B, t[2]),
        observe(DIGEST_A, t[4]),  # rolled back
    )
    while_b = await history(database, as_of=t[1] + timedelta(minutes=30))
    assert [r.digest for r in while_b] == [DIGEST_B, DIGEST_A]
    after_b = await history(database, as_of=t[3])  # B last seen at t2, A not seen again yet
    assert [r.digest for r in after_b] == [DIGEST_B, DIGEST_A]
    after_rollback = await history(database, as_of=t[5])
    assert [r.digest for r in after_rollback] == [DIGEST_A, DIGEST_B]


async def test_as_of_in_another_time_zone_means_the_same_instant(database: Database) -> None:
    await record(database, observe(DIGEST_A, DAY1))
    tokyo = timezone(timedelta(hours=9))
    just_before = (DAY1 - timedelta(microseconds=1)).astimezone(tokyo)
    assert await history(database, as_of=just_before) == []
    assert len(await history(database, as_of=DAY1.astimezone(tokyo))) == 1


async def test_concurrent_recording_of_one_mapping_yields_one_row(database: Database) -> None:
    """Fifty sessions (think: replicas) upsert the same mapping at once: no error, one row."""
    base = DAY1

    async def one(i: int) -> None:
        async with database.session() as session, session.begin():
            await record_tag_observation(session, observe(DIGEST_A, base + timedelta(seconds=i)))

    await asyncio.gather(*(one(i) for i in range(50)))

    assert await row_count(database) == 1
    [row] = await history(database)
    assert row.first_seen == base
    assert row.last_seen == base + timedelta(seconds=49)


async def test_datetimes_come_back_timezone_aware_utc(database: Database) -> None:
    plus_two = timezone(timedelta(hours=2))
    seen = datetime(2024, 7, 1, 14, 30, 15, 123456, tzinfo=plus_two)
    await record(database, observe(DIGEST_A, seen))

    [row] = await history(database)
    for value in (row.first_seen, row.last_seen):
        assert value.tzinfo is not None
        assert value.utcoffset() == timedelta(0)
        assert value == seen
        assert value == datetime(2024, 7, 1, 12, 30, 15, 123456, tzinfo=UTC)

    async with database.session() as session:
        orm_row = await session.scalar(select(TagMapping))
    assert orm_row is not None
    assert orm_row.last_seen.tzinfo == UTC


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        observe(DIGEST_A, datetime(2024, 1, 1))


async def test_naive_as_of_is_refused(database: Database) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        await history(database, as_of=datetime(2024, 1, 1))


async def test_history_is_scoped_to_registry_repository_and_tag(database: Database) -> None:
    await record(
        database,
        observe(DIGEST_A, DAY1),
        observe(DIGEST_B, DAY1, tag="8"),
        TagObservation("ghcr.io", REPO, TAG, DIGEST_B, INDEX, DAY1),
        TagObservation(REGISTRY, "library/valkey", TAG, DIGEST_B, INDEX, DAY1),
    )
    assert [r.digest for r in await history(database)] == [DIGEST_A]
    async with database.session() as session:
        assert await latest_mapping(session, REGISTRY, REPO, "never-seen") is None


async def test_caller_owns_the_transaction(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(RuntimeError, match="transaction"):
            await record_tag_observation(session, observe(DIGEST_A, DAY1))

    async with database.session() as session, session.begin():
        await record_tag_observation(session, observe(DIGEST_A, DAY1))
        await record_tag_observation(session, observe(DIGEST_B, DAY1))
        await session.rollback()
    assert await row_count(database) == 0

    async with database.session() as session, session.begin():
        await record_tag_observation(session, observe(DIGEST_A, DAY1))
        await record_tag_observation(session, observe(DIGEST_B, DAY1))
    assert await row_count(database) == 2


async def test_history_limit_keeps_the_newest_rows(database: Database) -> None:
    digests = [f"sha256:{i:064x}" for i in range(5)]
    await record(database, *(observe(d, DAY1 + timedelta(hours=i)) for i, d in enumerate(digests)))
    async with database.session() as session:
        newest_two = await tag_history(session, REGISTRY, REPO, TAG, limit=2)
        everything = await tag_history(session, REGISTRY, REPO, TAG, limit=None)
        none = await tag_history(session, REGISTRY, REPO, TAG, limit=0)
        as_of = await tag_history(
            session, REGISTRY, REPO, TAG, as_of=DAY1 + timedelta(hours=2), limit=2
        )
        with pytest.raises(ValueError, match="limit"):
            await tag_history(session, REGISTRY, REPO, TAG, limit=-1)
    assert [r.digest for r in newest_two] == [digests[4], digests[3]]
    assert [r.digest for r in everything] == digests[::-1]
    assert none == []
    assert [r.digest for r in as_of] == [digests[2], digests[1]]
