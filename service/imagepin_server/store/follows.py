"""Followed tags: which tags are watched, until when, and which replica polls each one.

A follow is written insert-if-absent (an upsert on the tag), so any number of replicas may
follow the same tag at once. Polling is shared by a lease on the tag's row: a replica takes it
with one conditional UPDATE (``WHERE lease_holder = me OR lease_holder IS NULL OR
lease_expires_at < now``), which both backends run atomically for the row (PostgreSQL
re-checks the condition on the locked row; SQLite writes one at a time), so at most one holder
wins; the others see zero rows updated and read what the holder records instead. A holder that
dies simply stops renewing, and the lease passes on when it expires.

Transactions belong to the caller (see :mod:`.tags`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, case, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import delete_bounded, dialect_insert, require_aware, require_limit, require_transaction
from .models import FollowedTag

__all__ = [
    "FollowedTagKey",
    "FollowedTagRecord",
    "follow_tag",
    "followed_tag",
    "followed_tags",
    "release_lease",
    "sweep_follows",
    "take_lease",
]


@dataclass(frozen=True)
class FollowedTagKey:
    """One tag: registry, repository and tag, as in the tag history."""

    registry: str
    repository: str
    tag: str


@dataclass(frozen=True)
class FollowedTagRecord:
    """A followed tag as stored; datetimes are UTC."""

    key: FollowedTagKey
    interval_ms: int
    wanted_until: datetime
    lease_holder: str | None
    lease_expires_at: datetime | None

    @classmethod
    def from_row(cls, row: FollowedTag) -> FollowedTagRecord:
        key = FollowedTagKey(row.registry_name, row.repository, row.tag)
        return cls(key, row.interval_ms, row.wanted_until, row.lease_holder, row.lease_expires_at)


def _is(key: FollowedTagKey) -> Any:
    return (
        (FollowedTag.registry_name == key.registry)
        & (FollowedTag.repository == key.repository)
        & (FollowedTag.tag == key.tag)
    )


async def follow_tag(
    session: AsyncSession,
    key: FollowedTagKey,
    *,
    interval_ms: int,
    wanted_until: datetime,
    now: datetime,
) -> None:
    """Follow ``key`` until ``wanted_until`` at least, polled every ``interval_ms`` or sooner.

    One upsert: a live follow keeps the shorter interval and the later ``wanted_until``; an
    expired one takes the new values. The caller commits.
    """
    require_transaction(session, "follow_tag")
    require_aware("wanted_until", wanted_until)
    require_aware("now", now)
    stmt = dialect_insert(session)(FollowedTag).values(
        registry_name=key.registry,
        repository=key.repository,
        tag=key.tag,
        interval_ms=interval_ms,
        wanted_until=wanted_until,
    )
    new = stmt.excluded
    live = FollowedTag.wanted_until >= now
    stmt = stmt.on_conflict_do_update(
        index_elements=[FollowedTag.registry_name, FollowedTag.repository, FollowedTag.tag],
        set_={
            FollowedTag.interval_ms: case(
                (live & (FollowedTag.interval_ms < new.interval_ms), FollowedTag.interval_ms),
                else_=new.interval_ms,
            ),
            FollowedTag.wanted_until: case(
                (FollowedTag.wanted_until > new.wanted_until, FollowedTag.wanted_until),
                else_=new.wanted_until,
            ),
        },
    )
    await session.execute(stmt)


async def take_lease(
    session: AsyncSession, key: FollowedTagKey, *, holder: str, now: datetime, until: datetime
) -> bool:
    """Take or renew the lease on a followed tag; True when ``holder`` holds it until ``until``.

    False when another holder's lease is still live, or the tag is not followed.
    """
    require_transaction(session, "take_lease")
    require_aware("now", now)
    require_aware("until", until)
    stmt = (
        update(FollowedTag)
        .where(
            _is(key),
            or_(
                FollowedTag.lease_holder == holder,
                FollowedTag.lease_holder.is_(None),
                FollowedTag.lease_expires_at < now,
            ),
        )
        .values(lease_holder=holder, lease_expires_at=until)
    )
    result = cast(CursorResult[Any], await session.execute(stmt))
    return int(result.rowcount) == 1


async def release_lease(session: AsyncSession, key: FollowedTagKey, *, holder: str) -> None:
    """Give the lease up (at shutdown) so another replica takes the tag without waiting."""
    require_transaction(session, "release_lease")
    stmt = (
        update(FollowedTag)
        .where(_is(key), FollowedTag.lease_holder == holder)
        .values(lease_holder=None, lease_expires_at=None)
    )
    await session.execute(stmt)


async def followed_tags(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[FollowedTagRecord]:
    """The tags still followed at ``now`` (oldest follow first), at most ``limit``."""
    require_aware("now", now)
    require_limit(limit)
    stmt = (
        select(FollowedTag)
        .where(FollowedTag.wanted_until >= now)
        .order_by(FollowedTag.id)
        .limit(limit)
    )
    return [FollowedTagRecord.from_row(row) for row in await session.scalars(stmt)]


async def followed_tag(session: AsyncSession, key: FollowedTagKey) -> FollowedTagRecord | None:
    """One followed tag's row, or ``None``."""
    row = (await session.scalars(select(FollowedTag).where(_is(key)))).first()
    return None if row is None else FollowedTagRecord.from_row(row)


async def sweep_follows(session: AsyncSession, *, now: datetime, limit: int) -> int:
    """Delete at most ``limit`` follows nobody wanted after ``now``; how many went."""
    require_transaction(session, "sweep_follows")
    require_aware("now", now)
    require_limit(limit)
    return await delete_bounded(session, FollowedTag, FollowedTag.wanted_until < now, limit)
