"""Recording tag -> digest observations and reading a tag's history back, on both backends."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone

import pytest
from imagepin_server.store import (
    Database,
    TagMapping,
    TagMappingRecord,
    TagObservation,
    TagRow,
    latest_mapping,
    record_tag_observation,
    record_tag_observations,
    tag_history,
)
from sqlalchemy import Connection, func, insert, inspect, select, text

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


def stretches(records: list[TagMappingRecord]) -> list[tuple[str, datetime, datetime]]:
    return [(r.digest, r.first_seen, r.last_seen) for r in records]


HOUR = timedelta(hours=1)
# The tables at revision 0002 (0002's own test is in test_contents.py).
AT_0002 = {
    "alembic_version",
    "tag_mappings",
    "contents",
    "repository_contents",
    "image_layers",
    "index_children",
}


async def test_tag_moving_a_b_a_reads_back_as_three_stretches(database: Database) -> None:
    t = [DAY1 + i * HOUR for i in range(6)]
    await record(
        database,
        observe(DIGEST_A, t[0]),
        observe(DIGEST_A, t[1]),
        observe(DIGEST_B, t[2]),
        observe(DIGEST_A, t[3]),
        observe(DIGEST_A, t[4]),
    )

    assert stretches(await history(database)) == [
        (DIGEST_A, t[3], t[4]),
        (DIGEST_B, t[2], t[2]),
        (DIGEST_A, t[0], t[1]),
    ]
    assert await row_count(database) == 3
    async with database.session() as session:
        latest = await latest_mapping(session, REGISTRY, REPO, TAG)
    assert latest is not None
    assert (latest.digest, latest.first_seen, latest.last_seen) == (DIGEST_A, t[3], t[4])


async def test_repeat_of_the_current_digest_only_extends_the_current_stretch(
    database: Database,
) -> None:
    t = [DAY1 + i * HOUR for i in range(5)]
    await record(database, observe(DIGEST_A, t[0]), observe(DIGEST_B, t[1]))
    await record(database, observe(DIGEST_B, t[2]), observe(DIGEST_B, t[3]))
    await record(database, observe(DIGEST_B, t[3]))  # a replay of the newest

    assert stretches(await history(database)) == [
        (DIGEST_B, t[1], t[3]),
        (DIGEST_A, t[0], t[0]),
    ]


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
    assert stretches(on_day1) == [(DIGEST_A, DAY1, DAY1 + timedelta(hours=6))]
    on_day2 = await history(database, as_of=day2 + timedelta(hours=12))
    assert [r.digest for r in on_day2] == [DIGEST_B, DIGEST_A]
    # first_seen <= as_of is inclusive, and last_seen is capped at as_of.
    assert stretches(await history(database, as_of=DAY1)) == [(DIGEST_A, DAY1, DAY1)]
    assert await history(database, as_of=DAY1 - timedelta(seconds=1)) == []


async def test_as_of_reads_the_record_of_moves_as_it_stood_then(database: Database) -> None:
    """A -> B -> A, asked at instants before, inside and between the stretches."""
    t = [DAY1 + i * HOUR for i in range(10)]
    await record(
        database,
        observe(DIGEST_A, t[0]),
        observe(DIGEST_A, t[2]),
        observe(DIGEST_B, t[3]),
        observe(DIGEST_B, t[5]),
        observe(DIGEST_A, t[7]),
        observe(DIGEST_A, t[8]),
    )
    half = timedelta(minutes=30)
    first_a, b, second_a = (DIGEST_A, t[0], t[2]), (DIGEST_B, t[3], t[5]), (DIGEST_A, t[7], t[8])

    async def at(instant: datetime) -> list[tuple[str, datetime, datetime]]:
        return stretches(await history(database, as_of=instant))

    assert await at(t[0] - half) == []
    assert await at(t[0]) == [(DIGEST_A, t[0], t[0])]
    assert await at(t[1]) == [(DIGEST_A, t[0], t[1])]  # inside the first stretch: capped
    assert await at(t[2] + half) == [first_a]  # after it, before the move was seen
    assert await at(t[4]) == [(DIGEST_B, t[3], t[4]), first_a]
    assert await at(t[6]) == [b, first_a]  # B current then as far as imagepin saw
    assert await at(t[7] + half) == [(DIGEST_A, t[7], t[7] + half), b, first_a]
    assert await at(t[9]) == [second_a, b, first_a]
    assert await at(t[9]) == stretches(await history(database))
    async with database.session() as session:
        current_then = await tag_history(session, REGISTRY, REPO, TAG, as_of=t[4], limit=1)
    assert stretches(current_then) == [(DIGEST_B, t[3], t[4])]


async def test_late_observation_inside_a_stretch_is_folded(database: Database) -> None:
    """A report of A, made during B's stretch but written after it, is no move."""
    t = [DAY1 + i * HOUR for i in range(6)]
    await record(database, observe(DIGEST_A, t[0]), observe(DIGEST_B, t[2]))
    await record(database, observe(DIGEST_B, t[4]))
    before = await history(database)

    await record(database, observe(DIGEST_A, t[3]))  # inside B's stretch, matches the earlier A
    await record(database, observe(DIGEST_B, t[3]))  # inside B's own stretch
    await record(database, observe(DIGEST_A, t[0]))  # the very first sighting, replayed

    assert await history(database) == before
    assert stretches(before) == [(DIGEST_B, t[2], t[4]), (DIGEST_A, t[0], t[0])]


