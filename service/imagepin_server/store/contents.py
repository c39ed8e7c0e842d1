"""The content cache: manifests and configs by digest, and the repositories they were seen in.

Content is addressed by its digest and therefore immutable: the first bytes stored for a
digest are kept for good, and later puts only record another repository the digest was
seen in.  The store does not hash the bytes; callers store only content whose digest they
have verified.  Content is served for a repository only if it was seen there, so the cache
never reveals to one repository what another holds.

Transactions belong to the caller (see :mod:`.tags`): writes need a transaction the
caller began; reads work in any session.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from imagepin_server.digests import digest_problem

from ._sql import batches, dialect_insert, require_aware, require_transaction
from .errors import ContentRejected
from .models import (
    CONTENT_KINDS,
    MAX_CONTENT_SIZE,
    MEDIA_TYPE_LENGTH,
    Content,
    RepositoryContent,
)

__all__ = [
    "MAX_CONTENT_SIZE",
    "StoredContent",
    "get_content",
    "get_contents",
    "put_content",
]


@dataclass(frozen=True)
class StoredContent:
    """A cached manifest or config; ``stored_at`` is when it first entered the cache (UTC)."""

    digest: str
    media_type: str
    kind: str
    content: bytes
    stored_at: datetime


async def put_content(
    session: AsyncSession,
    *,
    registry: str,
    repository: str,
    digest: str,
    media_type: str,
    kind: str,
    content: bytes,
    seen_at: datetime,
) -> None:
    """Cache ``content`` under ``digest`` and note that it was seen in ``registry/repository``.

    Both rows are inserted only if absent, so replays and concurrent replicas are harmless
    and existing content is never overwritten.  ``kind`` is ``"manifest"`` or ``"config"``;
    ``content`` may be at most :data:`MAX_CONTENT_SIZE` bytes; anything else raises
    :class:`~.errors.ContentRejected` before touching the database.  The caller commits.
    """
    require_transaction(session, "put_content")
    if digest_problem(digest) is not None:
        raise ContentRejected(f"not a sha256/sha512 digest: {digest!r}")
    if kind not in CONTENT_KINDS:
        raise ContentRejected(f"kind must be one of {', '.join(CONTENT_KINDS)}, got {kind!r}")
    if len(media_type) > MEDIA_TYPE_LENGTH:
        raise ContentRejected(f"media type longer than {MEDIA_TYPE_LENGTH} characters")
    if not isinstance(content, bytes):
        raise TypeError(f"content must be bytes, got {type(content).__name__}")
    if len(content) > MAX_CONTENT_SIZE:
        raise ContentRejected(
            f"content of {digest} is {len(content)} bytes, more than {MAX_CONTENT_SIZE}"
        )
    require_aware("seen_at", seen_at)

    insert = dialect_insert(session)
    # Parent row first: repository_contents.digest references contents.digest.
    await session.execute(
        insert(Content)
        .values(
            digest=digest,
            media_type=media_type,
            kind=kind,
            size=len(content),
            content=content,
            stored_at=seen_at,
        )
        .on_conflict_do_nothing(index_elements=[Content.digest])
    )
    await session.execute(
        insert(RepositoryContent)
        .values(
            registry_name=registry,
            repository=repository,
            digest=digest,
            first_seen=seen_at,
        )
        .on_conflict_do_nothing(
            index_elements=[
                RepositoryContent.registry_name,
                RepositoryContent.repository,
                RepositoryContent.digest,
            ]
        )
    )


def _in_repository(registry: str, repository: str) -> Select[str, str, str, bytes, datetime]:
    return (
        select(Content.digest, Content.media_type, Content.kind, Content.content, Content.stored_at)
        .join(RepositoryContent, RepositoryContent.digest == Content.digest)
        .where(
            RepositoryContent.registry_name == registry,
            RepositoryContent.repository == repository,
        )
    )


def _from_row(row: Row[str, str, str, bytes, datetime]) -> StoredContent:
    digest, media_type, kind, content, stored_at = row
    # Some drivers hand back memoryview for binary columns.
    return StoredContent(digest, media_type, kind, bytes(content), stored_at)


async def get_content(
    session: AsyncSession, *, registry: str, repository: str, digest: str
) -> StoredContent | None:
    """The cached content for ``digest``, or ``None`` unless it was seen in that repository."""
    stmt = _in_repository(registry, repository).where(Content.digest == digest)
    row = (await session.execute(stmt)).first()
    return None if row is None else _from_row(row)


async def get_contents(
    session: AsyncSession, *, registry: str, repository: str, digests: Sequence[str]
) -> dict[str, StoredContent]:
    """The cached contents among ``digests`` seen in that repository, keyed by digest.

    Digests that are not cached (or not for this repository) are simply absent from the
    answer.  One query (per :data:`~._sql.MAX_BATCH` distinct digests).
    """
    wanted = list(dict.fromkeys(digests))
    found: dict[str, StoredContent] = {}
    for batch in batches(wanted):
        stmt = _in_repository(registry, repository).where(Content.digest.in_(batch))
        for row in await session.execute(stmt):
            stored = _from_row(row)
            found[stored.digest] = stored
    return found
