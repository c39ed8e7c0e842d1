"""Rollout decisions: the digest the first request with a rollout key got, for every later one.

A decision is written insert-if-absent, so when several replicas (or one restarted) race to
decide the same rollout, exactly one row wins and every writer reads that winner back. Rows
older than the caller's retention are treated as absent: a new decision replaces an expired
one in the same statement, and :func:`sweep_decisions` deletes old rows a bounded batch at a
time.

Transactions belong to the caller (see :mod:`.tags`): writes need a transaction the caller
began; reads work in any session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import delete_bounded, dialect_insert, require_aware, require_limit, require_transaction
from .models import RolloutDecision

__all__ = [
    "RolloutDecisionRecord",
    "RolloutSubject",
    "decide_rollout",
    "rollout_decision",
    "sweep_decisions",
]


@dataclass(frozen=True)
class RolloutSubject:
    """What one decision is about: a rollout key, a tag, and the platform asked for ("")."""

    rollout_key: str
    registry: str
    repository: str
    tag: str
    platform: str = ""


@dataclass(frozen=True)
class RolloutDecisionRecord:
    """The digest decided for a subject (the tag's own digest) and when; datetimes are UTC."""

    subject: RolloutSubject
    digest: str
    media_type: str
    decided_at: datetime

    @classmethod
    def from_row(cls, row: RolloutDecision) -> RolloutDecisionRecord:
        """Detach the values from the ORM object, so callers never lazy-load."""
        subject = RolloutSubject(
            row.rollout_key, row.registry_name, row.repository, row.tag, row.platform
        )
        return cls(subject, row.digest, row.media_type, row.decided_at)


def _for(subject: RolloutSubject) -> Select[RolloutDecision]:
    return select(RolloutDecision).where(
        RolloutDecision.rollout_key == subject.rollout_key,
        RolloutDecision.registry_name == subject.registry,
        RolloutDecision.repository == subject.repository,
        RolloutDecision.tag == subject.tag,
        RolloutDecision.platform == subject.platform,
    )


async def rollout_decision(
    session: AsyncSession, subject: RolloutSubject, *, not_before: datetime
) -> RolloutDecisionRecord | None:
    """The decision for ``subject`` made at or after ``not_before``, or ``None``."""
    require_aware("not_before", not_before)
    stmt = _for(subject).where(RolloutDecision.decided_at >= not_before)
    row = (await session.scalars(stmt)).first()
    return None if row is None else RolloutDecisionRecord.from_row(row)


async def decide_rollout(
    session: AsyncSession,
    subject: RolloutSubject,
    *,
    digest: str,
    media_type: str,
    decided_at: datetime,
    not_before: datetime,
) -> RolloutDecisionRecord:
    """Record ``digest`` for ``subject`` unless a decision made since ``not_before`` exists,
    and return the decision that stands (ours, or the one another writer made first).

    One upsert: a live decision is never overwritten; an expired one (older than
    ``not_before``) is replaced. Concurrent writers never see a unique-constraint error, and
    all of them read back the same row. The caller commits.
    """
    require_transaction(session, "decide_rollout")
    require_aware("decided_at", decided_at)
    require_aware("not_before", not_before)
    stmt = dialect_insert(session)(RolloutDecision).values(
        rollout_key=subject.rollout_key,
        registry_name=subject.registry,
        repository=subject.repository,
        tag=subject.tag,
        platform=subject.platform,
        digest=digest,
        media_type=media_type,
        decided_at=decided_at,
    )
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            RolloutDecision.rollout_key,
            RolloutDecision.registry_name,
            RolloutDecision.repository,
            RolloutDecision.tag,
            RolloutDecision.platform,
        ],
        set_={
            RolloutDecision.digest: new.digest,
            RolloutDecision.media_type: new.media_type,
            RolloutDecision.decided_at: new.decided_at,
        },
        where=RolloutDecision.decided_at < not_before,
    )
    await session.execute(stmt)
    # Whatever the upsert did, the row now holds the decision that stands.
    row = (await session.scalars(_for(subject))).one()
    return RolloutDecisionRecord.from_row(row)


async def sweep_decisions(session: AsyncSession, *, older_than: datetime, limit: int) -> int:
    """Delete at most ``limit`` decisions made before ``older_than``; how many went.

    Bounded so a sweep never holds locks on a large table for long; the caller commits.
    """
    require_transaction(session, "sweep_decisions")
    require_aware("older_than", older_than)
    require_limit(limit)
    return await delete_bounded(
        session, RolloutDecision, RolloutDecision.decided_at < older_than, limit
    )
