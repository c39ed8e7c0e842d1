"""Recording and reading tag history: the stretches of time a tag pointed at each digest.

Transactions belong to the caller: these functions run their statements on the session
they are given and never commit or roll back, so a request can record several
observations atomically.  Write with::

    async with database.session() as session, session.begin():
        await record_tag_observation(session, obs)

(or ``async with database.transaction() as session``).  Reads work in any session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import ColumnElement, Select, case, func, insert, literal, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import dialect_insert, dialect_of, require_aware, require_limit, require_transaction
from .models import TagMapping, TagRow, UtcDateTime

__all__ = [
    "TagMappingRecord",
    "TagObservation",
    "latest_mapping",
    "record_tag_observation",
    "record_tag_observations",
    "tag_history",
]


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
    """One stretch of a tag at a digest (first to last sighting); datetimes are aware UTC."""

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
    """Fold one sighting into the tag's stretches; the caller commits.

    The rule (the record only grows at its head), with H the current stretch (newest
    ``last_seen``) and t the sighting's ``seen_at``:

    * t at or after H's ``last_seen``: the same digest extends H (``last_seen = t``, and
      ``media_type`` follows it); another digest is a move and starts a stretch ``[t, t]``.
    * t before that (a late report: a queued write, a slower replica): it never starts a
      stretch, since it cannot tell a move that happened from a racing replica's old news.
      Inside a stretch it is folded (already covered, or contradicted by what was seen
      around it); in the gap after stretch P or before the next one N, it widens whichever
      of the two has its digest into the gap (``P.last_seen = t`` or ``N.first_seen = t``);
      otherwise it is dropped.

    So replays, duplicates and reordered reports never make a spurious move, and two
    replicas seeing one move make one stretch (the later write widens the first one's).
    What it cannot know: a move seen only by a report that lands after a later sighting is
    lost, and a replica whose clock or HEAD lags can report an old digest after the move.

    Writers of one tag take turns on its ``tags`` row (inserted if absent, then locked
    ``FOR UPDATE`` on PostgreSQL; SQLite has one writer at a time, and the insert takes its
    write lock before anything is read). Several tags in one transaction: lock them in one
    order (:func:`record_tag_observations` does) so replicas cannot deadlock.

    Must run inside a transaction the caller began (``session.begin()``); otherwise the
    write would silently be rolled back when the session closes, so that is refused.
    """
    require_transaction(session, "record_tag_observation")
    await _lock_tag(session, obs.registry, obs.repository, obs.tag)
    key = _key(obs.registry, obs.repository, obs.tag)
    head = (await session.execute(_stretches(key).order_by(*_NEWEST_FIRST).limit(1))).first()
    if head is None or obs.seen_at >= head.last_seen:
        if head is not None and head.digest == obs.digest:
            await _update(session, head.id, last_seen=obs.seen_at, media_type=obs.media_type)
        else:
            await _start_stretch(session, obs)
        return
    # A late report: widen a neighbouring stretch of the same digest into its gap, at most.
    before = (
        await session.execute(
            _stretches(key)
            .where(TagMapping.first_seen <= obs.seen_at)
            .order_by(TagMapping.first_seen.desc(), TagMapping.id.desc())
            .limit(1)
        )
    ).first()
    if before is not None and obs.seen_at <= before.last_seen:
        return  # inside a stretch: already covered, or contradicted by what was seen around it
    if before is not None and before.digest == obs.digest:
        await _update(session, before.id, last_seen=obs.seen_at, media_type=obs.media_type)
        return
    after = (
        await session.execute(
            _stretches(key)
            .where(TagMapping.first_seen > obs.seen_at)
            .order_by(TagMapping.first_seen, TagMapping.id)
            .limit(1)
        )
    ).first()
    if after is not None and after.digest == obs.digest:
        await _update(session, after.id, first_seen=obs.seen_at)


async def record_tag_observations(
    session: AsyncSession, observations: Iterable[TagObservation]
) -> None:
    """Record several sightings in the caller's transaction, tags locked in one order.

    Sorted by tag, then time: concurrent batches (replicas) lock their tags in the same
    order, so they wait for each other instead of deadlocking, and each tag's sightings
    arrive in time order, which keeps late-report folding for reports that really are late.
    """
    require_transaction(session, "record_tag_observations")
    ordered = sorted(observations, key=_lock_order)
    for start in range(0, len(ordered), _BULK_CHUNK):
        await _record_chunk(session, ordered[start : start + _BULK_CHUNK])


# Tags per bulk statement: three bound values each, far below SQLite's and PostgreSQL's limits.
_BULK_CHUNK = 500


async def _record_chunk(session: AsyncSession, ordered: list[TagObservation]) -> None:
    """The rule of record_tag_observation, in a few statements for the whole chunk.

    The common case (each tag's first sighting in the chunk, at or after its current stretch)
    is decided from one read of every tag's head and written in two bulk statements; a second
    sighting of a tag in the chunk, or a late report, goes through record_tag_observation,
    which reads what the bulk write left. The tags are locked first, in the chunk's order.
    """
    keys = list(dict.fromkeys((obs.registry, obs.repository, obs.tag) for obs in ordered))
    await _lock_tags(session, keys)
    heads = await _heads(session, keys)
    extended: list[dict[str, object]] = []
    started: list[dict[str, object]] = []
    one_by_one: list[TagObservation] = []
    decided: set[tuple[str, str, str]] = set()
    for obs in ordered:
        key = (obs.registry, obs.repository, obs.tag)
        head = heads.get(key)
        if key in decided or (head is not None and obs.seen_at < head.last_seen):
            one_by_one.append(obs)
            continue
        decided.add(key)
        if head is not None and head.digest == obs.digest:
            extended.append({"id": head.id, "last_seen": obs.seen_at, "media_type": obs.media_type})
        else:
            started.append(_stretch_values(obs))
    if extended:
        await session.execute(update(TagMapping), extended)  # by primary key, executemany
    if started:
        await session.execute(insert(TagMapping), started)
    for obs in one_by_one:
        await record_tag_observation(session, obs)


async def _lock_tags(session: AsyncSession, keys: list[tuple[str, str, str]]) -> None:
    """Take the tags' turns: their ``tags`` rows, inserted if absent, then locked until commit
    in key order, so concurrent writers of the same tags wait instead of deadlocking.

    On SQLite the transaction's first write already holds the database's one write lock, so
    the insert is the whole of it; the locking read is for PostgreSQL's row locks.
    """
    await session.execute(
        dialect_insert(session)(TagRow).on_conflict_do_nothing(
            index_elements=[TagRow.registry_name, TagRow.repository, TagRow.tag]
        ),
        [{"registry_name": r, "repository": p, "tag": t} for r, p, t in keys],
    )  # one statement, run for each key: compiled once, not once per number of keys
    if dialect_of(session) == "sqlite":
        return
    await session.execute(
        select(TagRow.tag)
        .where(tuple_(TagRow.registry_name, TagRow.repository, TagRow.tag).in_(keys))
        .order_by(TagRow.registry_name, TagRow.repository, TagRow.tag)
        .with_for_update()
    )


class _Head(NamedTuple):
    id: int
    digest: str
    last_seen: datetime


async def _heads(
    session: AsyncSession, keys: list[tuple[str, str, str]]
) -> dict[tuple[str, str, str], _Head]:
    """Each tag's current stretch (newest ``last_seen``, ties as _NEWEST_FIRST breaks them)."""
    newest = (
        func.row_number()
        .over(
            partition_by=(TagMapping.registry_name, TagMapping.repository, TagMapping.tag),
            order_by=_NEWEST_FIRST,
        )
        .label("newest")
    )
    ranked = (
        select(
            TagMapping.registry_name,
            TagMapping.repository,
            TagMapping.tag,
            TagMapping.id,
            TagMapping.digest,
            TagMapping.last_seen,
            newest,
        )
        .where(tuple_(TagMapping.registry_name, TagMapping.repository, TagMapping.tag).in_(keys))
        .subquery()
    )
    rows = await session.execute(select(ranked).where(ranked.c.newest == 1))
    return {
        (row.registry_name, row.repository, row.tag): _Head(row.id, row.digest, row.last_seen)
        for row in rows
    }


def _lock_order(obs: TagObservation) -> tuple[str, str, str, datetime]:
    return (obs.registry, obs.repository, obs.tag, obs.seen_at)


async def _lock_tag(session: AsyncSession, registry: str, repository: str, tag: str) -> None:
    """Take the tag's turn: its ``tags`` row, inserted if absent, locked until commit."""
    await _lock_tags(session, [(registry, repository, tag)])


def _key(registry: str, repository: str, tag: str) -> tuple[ColumnElement[bool], ...]:
    return (
        TagMapping.registry_name == registry,
        TagMapping.repository == repository,
        TagMapping.tag == tag,
    )


def _stretches(
    key: tuple[ColumnElement[bool], ...],
) -> Select[int, str, datetime, datetime]:
    return select(
        TagMapping.id, TagMapping.digest, TagMapping.first_seen, TagMapping.last_seen
    ).where(*key)


async def _start_stretch(session: AsyncSession, obs: TagObservation) -> None:
    await session.execute(insert(TagMapping).values(**_stretch_values(obs)))


def _stretch_values(obs: TagObservation) -> dict[str, object]:
    """A new stretch ``[seen_at, seen_at]`` at the sighting's digest."""
    return {
        "registry_name": obs.registry,
        "repository": obs.repository,
        "tag": obs.tag,
        "digest": obs.digest,
        "media_type": obs.media_type,
        "first_seen": obs.seen_at,
        "last_seen": obs.seen_at,
    }


async def _update(session: AsyncSession, stretch_id: int, **values: object) -> None:
    await session.execute(update(TagMapping).where(TagMapping.id == stretch_id).values(**values))


# Newest first; ties broken deterministically (a stretch started later has a larger id).
_NEWEST_FIRST = (TagMapping.last_seen.desc(), TagMapping.first_seen.desc(), TagMapping.id.desc())


def _for_tag(registry: str, repository: str, tag: str) -> Select[TagMapping]:
    return select(TagMapping).where(*_key(registry, repository, tag)).order_by(*_NEWEST_FIRST)


async def tag_history(
    session: AsyncSession,
    registry: str,
    repository: str,
    tag: str,
    *,
    as_of: datetime | None = None,
    limit: int | None = None,
) -> list[TagMappingRecord]:
    """Every stretch of the tag, newest first: A -> B -> A reads back as A, B, A.

    With ``as_of``, the record as imagepin had it then: stretches first seen after ``as_of``
    are left out, and each ``last_seen`` is capped at ``as_of`` (what came later was not yet
    known), so the first entry is the stretch current at ``as_of``. Rows migrated from the
    one-row-per-digest schema may overlap (A seen t0..t5 around B seen t1..t2): when two
    windows both reach ``as_of``, the one that began later was the newer news and comes
    first. With ``limit``, only the first ``limit`` entries are returned.
    """
    require_limit(limit)
    if as_of is None:
        stmt = _for_tag(registry, repository, tag)
    else:
        require_aware("as_of", as_of)
        as_of = as_of.astimezone(UTC)
        then = literal(as_of, UtcDateTime())
        capped = case((TagMapping.last_seen > then, then), else_=TagMapping.last_seen)
        stmt = (
            select(TagMapping)
            .where(*_key(registry, repository, tag), TagMapping.first_seen <= then)
            .order_by(capped.desc(), TagMapping.first_seen.desc(), TagMapping.id.desc())
        )
    if limit is not None:
        stmt = stmt.limit(limit)
    records = [TagMappingRecord.from_row(row) for row in (await session.scalars(stmt)).all()]
    if as_of is None:
        return records
    return [replace(r, last_seen=min(r.last_seen, as_of)) for r in records]


async def latest_mapping(
    session: AsyncSession, registry: str, repository: str, tag: str
) -> TagMappingRecord | None:
    """The tag's current stretch (the digest it was last seen at), or ``None`` if never seen.

    Stale-if-error answers from it, so it is the stretch with the newest ``last_seen``.
    """
    row = (await session.scalars(_for_tag(registry, repository, tag).limit(1))).first()
    return None if row is None else TagMappingRecord.from_row(row)