async def test_late_observation_in_a_gap_widens_the_neighbour_with_its_digest(
    database: Database,
) -> None:
    t = [DAY1 + i * HOUR for i in range(10)]
    await record(
        database, observe(DIGEST_A, t[0]), observe(DIGEST_B, t[4]), observe(DIGEST_B, t[5])
    )
    digest_c = "sha256:" + "c" * 64

    await record(database, observe(DIGEST_A, t[1]))  # after A's stretch: widens it forwards
    await record(database, observe(DIGEST_B, t[3]))  # before B's stretch: widens it backwards
    await record(database, observe(digest_c, t[2]))  # neither neighbour's digest: dropped
    await record(database, observe(DIGEST_B, DAY1 - HOUR))  # before the first, another digest

    assert stretches(await history(database)) == [
        (DIGEST_B, t[3], t[5]),
        (DIGEST_A, t[0], t[1]),
    ]


async def test_late_observations_after_a_move_back_do_not_start_stretches(
    database: Database,
) -> None:
    t = [DAY1 + i * HOUR for i in range(10)]
    await record(
        database, observe(DIGEST_A, t[0]), observe(DIGEST_B, t[2]), observe(DIGEST_A, t[6])
    )
    await record(database, observe(DIGEST_B, t[3]))  # late B: widens B forwards
    await record(database, observe(DIGEST_A, t[5]))  # late A: widens the second A backwards
    await record(database, observe(DIGEST_B, t[4]))  # late B between them: B again
    await record(database, observe(DIGEST_A, t[1]))  # late A before B: the first A

    assert stretches(await history(database)) == [
        (DIGEST_A, t[5], t[6]),
        (DIGEST_B, t[2], t[4]),
        (DIGEST_A, t[0], t[1]),
    ]


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


@pytest.fixture
async def replica(database: Database) -> AsyncIterator[Database]:
    """A second handle (engine, pool) on the same database, as another replica has."""
    other = Database(database.engine.url.render_as_string(hide_password=False))
    try:
        yield other
    finally:
        await other.close()


async def test_replicas_racing_the_same_moves_record_each_move_once(
    database: Database, replica: Database
) -> None:
    """Two replicas see A -> B -> A on several tags a second apart and write all at once."""
    tags = [f"race-{i}" for i in range(32)]
    moves = [(DIGEST_A, DAY1), (DIGEST_B, DAY1 + HOUR), (DIGEST_A, DAY1 + 2 * HOUR)]

    async def one_replica(db: Database, tag: str, lag: timedelta) -> None:
        for digest, seen in moves:  # each replica writes what it saw in its own order
            async with db.transaction() as session:
                await record_tag_observation(session, observe(digest, seen + lag, tag=tag))

    second = timedelta(seconds=1)
    await asyncio.gather(
        *(
            one_replica(db, tag, lag)
            for tag in tags
            for db, lag in ((database, 0 * second), (replica, second))
        )
    )

    async with database.session() as session:
        for tag in tags:
            found = await tag_history(session, REGISTRY, REPO, tag)
            assert stretches(found) == [(d, seen, seen + second) for d, seen in reversed(moves)]


