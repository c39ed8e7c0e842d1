"""The layer index: every manifest imagepin has seen, recorded with its layers.

It answers "which of our images are built on this base layer" when a base image has a
vulnerability. Images met through GetManifest/ListLayers are recorded on the spot; tags met
through resolution are indexed in the background (a few at a time, bounded), since resolution
itself only needs a HEAD and must stay fast.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from typing import Final

from imagepin_server import errors, store
from imagepin_server.core import content
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import (
    ImageConfig,
    ImageIndex,
    ImageManifest,
    Platform,
    parse_manifest,
)
from imagepin_server.core.storecall import Query, best_effort
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference

log = logging.getLogger("imagepin.layer_index")

MAX_CHILDREN_INDEXED: Final = 64
CONCURRENT_INDEXING: Final = 2
PENDING_LIMIT: Final = 256


def platform_text(platform: Platform | None) -> str:
    return str(platform) if platform is not None else ""


async def record_image(
    deps: Dependencies, manifest_digest: Digest, manifest: ImageManifest, config: ImageConfig | None
) -> None:
    """Record an image's layers with their diff_ids (best effort: it is an index, not a truth)."""
    diff_ids = config.diff_ids if config is not None else ()
    rows = [
        store.LayerRow(
            position=i,
            layer_digest=str(layer.digest),
            diff_id=diff_ids[i] if len(diff_ids) == len(manifest.layers) else "",
            media_type=layer.media_type,
            size=layer.size,
        )
        for i, layer in enumerate(manifest.layers)
    ]
    await _write(
        deps, lambda session: store.record_image_layers(session, str(manifest_digest), rows)
    )


async def record_index(deps: Dependencies, index_digest: Digest, index: ImageIndex) -> None:
    children = [
        store.IndexChild(
            child_digest=str(child.digest), position=i, platform=platform_text(child.platform)
        )
        for i, child in enumerate(index.manifests)
    ]
    await _write(
        deps, lambda session: store.record_index_children(session, str(index_digest), children)
    )


async def _write(deps: Dependencies, statement: Query[None]) -> None:
    """An index write is best effort: the index is a search aid, not a record of truth."""
    await best_effort(deps.database, statement, default=None, what="layer index write", write=True)


class BackgroundIndexer:
    """Indexes resolved digests off the request path, a few at a time, at most PENDING_LIMIT."""

    def __init__(self, deps: Dependencies) -> None:
        self._deps = deps
        self._limit = asyncio.Semaphore(CONCURRENT_INDEXING)
        self._pending: dict[tuple[str, str, str], asyncio.Task[None]] = {}
        self._closed = False

    def schedule(self, ref: Reference, digest: Digest) -> None:
        key = (ref.registry, ref.repository, str(digest))
        if self._closed or key in self._pending or len(self._pending) >= PENDING_LIMIT:
            return
        # Its own context: the resolving caller's deadline must not bound background work.
        task = asyncio.get_running_loop().create_task(
            self._index(ref, digest), context=contextvars.Context()
        )
        self._pending[key] = task
        task.add_done_callback(lambda _: self._pending.pop(key, None))

    async def idle(self) -> None:
        """Wait for everything scheduled so far (tests, shutdown)."""
        while self._pending:
            await asyncio.gather(*self._pending.values(), return_exceptions=True)

    async def aclose(self) -> None:
        """Cancel indexing still under way and wait for it, before the database closes."""
        self._closed = True
        tasks = list(self._pending.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _index(self, ref: Reference, digest: Digest) -> None:
        async with self._limit:
            try:
                await self._index_manifest(ref, digest, depth=0)
            except errors.ImagepinError as exc:
                log.info("could not index %s@%s: %s", ref.name, digest, exc.message)

    async def _index_manifest(self, ref: Reference, digest: Digest, *, depth: int) -> None:
        # Read through the content cache first, even when the layers are known: that is what
        # records that this repository holds the manifest, so a second repository with the
        # same image is found too.
        found = await content.manifest(self._deps, ref, digest)
        manifest = parse_manifest(found.raw, found.media_type)
        if isinstance(manifest, ImageManifest) and await self._already_indexed(digest):
            return
        if isinstance(manifest, ImageIndex):
            await record_index(self._deps, digest, manifest)
            if depth == 0:
                for child in manifest.manifests[:MAX_CHILDREN_INDEXED]:
                    await self._index_manifest(ref, child.digest, depth=1)
            return
        try:
            config, _ = await content.image_config(self._deps, ref, manifest.config)
        except (errors.UnsupportedContent, errors.BlobNotFound, errors.TooLarge):
            # A config that is not one, gone, or too large: index the layers without diff_ids.
            config = None
        await record_image(self._deps, digest, manifest, config)

    async def _already_indexed(self, digest: Digest) -> bool:
        return await best_effort(
            self._deps.database,
            lambda session: store.has_image_layers(session, str(digest)),
            default=False,
            what="layer index read",
        )
