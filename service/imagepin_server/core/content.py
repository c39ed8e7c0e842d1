"""Content by digest: memory, then the store, then the registry (hashed), then remembered.

Content addressed by digest never changes, so once fetched and verified it is served without a
registry request. It is only served for a repository it was seen in: that a digest exists in one
repository says nothing about another.
"""

from __future__ import annotations

from typing import Literal

from imagepin_server import mediatypes, metrics, store
from imagepin_server.core.cache import CachedContent
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import Descriptor, ImageConfig, parse_config
from imagepin_server.core.storecall import best_effort
from imagepin_server.digests import Digest
from imagepin_server.errors import TooLarge, UnsupportedContent
from imagepin_server.reference import Reference
from imagepin_server.registry.client import CONFIG_LIMIT

Kind = Literal["manifest", "config"]


async def manifest(deps: Dependencies, ref: Reference, digest: Digest) -> CachedContent:
    """A manifest's bytes (hashed to `digest`) and the media type it was served as."""
    return await _content(deps, ref, digest, "manifest")


async def config(deps: Dependencies, ref: Reference, digest: Digest) -> bytes:
    """A config blob's bytes, hashed to `digest`."""
    return (await _content(deps, ref, digest, "config")).raw


async def image_config(
    deps: Dependencies, ref: Reference, descriptor: Descriptor
) -> tuple[ImageConfig | None, bytes]:
    """The image config a manifest's config descriptor names, or None when it names none.

    A declared image config must parse. A config declared as octet-stream (old pushes) is read
    too, and taken only when it is one: an artifact's octet-stream blob is no error.
    """
    declared = mediatypes.is_image_config(descriptor.media_type)
    if not declared and not mediatypes.may_be_image_config(descriptor.media_type):
        return None, b""
    if descriptor.size > CONFIG_LIMIT:
        if not declared:
            return None, b""
        raise TooLarge(
            f"the config of {ref} declares {descriptor.size} bytes, over imagepin's "
            f"limit of {CONFIG_LIMIT}",
            reference=str(ref),
        )
    raw = await config(deps, ref, descriptor.digest)
    if declared:
        return parse_config(raw), raw
    try:
        parsed = parse_config(raw)
    except UnsupportedContent:
        return None, b""
    # Any JSON object parses: an undeclared blob is a config only with what the image spec
    # requires of one (os, architecture, layers).
    if parsed.os and parsed.architecture and parsed.rootfs_type == "layers":
        return parsed, raw
    return None, b""


def in_memory(deps: Dependencies, ref: Reference, digest: Digest, kind: Kind) -> bool:
    """Whether the content is in the process's cache for this repository (no I/O at all)."""
    return deps.caches.contents.get((ref.registry, ref.repository, str(digest), kind)) is not None


async def held(deps: Dependencies, ref: Reference, digest: Digest, kind: Kind) -> bool:
    """Whether the content is at hand (memory or store) for this repository: no GET needed."""
    if in_memory(deps, ref, digest, kind):
        return True
    stored = await _store_get(deps, ref, digest)
    return stored is not None and stored.kind == kind


async def remember(
    deps: Dependencies, ref: Reference, digest: Digest, kind: Kind, media_type: str, raw: bytes
) -> None:
    """Keep content fetched (and verified) elsewhere, in memory and in the store."""
    key = (ref.registry, ref.repository, str(digest), kind)
    deps.caches.contents[key] = CachedContent(media_type, raw)
    await _store_put(deps, ref, digest, kind, media_type, raw)


async def _content(deps: Dependencies, ref: Reference, digest: Digest, kind: Kind) -> CachedContent:
    key = (ref.registry, ref.repository, str(digest), kind)
    cached = deps.caches.contents.get(key)
    if cached is not None:
        metrics.CACHE_LOOKUPS.labels("content", "hit").inc()
        return cached
    stored = await _store_get(deps, ref, digest)
    if stored is not None and stored.kind == kind:
        metrics.CACHE_LOOKUPS.labels("content", "store").inc()
        found = CachedContent(stored.media_type, stored.content)
        deps.caches.contents[key] = found
        return found
    metrics.CACHE_LOOKUPS.labels("content", "miss").inc()

    async def fetch() -> CachedContent:
        if kind == "manifest":
            fetched = await deps.registry.get_manifest(ref, digest)
            media_type, raw = fetched.media_type, fetched.raw
        else:
            media_type = ""
            raw = (await deps.registry.get_blob(ref, digest, limit=CONFIG_LIMIT)).data
        await remember(deps, ref, digest, kind, media_type, raw)
        return CachedContent(media_type, raw)

    return await deps.content_flights.run(key, fetch)


async def _store_get(
    deps: Dependencies, ref: Reference, digest: Digest
) -> store.StoredContent | None:
    return await best_effort(
        deps.database,
        lambda session: store.get_content(
            session, registry=ref.registry, repository=ref.repository, digest=str(digest)
        ),
        default=None,
        what="content cache read",
    )


async def _store_put(
    deps: Dependencies, ref: Reference, digest: Digest, kind: Kind, media_type: str, raw: bytes
) -> None:
    # A cache write: losing it costs one registry request later, nothing more.
    await best_effort(
        deps.database,
        lambda session: store.put_content(
            session,
            registry=ref.registry,
            repository=ref.repository,
            digest=str(digest),
            media_type=media_type,
            kind=kind,
            content=raw,
            seen_at=deps.wall(),
        ),
        default=None,
        what="content cache write",
        write=True,
    )
