"""ResolveReference: which manifest a tag points at now, pinned, and recorded.

A tag is answered from memory when the last observation is younger than the caller's
max_staleness; otherwise by one HEAD (GET and hash only when HEAD cannot be trusted), shared by
every concurrent caller asking the same. When the registry cannot answer (unreachable, slow,
5xx, 429), the last recorded mapping may stand in if it is younger than stale_if_error.
"""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final

from imagepin_server import errors, mediatypes, metrics, store
from imagepin_server.core import content, platforms, selection
from imagepin_server.core.cache import TagAnswer, TagKey
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import (
    Descriptor,
    ImageIndex,
    ImageManifest,
    Platform,
    parse_manifest,
)
from imagepin_server.core.negative import REMEMBERED
from imagepin_server.core.storecall import best_effort
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference, Tag

log = logging.getLogger("imagepin.resolve")

# Failures where an older answer is better than none. Never NOT_FOUND or PERMISSION_DENIED:
# those are the registry's answer, not its absence.
_STALE_ELIGIBLE: Final = (errors.Unavailable, errors.Timeout, errors.RateLimited)


class Source(enum.Enum):
    REGISTRY = "registry"
    CACHE = "cache"
    STALE = "stale"
    ROLLOUT = "rollout"  # the digest recorded for the request's rollout key (core/rollout.py)


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer to "what does this reference point at now"."""

    reference: Reference  # normalised; with ":latest" added when neither tag nor digest was given
    digest: Digest  # what is pinned: the chosen child's when a platform was asked for
    media_type: str
    size: int
    resolved_digest: Digest  # what the reference itself points at (the index, for an index)
    resolved_media_type: str
    observed_at: datetime
    age: timedelta
    source: Source = Source.REGISTRY
    children: tuple[Descriptor, ...] = ()
    selected: Descriptor | None = None

    @property
    def stale(self) -> bool:
        return self.source is Source.STALE


async def resolve(
    deps: Dependencies,
    reference: Reference,
    platform: Platform | None,
    *,
    max_staleness: timedelta | None = None,
    stale_if_error: timedelta | None = None,
    max_negative_age: timedelta | None = None,
    include_children: bool = False,
) -> Resolution:
    """Resolve a reference; see the module docstring for where the answer comes from.

    An index is read (a GET the first time) only to choose a platform's child or to list its
    children when asked: a tag's answer alone is one HEAD."""
    wanted = platforms.validate(platform) if platform else None
    ref = reference.with_default_tag()
    answer, source = await pin(
        deps,
        ref,
        max_staleness=max_staleness,
        stale_if_error=stale_if_error,
        max_negative_age=max_negative_age,
    )

    children: tuple[Descriptor, ...] = ()
    selected = None
    if mediatypes.is_index(answer.media_type) and (wanted or include_children):
        index = parse_manifest(
            (await content.manifest(deps, ref, answer.digest)).raw, answer.media_type
        )
        if not isinstance(index, ImageIndex):
            raise errors.BadRegistryResponse(
                f"registry {ref.registry} said {ref} is an index, but its bytes are an image "
                "manifest",
                reference=str(ref),
                registry=ref.registry,
            )
        children = index.manifests if include_children else ()
        if wanted:
            selected = (await selection.select(deps, ref, answer.digest, index, wanted)).image
        if deps.on_read is not None:
            deps.on_read(ref, answer.digest)
    elif wanted:
        found = await content.manifest(deps, ref, answer.digest)
        image = parse_manifest(found.raw, found.media_type)
        if isinstance(image, ImageManifest):
            await selection.check_image(deps, ref, image, wanted)
        if deps.on_read is not None:
            deps.on_read(ref, answer.digest)
    return Resolution(
        reference=ref,
        digest=selected.digest if selected else answer.digest,
        media_type=selected.media_type if selected else answer.media_type,
        size=selected.size if selected else answer.size,
        resolved_digest=answer.digest,
        resolved_media_type=answer.media_type,
        observed_at=answer.observed_at,
        age=timedelta(0) if source is Source.REGISTRY else answer.age(deps.monotonic()),
        source=source,
        children=children,
        selected=selected,
    )


async def pin(
    deps: Dependencies,
    ref: Reference,
    *,
    max_staleness: timedelta | None = None,
    stale_if_error: timedelta | None = None,
    max_negative_age: timedelta | None = None,
) -> tuple[TagAnswer, Source]:
    """The digest a parsed reference (tag or digest) names now, and where that came from."""
    if ref.digest:
        return await _by_digest(deps, ref), Source.REGISTRY
    return await _by_tag(deps, ref, max_staleness, stale_if_error, max_negative_age)


async def _by_digest(deps: Dependencies, ref: Reference) -> TagAnswer:
    """A digest reference: the content must exist there and hash to the digest."""
    assert ref.digest is not None
    digest = Digest.parse(ref.digest)
    found = await content.manifest(deps, ref, digest)
    media_type = parse_manifest(found.raw, found.media_type).media_type
    return TagAnswer(digest, media_type, len(found.raw), deps.wall(), deps.monotonic())


