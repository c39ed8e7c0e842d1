"""Rollout decisions: the first writer wins, later ones read it back, old ones expire; both
backends."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from imagepin_server.store import (
    Database,
    RolloutDecision,
    RolloutDecisionRecord,
    RolloutSubject,
    TagObservation,
    decide_rollout,
    head_revision,
    record_tag_observation,
    rollout_decision,
    sweep_decisions,
    tag_history,
)
from sqlalchemy import func, inspect, select

DIGEST_A = "sha256:" + "a" * 64
DIGEST_B = "sha256:" + "b" * 64
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
RETENTION = timedelta(days=7)
SUBJECT = RolloutSubject("uid-1", "registry.local:5000", "team/app", "1.0")


async def decide(
    database: Database,
    digest: str,
    at: datetime,
    subject: RolloutSubject = SUBJECT,
    media_type: str = INDEX,
) -> RolloutDecisionRecord:
    async with database.transaction() as session:
        return await decide_rollout(
            session,
            subject,
            digest=digest,
            media_type=media_type,
            decided_at=at,
            not_before=at - RETENTION,
        )


async def read(
    database: Database, at: datetime, subject: RolloutSubject = SUBJECT
) -> RolloutDecisionRecord | None:
    async with database.session() as session:
        return await rollout_decision(session, subject, not_before=at - RETENTION)


async def rows(database: Database) -> int:
    async with database.session() as session:
        return int(await session.scalar(select(func.count()).select_from(RolloutDecision)) or 0)


async def test_first_decision_wins_and_later_writers_read_it_back(database: Database) -> None:
    first = await decide(database, DIGEST_A, T0)
    second = await decide(database, DIGEST_B, T0 + timedelta(minutes=5), media_type=MANIFEST)

    expected = RolloutDecisionRecord(SUBJECT, DIGEST_A, INDEX, T0)
    assert first == expected
    assert second == expected
    assert await read(database, T0 + timedelta(hours=1)) == expected
    assert await rows(database) == 1


async def test_concurrent_writers_agree_on_one_winner(database: Database) -> None:
    digests = [f"sha256:{i:064x}" for i in range(8)]
    results = await asyncio.gather(*(decide(database, digest, T0) for digest in digests))

    winners = {result.digest for result in results}
    assert len(winners) == 1
    assert winners <= set(digests)
    assert await rows(database) == 1


async def test_each_key_platform_and_tag_is_its_own_decision(database: Database) -> None:
    others = [
        RolloutSubject("uid-2", SUBJECT.registry, SUBJECT.repository, SUBJECT.tag),
        RolloutSubject("uid-1", SUBJECT.registry, SUBJECT.repository, "2.0"),
        RolloutSubject("uid-1", SUBJECT.registry, SUBJECT.repository, SUBJECT.tag, "linux/arm64"),
    ]
    await decide(database, DIGEST_A, T0)
    for subject in others:
        assert (await decide(database, DIGEST_B, T0, subject)).digest == DIGEST_B
    assert (await read(database, T0)) == RolloutDecisionRecord(SUBJECT, DIGEST_A, INDEX, T0)
    assert await rows(database) == 4


async def test_expired_decision_is_ignored_and_replaced(database: Database) -> None:
    await decide(database, DIGEST_A, T0)
    later = T0 + RETENTION + timedelta(seconds=1)

    assert await read(database, T0 + RETENTION) is not None  # still inside the retention
    assert await read(database, later) is None
    replaced = await decide(database, DIGEST_B, later, media_type=MANIFEST)
    assert replaced == RolloutDecisionRecord(SUBJECT, DIGEST_B, MANIFEST, later)
    assert await read(database, later) == replaced
    assert await rows(database) == 1


async def test_sweep_deletes_only_expired_rows_a_bounded_batch_at_a_time(
    database: Database,
) -> None:
    for i in range(5):
        subject = RolloutSubject(f"old-{i}", SUBJECT.registry, SUBJECT.repository, SUBJECT.tag)
        await decide(database, DIGEST_A, T0, subject)
    await decide(database, DIGEST_B, T0 + RETENTION)
    cutoff = T0 + timedelta(days=1)

    async with database.transaction() as session:
        assert await sweep_decisions(session, older_than=cutoff, limit=3) == 3
    assert await rows(database) == 3
    async with database.transaction() as session:
        assert await sweep_decisions(session, older_than=cutoff, limit=3) == 2
    async with database.transaction() as session:
        assert await sweep_decisions(session, older_than=cutoff, limit=3) == 0
    assert await read(database, T0 + RETENTION) == RolloutDecisionRecord(
        SUBJECT, DIGEST_B, INDEX, T0 + RETENTION
    )


async def test_writes_need_a_transaction(database: Database) -> None:
    async with database.session() as session:
        with pytest.raises(RuntimeError, match="transaction"):
            await decide_rollout(
                session,
                SUBJECT,
                digest=DIGEST_A,
                media_type=INDEX,
                decided_at=T0,
                not_before=T0 - RETENTION,
            )


async def test_migration_0004_goes_down_and_up_again_keeping_the_other_tables(
    database: Database,
) -> None:
    assert await database.current_revision() == head_revision()
    await decide(database, DIGEST_A, T0)
    async with database.transaction() as session:
        await record_tag_observation(session, TagObservation("r", "p", "t", DIGEST_A, INDEX, T0))

    async def tables() -> set[str]:
        async with database.engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))

    await database.downgrade("0003")
    assert "rollout_decisions" not in await tables()
    async with database.session() as session:
        assert [r.digest for r in await tag_history(session, "r", "p", "t")] == [DIGEST_A]

    await database.migrate()
    assert "rollout_decisions" in await tables()
    assert await read(database, T0) is None  # decisions start again
    assert (await decide(database, DIGEST_B, T0)).digest == DIGEST_B
