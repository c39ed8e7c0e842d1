"""Followed tags: upserted by any number of followers, one lease holder at a time, swept when
nobody wants them; both backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from imagepin_server.store import (
    Database,
    FollowedTagKey,
    follow_tag,
    followed_tag,
    followed_tags,
    head_revision,
    release_lease,
    sweep_follows,
    take_lease,
)
from sqlalchemy import inspect

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
KEY = FollowedTagKey("registry.local:5000", "team/app", "1.0")
LEASE = timedelta(seconds=30)


async def follow(
    database: Database,
    interval_ms: int,
    until: datetime,
    key: FollowedTagKey = KEY,
    now: datetime = T0,
) -> None:
    async with database.transaction() as session:
        await follow_tag(session, key, interval_ms=interval_ms, wanted_until=until, now=now)


async def lease(database: Database, holder: str, now: datetime) -> bool:
    async with database.transaction() as session:
        return await take_lease(session, KEY, holder=holder, now=now, until=now + LEASE)


async def test_a_live_follow_keeps_the_shorter_interval_and_the_later_end(
    database: Database,
) -> None:
    await follow(database, 5000, T0 + timedelta(hours=1))
    await follow(database, 60000, T0 + timedelta(minutes=5))
    async with database.session() as session:
        record = await followed_tag(session, KEY)
    assert record is not None
    assert (record.interval_ms, record.wanted_until) == (5000, T0 + timedelta(hours=1))


async def test_an_expired_follow_takes_the_new_interval(database: Database) -> None:
    await follow(database, 1000, T0)
    later = T0 + timedelta(hours=2)
    await follow(database, 60000, later + timedelta(hours=1), now=later)
    async with database.session() as session:
        record = await followed_tag(session, KEY)
    assert record is not None
    assert record.interval_ms == 60000


async def test_concurrent_follows_of_one_tag_make_one_row(database: Database) -> None:
    await asyncio.gather(*(follow(database, 1000 + i, T0 + LEASE) for i in range(8)))
    async with database.session() as session:
        listed = await followed_tags(session, now=T0, limit=100)
    assert [(r.key, r.interval_ms) for r in listed] == [(KEY, 1000)]


async def test_one_holder_at_a_time_until_the_lease_expires_or_is_released(
    database: Database,
) -> None:
    await follow(database, 1000, T0 + timedelta(hours=1))
    assert await lease(database, "replica-a", T0)
    assert not await lease(database, "replica-b", T0 + timedelta(seconds=1))
    assert await lease(database, "replica-a", T0 + timedelta(seconds=2))  # renewal
    expired = T0 + timedelta(seconds=2) + LEASE + timedelta(seconds=1)
    assert await lease(database, "replica-b", expired)
    assert not await lease(database, "replica-a", expired)
    async with database.transaction() as session:
        await release_lease(session, KEY, holder="replica-b")
    assert await lease(database, "replica-a", expired)


async def test_concurrent_claims_have_exactly_one_winner(database: Database) -> None:
    await follow(database, 1000, T0 + timedelta(hours=1))
    won = await asyncio.gather(*(lease(database, f"replica-{i}", T0) for i in range(6)))
    assert sum(won) == 1


async def test_no_lease_on_a_tag_nobody_follows(database: Database) -> None:
    assert not await lease(database, "replica-a", T0)


async def test_listing_and_sweeping_leave_out_what_nobody_wants(database: Database) -> None:
    other = FollowedTagKey("registry.local:5000", "team/app", "2.0")
    await follow(database, 1000, T0 + timedelta(minutes=1))
    await follow(database, 1000, T0 + timedelta(hours=1), key=other)
    later = T0 + timedelta(minutes=30)
    async with database.session() as session:
        assert [r.key for r in await followed_tags(session, now=later, limit=10)] == [other]
    async with database.transaction() as session:
        assert await sweep_follows(session, now=later, limit=10) == 1
    async with database.session() as session:
        assert await followed_tag(session, KEY) is None
        assert await followed_tag(session, other) is not None


async def test_migration_0005_goes_down_and_up_again(database: Database) -> None:
    assert await database.current_revision() == head_revision() == "0005"
    await follow(database, 1000, T0)

    async def tables() -> set[str]:
        async with database.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))

    await database.downgrade("0004")
    assert "followed_tags" not in await tables()
    assert "rollout_decisions" in await tables()
    await database.migrate()
    async with database.session() as session:
        assert await followed_tags(session, now=T0, limit=10) == []