async def _by_tag(
    deps: Dependencies,
    ref: Reference,
    max_staleness: timedelta | None,
    stale_if_error: timedelta | None,
    max_negative_age: timedelta | None = None,
) -> tuple[TagAnswer, Source]:
    assert ref.tag is not None
    key: TagKey = (ref.registry, ref.repository, ref.tag)
    freshness = deps.policy.max_staleness if max_staleness is None else max_staleness
    remembered = deps.caches.tags.get(key)
    if freshness > timedelta(0):
        if remembered is not None and remembered.age(deps.monotonic()) <= freshness:
            metrics.CACHE_LOOKUPS.labels("tag", "hit").inc()
            return remembered, Source.CACHE
        metrics.CACHE_LOOKUPS.labels("tag", "miss").inc()
    negative = deps.negatives.recall(
        key,
        _negative_bound(deps, max_negative_age),
        deps.monotonic(),
        positive_since=remembered.observed_monotonic if remembered is not None else None,
    )
    if negative is not None:
        metrics.CACHE_LOOKUPS.labels("negative", "hit").inc()
        raise negative
    try:
        answer = await deps.tag_flights.run(key, lambda: _ask_registry(deps, ref))
        return answer, Source.REGISTRY
    except REMEMBERED as failure:
        deps.negatives.remember(
            key, failure, deps.monotonic()
        )  # a storm of retries stops here for a while
        raise
    except _STALE_ELIGIBLE as failure:
        fallback = await _last_known(deps, ref, key, _stale_bound(deps, stale_if_error))
        if fallback is None:
            raise
        metrics.STALE_ANSWERS.inc()
        log.warning(
            "registry failed; answering from the last recorded mapping",
            extra={
                "fields": {
                    "registry": ref.registry,
                    "reason": failure.reason,
                    "age_s": round(fallback.age(deps.monotonic()).total_seconds(), 1),
                }
            },
        )
        return fallback, Source.STALE


async def _ask_registry(deps: Dependencies, ref: Reference) -> TagAnswer:
    """One HEAD, or GET + hash when HEAD cannot be trusted; then record and remember."""
    answer = await look(deps, ref)
    await accept(deps, ref, answer)
    return answer


async def look(deps: Dependencies, ref: Reference) -> TagAnswer:
    """What the registry says the tag points at now, recording nothing (a confirmation may
    still refuse it): one HEAD, or GET + hash when HEAD cannot be trusted."""
    assert ref.tag is not None
    registry = deps.registry
    head = await registry.head_manifest(ref, Tag(ref.tag))
    if head is not None:
        digest, media_type, size = head.digest, head.media_type, head.size
    else:
        fetched = await registry.get_manifest(ref, Tag(ref.tag))
        digest, size = fetched.digest, len(fetched.raw)
        media_type = parse_manifest(fetched.raw, fetched.media_type).media_type
        await content.remember(deps, ref, digest, "manifest", fetched.media_type, fetched.raw)
    if not mediatypes.is_manifest(media_type):
        raise errors.UnsupportedContent(
            f"{ref} has unsupported media type {media_type!r}", reference=str(ref)
        )
    return TagAnswer(digest, media_type, size, deps.wall(), deps.monotonic())


async def accept(deps: Dependencies, ref: Reference, answer: TagAnswer) -> None:
    """Take what the registry said as the tag's answer: record it, remember it, tell whoever
    listens (the layer index, the watchers)."""
    assert ref.tag is not None
    key: TagKey = (ref.registry, ref.repository, ref.tag)
    await deps.record_tag(ref, answer.digest, answer.media_type)
    previous = deps.caches.tags.get(key)
    deps.caches.tags[key] = answer
    metrics.TAG_CACHE_ENTRIES.set(len(deps.caches.tags))
    if deps.on_resolved is not None and (previous is None or previous.digest != answer.digest):
        deps.on_resolved(ref, answer.digest)  # new to this process: index its layers
    deps.followers.observed(ref, answer)  # the watchers of the tag, if any (core/watch.py)


def _negative_bound(deps: Dependencies, requested: timedelta | None) -> timedelta:
    bound = deps.policy.negative_age if requested is None else requested
    return min(bound, deps.policy.max_negative_age)


def _stale_bound(deps: Dependencies, requested: timedelta | None) -> timedelta:
    bound = deps.policy.stale_if_error if requested is None else requested
    return min(bound, deps.policy.max_stale_if_error)


async def _last_known(
    deps: Dependencies, ref: Reference, key: TagKey, bound: timedelta
) -> TagAnswer | None:
    """The last mapping seen, from memory or the store, if younger than `bound`."""
    if bound <= timedelta(0):
        return None
    remembered = deps.caches.tags.get(key)
    if remembered is not None:
        return remembered if remembered.age(deps.monotonic()) <= bound else None
    assert ref.tag is not None
    tag = ref.tag
    record = await best_effort(
        deps.database,
        lambda session: store.latest_mapping(session, ref.registry, ref.repository, tag),
        default=None,
        what="last recorded mapping",
    )
    if record is None:
        return None
    age = deps.wall() - record.last_seen
    if age > bound:
        return None
    size = 0  # the store keeps no size for tags; the content cache may know it
    cached = deps.caches.contents.get((ref.registry, ref.repository, record.digest, "manifest"))
    if cached is not None:
        size = len(cached.raw)
    observed_monotonic = deps.monotonic() - max(age.total_seconds(), 0.0)
    return TagAnswer(
        Digest.parse(record.digest), record.media_type, size, record.last_seen, observed_monotonic
    )
