"""What every use case needs: registry client, store, caches, recorder, policy and a clock."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Final

from imagepin_server import store
from imagepin_server.core.cache import CachedContent, Caches, ContentKey, TagAnswer, TagKey
from imagepin_server.core.coalesce import SingleFlight
from imagepin_server.core.recorder import ObservationRecorder
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference
from imagepin_server.registry import RegistryClient

DEFAULT_MAX_STALENESS: Final = timedelta(seconds=30)
DEFAULT_STALE_IF_ERROR: Final = timedelta(hours=1)
MAX_STALE_IF_ERROR: Final = timedelta(hours=24)
BATCH_LIMIT: Final = 1000
PER_REGISTRY_CONCURRENCY: Final = 8
ROLLOUT_RETENTION: Final = timedelta(days=7)


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Policy:
    """How long answers may be reused; documented in the README."""

    max_staleness: timedelta = DEFAULT_MAX_STALENESS  # when the caller does not say
    stale_if_error: timedelta = DEFAULT_STALE_IF_ERROR  # when the caller does not say
    max_stale_if_error: timedelta = MAX_STALE_IF_ERROR  # the most a caller may ask for
    batch_limit: int = BATCH_LIMIT
    per_registry_concurrency: int = PER_REGISTRY_CONCURRENCY
    rollout_retention: timedelta = ROLLOUT_RETENTION  # how long a rollout's digest is kept


@dataclass(slots=True)
class Dependencies:
    """Shared, long-lived collaborators; one set per process."""

    registry: RegistryClient
    database: store.Database
    recorder: ObservationRecorder
    policy: Policy = field(default_factory=Policy)
    caches: Caches = field(default_factory=Caches)
    tag_flights: SingleFlight[TagKey, TagAnswer] = field(default_factory=SingleFlight)
    content_flights: SingleFlight[ContentKey, CachedContent] = field(default_factory=SingleFlight)
    clock: Callable[[], datetime] = field(default=utc_now)
    # Told of each digest a resolution finds, so the layer index can catch up in the background.
    on_resolved: Callable[[Reference, Digest], None] | None = None
    # Told of every answer a registry gave for a tag, so watchers hear of moves (core/watch.py).
    on_tag_observed: Callable[[Reference, TagAnswer], None] | None = None

    async def record_tag(self, ref: Reference, digest: Digest, media_type: str) -> None:
        """Record that `ref`'s tag pointed at `digest` just now; a database outage queues it."""
        assert ref.tag is not None
        await self.recorder.record(
            store.TagObservation(
                registry=ref.registry,
                repository=ref.repository,
                tag=ref.tag,
                digest=str(digest),
                media_type=media_type,
                seen_at=self.clock(),
            )
        )