async def test_a_second_writer_of_a_tag_waits_for_the_first_to_commit(
    postgresql_database: Database,
) -> None:
    """While one replica decides about a tag, another's write of it waits, then extends."""
    database = postgresql_database
    other = Database(database.engine.url.render_as_string(hide_password=False))

    async def lock_waits() -> int:
        async with database.session() as session:
            found = await session.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )
        return int(found or 0)

    try:
        async with database.transaction() as first:
            await record_tag_observation(first, observe(DIGEST_A, DAY1))
            second = asyncio.create_task(record(other, observe(DIGEST_A, DAY1 + HOUR)))
            deadline = asyncio.get_running_loop().time() + 10
            while not second.done() and await lock_waits() == 0:
                assert asyncio.get_running_loop().time() < deadline, "never waited, never ended"
            assert not second.done(), "the second writer did not wait for the tag's lock"
        await second
    finally:
        await other.close()
    assert stretches(await history(database)) == [(DIGEST_A, DAY1, DAY1 + HOUR)]


async def test_concurrent_batches_lock_their_tags_in_one_order(
    database: Database, replica: Database
) -> None:
    """Group commits naming the same tags in opposite orders neither deadlock nor duplicate."""
    tags = [f"batch-{i:02}" for i in range(20)]

    async def batch(db: Database, order: list[str], seen: datetime) -> None:
        async with db.transaction() as session:
            await record_tag_observations(session, [observe(DIGEST_A, seen, tag=t) for t in order])

    for round_ in range(3):
        seen = DAY1 + round_ * HOUR
        await asyncio.gather(
            batch(database, tags, seen), batch(replica, tags[::-1], seen + timedelta(seconds=1))
        )

    assert await row_count(database) == len(tags)
    async with database.session() as session:
        for tag in tags:
            [one] = await tag_history(session, REGISTRY, REPO, tag)
            assert (one.first_seen, one.last_seen) == (DAY1, DAY1 + 2 * HOUR + timedelta(seconds=1))


async def test_a_batch_applies_one_tag_s_observations_in_time_order(database: Database) -> None:
    """The recorder's group may hold A -> B -> A of one tag in any order: it is sorted first."""
    t = [DAY1 + i * HOUR for i in range(3)]
    async with database.transaction() as session:
        await record_tag_observations(
            session, [observe(DIGEST_A, t[2]), observe(DIGEST_B, t[1]), observe(DIGEST_A, t[0])]
        )
    assert stretches(await history(database)) == [
        (DIGEST_A, t[2], t[2]),
        (DIGEST_B, t[1], t[1]),
        (DIGEST_A, t[0], t[0]),
    ]


@pytest.mark.parametrize("seed", range(4))
async def test_a_group_records_what_one_by_one_would(database: Database, seed: int) -> None:
    """The recorder's group commit (bulk statements for the common case) keeps every rule:
    random sightings of a few tags (moves, repeats, late reports, several of one tag in a
    group), recorded in groups of 17 under one repository and one at a time under another,
    read back as the same history."""
    rng = random.Random(seed)
    tags = ["g0", "g1", "g2", "g3"]
    sightings = [
        (
            rng.choice(tags),
            rng.choice([DIGEST_A, DIGEST_B, "sha256:" + "c" * 64]),
            rng.choice([INDEX, MANIFEST]),
            DAY1 + timedelta(minutes=rng.randrange(0, 120)),
        )
        for _ in range(120)
    ]

    def under(repository: str) -> list[TagObservation]:
        return [TagObservation(REGISTRY, repository, *sighting) for sighting in sightings]

    grouped = under("grouped")
    for first in range(0, len(grouped), 17):
        async with database.transaction() as session:
            await record_tag_observations(session, grouped[first : first + 17])
    single = under("single")
    for first in range(0, len(single), 17):  # a group is applied in time order (test above)
        for obs in sorted(single[first : first + 17], key=lambda o: (o.tag, o.seen_at)):
            async with database.transaction() as session:
                await record_tag_observation(session, obs)

    async with database.session() as session:
        for tag in tags:
            got = await tag_history(session, REGISTRY, "grouped", tag)
            want = await tag_history(session, REGISTRY, "single", tag)
            assert want  # every tag was seen
            assert [(r.digest, r.media_type, r.first_seen, r.last_seen) for r in got] == [
                (r.digest, r.media_type, r.first_seen, r.last_seen) for r in want
            ]


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


