"""What every use case needs: a registry, the store, caches, recorder, policy and two clocks.

The clocks are given, never read by core itself: the wall clock (an aware UTC datetime) stamps
what is recorded and answered; the monotonic clock (float seconds) measures ages, immune to the
wall clock's jumps. Tests pass clocks they advance by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Final

from imagepin_server import store
from imagepin_server.core.attachments import Attachments
from imagepin_server.core.cache import CachedContent, Caches, ContentKey, TagAnswer, TagKey
from imagepin_server.core.followers import Followers
from imagepin_server.core.layer_content import DEFAULT_MAX_BYTES, DEFAULT_MAX_RATIO
from imagepin_server.core.negative import NegativeCache
from imagepin_server.core.ports import Registry
from imagepin_server.core.recorder import ObservationRecorder
from imagepin_server.core.tag_lists import TagLists
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference
from imagepin_server.singleflight import SingleFlight

DEFAULT_MAX_STALENESS: Final = timedelta(seconds=30)
DEFAULT_STALE_IF_ERROR: Final = timedelta(hours=1)
MAX_STALE_IF_ERROR: Final = timedelta(hours=24)
BATCH_LIMIT: Final = 1000
# A batch keeps this many items under way per request slot of a registry host: while some
# hold the host's slots, the others record their answers (core/batch.py).
BATCH_ITEMS_PER_SLOT: Final = 2
ROLLOUT_RETENTION: Final = timedelta(days=7)
DEFAULT_NEGATIVE_AGE: Final = timedelta(seconds=10)
MAX_NEGATIVE_AGE: Final = timedelta(seconds=60)


@dataclass(frozen=True, slots=True)
class Policy:
    """How long answers may be reused; documented in the README."""

    max_staleness: timedelta = DEFAULT_MAX_STALENESS  # when the caller does not say
    stale_if_error: timedelta = DEFAULT_STALE_IF_ERROR  # when the caller does not say
    max_stale_if_error: timedelta = MAX_STALE_IF_ERROR  # the most a caller may ask for
    batch_limit: int = BATCH_LIMIT
    batch_items_per_slot: int = BATCH_ITEMS_PER_SLOT
    rollout_retention: timedelta = ROLLOUT_RETENTION  # how long a rollout's digest is kept
    negative_age: timedelta = (
        DEFAULT_NEGATIVE_AGE  # NOT_FOUND remembered, when the caller does not say
    )
    max_negative_age: timedelta = MAX_NEGATIVE_AGE  # the most a caller may ask for
    # VerifyDigest's CONTENT mode refuses a layer that inflates past max(64 MiB, ratio x its
    # compressed size), or past the byte bound whatever its size: zip bombs are not followed.
    content_max_ratio: float = DEFAULT_MAX_RATIO
    content_max_bytes: int = DEFAULT_MAX_BYTES


@dataclass(frozen=True, slots=True)
class Dependencies:
    """Shared, long-lived collaborators; one set per process, complete when built."""

    registry: Registry
    database: store.Database
    recorder: ObservationRecorder
    wall: Callable[[], datetime]  # now, as an aware UTC datetime
    monotonic: Callable[[], float]  # now, in seconds from an arbitrary start
    policy: Policy = field(default_factory=Policy)
    caches: Caches = field(default_factory=Caches)
    negatives: NegativeCache = field(default_factory=NegativeCache)
    tag_flights: SingleFlight[TagKey, TagAnswer] = field(default_factory=SingleFlight)
    content_flights: SingleFlight[ContentKey, CachedContent] = field(default_factory=SingleFlight)
    # Referrers and signature verdicts (core/referrers.py, core/signatures.py), and trust policies.
    attachments: Attachments = field(default_factory=Attachments)
    # Told of each digest a resolution finds, so the layer index can catch up in the background.
    on_resolved: Callable[[Reference, Digest], None] | None = None
    # Told of a digest whose content a platform check or VerifyDigest has just read, so the
    # layer index can record it from memory (core/layer_index.py), spending no request.
    on_read: Callable[[Reference, Digest], None] | None = None
    tag_lists: TagLists = field(default_factory=TagLists)  # ListTags / SelectTag (core/tags.py)
    # The tags followed for WatchTags: told of every answer a registry gave for a tag, so
    # watchers hear of moves a resolution saw first (core/followers.py, core/watch.py).
    followers: Followers = field(default_factory=Followers)

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
                seen_at=self.wall(),
            )
        )
