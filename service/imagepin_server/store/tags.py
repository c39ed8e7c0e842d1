"""Recording and reading tag -> digest observations.

Transactions belong to the caller: these functions run their statements on the session
they are given and never commit or roll back, so a request can record several
observations atomically.  Write with::

    async with database.session() as session, session.begin():
        await record_tag_observation(session, obs)

(or ``async with database.transaction() as session``).  Reads work in any session.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, case, select
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import dialect_insert, require_aware, require_limit, require_transaction
from .models import TagMapping

__all__ = [
    "TagMappingRecord",
    "TagObservation",
    "latest_mapping",
    "record_tag_observation",
    "tag_history",
]


# Distinct digests one tag may have had, read to answer an as_of question (a bound, not a page).
AS_OF_CANDIDATES = 10_000


@dataclass(frozen=True)
class TagObservation:
    """``registry/repository:tag`` was seen pointing at ``digest`` at ``seen_at``."""

    registry: str
    repository: str
    tag: str
    digest: str
    media_type: str
    seen_at: datetime

    def __post_init__(self) -> None:
        require_aware("seen_at", self.seen_at)


@dataclass(frozen=True)
class TagMappingRecord:
    """One stored tag -> digest pairing; datetimes are aware UTC."""

    registry: str
    repository: str
    tag: str
    digest: str
    media_type: str
    first_seen: datetime
    last_seen: datetime

    @classmethod
    def from_row(cls, row: TagMapping) -> TagMappingRecord:
        """Detach the values from the ORM object, so callers never lazy-load."""
        return cls(
            registry=row.registry_name,
            repository=row.repository,
            tag=row.tag,
            digest=row.digest,
            media_type=row.media_type,
            first_seen=row.first_seen,
            last_seen=row.last_seen,
        )


async def record_tag_observation(session: AsyncSession, obs: TagObservation) -> None:
    """Record one sighting with a single upsert; the caller commits.

    A new pairing is inserted with ``first_seen = last_seen = seen_at``.  A known one only
    widens its window: ``last_seen`` never moves backwards and ``first_seen`` never moves
    forwards, so late or duplicated reports (retries, several replicas) are harmless, and
    concurrent writers never hit a unique-constraint error.  ``media_type`` follows the
    newest sighting.

    Must run inside a transaction the caller began (``session.begin()``); otherwise the
    write would silently be rolled back when the session closes, so that is refused.
    """
    require_transaction(session, "record_tag_observation")
    stmt = dialect_insert(session)(TagMapping).values(
        registry_name=obs.registry,
        repository=obs.repository,
        tag=obs.tag,
        digest=obs.digest,
        media_type=obs.media_type,
        first_seen=obs.seen_at,
        last_seen=obs.seen_at,
    )
    new = stmt.excluded
    is_newer = new.last_seen >= TagMapping.last_seen
    stmt = stmt.on_conflict_do_update(
        index_elements=[
            TagMapping.registry_name,
            TagMapping.repository,
            TagMapping.tag,
            TagMapping.digest,
        ],
        set_={
            # CASE rather than GREATEST/MAX: one spelling valid on both backends.
            TagMapping.last_seen: case((is_newer, new.last_seen), else_=TagMapping.last_seen),
            TagMapping.first_seen: case(
                (new.first_seen < TagMapping.first_seen, new.first_seen),
                else_=TagMapping.first_seen,
            ),
            TagMapping.media_type: case((is_newer, new.media_type), else_=TagMapping.media_type),
        },
    )
    await session.execute(stmt)


def _for_tag(registry: str, repository: str, tag: str) -> Select[TagMapping]:
    return (
        select(TagMapping)
        .where(
            TagMapping.registry_name == registry,
            TagMapping.repository == repository,
            TagMapping.tag == tag,
        )
        # Newest first; ties broken deterministically.
        .order_by(
            TagMapping.last_seen.desc(),
            TagMapping.first_seen.desc(),
            TagMapping.id.desc(),
        )
    )


async def tag_history(
    session: AsyncSession,
    registry: str,
    repository: str,
    tag: str,
    *,
    as_of: datetime | None = None,
    limit: int | None = None,
) -> list[TagMappingRecord]:
    """Every digest the tag has pointed at, newest ``last_seen`` first.

    There is one row per digest, so a tag that moved A -> B -> A shows A once, with the widest
    window it was seen in. With ``as_of``, only pairings already seen by then
    (``first_seen <= as_of``) are kept, ordered by the latest time each is *known* to have
    been seen at or before ``as_of``: its ``last_seen`` when that is earlier, otherwise its
    ``first_seen``. So the first entry is the best answer to "what did the tag point at then":
    for A (seen t0..t2) and B (seen t1..t3) asked at t with t1 <= t < t3, B comes first.
    With ``limit``, only the first ``limit`` rows are returned.
    """
    require_limit(limit)
    stmt = _for_tag(registry, repository, tag)
    if as_of is None:
        if limit is not None:
            stmt = stmt.limit(limit)
        return [TagMappingRecord.from_row(row) for row in (await session.scalars(stmt)).all()]
    require_aware("as_of", as_of)
    stmt = stmt.where(TagMapping.first_seen <= as_of).limit(AS_OF_CANDIDATES)
    records = [TagMappingRecord.from_row(row) for row in (await session.scalars(stmt)).all()]
    records.sort(key=lambda record: _known_at(record, as_of), reverse=True)
    return records[:limit] if limit is not None else records


def _known_at(record: TagMappingRecord, as_of: datetime) -> datetime:
    """The latest moment at or before ``as_of`` the tag is known to have pointed at the digest."""
    return record.last_seen if record.last_seen <= as_of else record.first_seen


async def latest_mapping(
    session: AsyncSession, registry: str, repository: str, tag: str
) -> TagMappingRecord | None:
    """The digest the tag was most recently seen pointing at, or ``None`` if never seen."""
    row = (await session.scalars(_for_tag(registry, repository, tag).limit(1))).first()
    return None if row is None else TagMappingRecord.from_row(row)
