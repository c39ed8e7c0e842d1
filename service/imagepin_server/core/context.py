"""What every use case needs: the registry client, the store and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from imagepin_server import errors, store
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference
from imagepin_server.registry import RegistryClient


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Dependencies:
    """Shared, long-lived collaborators; one set per process."""

    registry: RegistryClient
    database: store.Database
    clock: Callable[[], datetime] = field(default=utc_now)

    async def record_tag(self, ref: Reference, digest: Digest, media_type: str) -> None:
        """Record that `ref`'s tag pointed at `digest` just now (one session, one transaction)."""
        assert ref.tag is not None
        observation = store.TagObservation(
            registry=ref.registry,
            repository=ref.repository,
            tag=ref.tag,
            digest=str(digest),
            media_type=media_type,
            seen_at=self.clock(),
        )
        try:
            async with self.database.session() as session, session.begin():
                await store.record_tag_observation(session, observation)
        except store.StoreUnavailable as exc:
            raise errors.StoreUnavailable(
                f"resolved {ref} to {digest} but could not record it: {exc}",
                reference=str(ref),
            ) from exc