def pair_row(
    tag: str, digest: str, first: datetime, last: datetime, media_type: str
) -> dict[str, object]:
    return {
        "registry_name": REGISTRY,
        "repository": REPO,
        "tag": tag,
        "digest": digest,
        "media_type": media_type,
        "first_seen": first,
        "last_seen": last,
    }


async def schema(database: Database) -> tuple[set[str], set[str]]:
    """The tables, and the names of tag_mappings' unique constraints."""

    def read(conn: Connection) -> tuple[set[str], set[str]]:
        found = inspect(conn)
        unique = {str(c["name"]) for c in found.get_unique_constraints("tag_mappings")}
        return set(found.get_table_names()), unique

    async with database.engine.connect() as conn:
        return await conn.run_sync(read)


async def test_migration_0003_carries_each_digest_row_over_as_one_stretch(
    database: Database,
) -> None:
    """From 0002 (one row per digest) up to per-move stretches, new moves, and back down."""
    t = [DAY1 + i * HOUR for i in range(10)]
    unique = "uq_tag_mappings_registry_repository_tag_digest"
    await database.downgrade("0002")
    assert await database.current_revision() == "0002"
    assert await schema(database) == (AT_0002, {unique})
    async with database.transaction() as session:  # as 0002 kept A -> B -> A: two rows
        await session.execute(
            insert(TagMapping),
            [
                pair_row(TAG, DIGEST_A, t[0], t[5], MANIFEST),
                pair_row(TAG, DIGEST_B, t[1], t[2], INDEX),
                pair_row("8", DIGEST_B, t[0], t[0], INDEX),
            ],
        )

    await database.migrate()
    tables, constraints = await schema(database)
    assert "tags" in tables
    assert constraints == set()
    async with database.session() as session:
        locked = (await session.execute(select(TagRow.tag).order_by(TagRow.tag))).scalars().all()
    assert locked == ["7", "8"]
    carried = [(DIGEST_A, t[0], t[5]), (DIGEST_B, t[1], t[2])]
    assert stretches(await history(database)) == carried
    # Windows that overlap (0002's A spans B's): as of inside B's, B was current most recently.
    assert [r.digest for r in await history(database, as_of=t[1] + HOUR / 2)] == [
        DIGEST_B,
        DIGEST_A,
    ]

    # New writes lock the carried-over tags row and record moves from the carried stretches.
    await record(database, observe(DIGEST_A, t[6]))  # extends the current (A) stretch
    await record(database, observe(DIGEST_B, t[7]), observe(DIGEST_A, t[8], media_type=INDEX))
    assert stretches(await history(database)) == [
        (DIGEST_A, t[8], t[8]),
        (DIGEST_B, t[7], t[7]),
        (DIGEST_A, t[0], t[6]),
        (DIGEST_B, t[1], t[2]),
    ]

    await database.downgrade("0002")  # folds each (tag, digest) back into its widest window
    assert await schema(database) == (AT_0002, {unique})
    folded = await history(database)
    assert stretches(folded) == [(DIGEST_A, t[0], t[8]), (DIGEST_B, t[1], t[7])]
    assert folded[0].media_type == INDEX  # the newest stretch's media type
    async with database.session() as session:
        [eight] = await tag_history(session, REGISTRY, REPO, "8")
    assert (eight.digest, eight.first_seen, eight.last_seen) == (DIGEST_B, t[0], t[0])

    await database.migrate()
    assert stretches(await history(database)) == [(DIGEST_A, t[0], t[8]), (DIGEST_B, t[1], t[7])]
