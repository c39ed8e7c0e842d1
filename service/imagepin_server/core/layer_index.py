"""The layer index: every manifest imagepin has seen, recorded with its layers.

It answers "which of our images are built on this base layer" when a base image has a
vulnerability. It is fed by what is fetched anyway: images met through GetManifest, ListLayers
and VerifyDigest are recorded on the spot, and what a platform check read (an index, or a
single image's manifest and config) is recorded in the background from memory, for no request.
Resolution needs only a HEAD, and a manifest GET is a counted pull on Docker Hub, so indexing
resolved tags in the background is opt-in (IMAGEPIN_INDEX_LAYERS): it spends at most
`gets_per_minute` registry GETs (content already held costs none), and leaves a registry alone
while it says its pull budget is low.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from typing import Final

from aiolimiter import AsyncLimiter
from cachetools import LRUCache

from imagepin_server import errors, metrics, store
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
# Digests indexed from memory that this process remembers, so a warm platform check repeated
# does not index its image again.
HELD_INDEXED_LIMIT: Final = 10_000
CONCURRENT_INDEXING: Final = 2
PENDING_LIMIT: Final = 256
DEFAULT_GETS_PER_MINUTE: Final = 30


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
    """Indexes resolved digests off the request path, a few at a time, at most PENDING_LIMIT,
    within a budget of registry GETs per minute."""

    def __init__(self, deps: Dependencies, *, gets_per_minute: int = DEFAULT_GETS_PER_MINUTE):
        self._deps = deps
        # Its own bucket: aiolimiter, the primitive the registry client's politeness uses.
        self._gets = AsyncLimiter(max(gets_per_minute, 1), 60) if gets_per_minute > 0 else None
        self._limit = asyncio.Semaphore(CONCURRENT_INDEXING)
        self._pending: dict[tuple[str, str, str, bool], asyncio.Task[None]] = {}
        # From memory, what was recorded (an image: True once with its config) and which trees
        # were recorded whole, so a warm platform check repeated costs no index write.
        self._held_recorded: LRUCache[tuple[str, str, str], bool] = LRUCache(HELD_INDEXED_LIMIT)
        self._held_complete: LRUCache[tuple[str, str, str], bool] = LRUCache(HELD_INDEXED_LIMIT)
        self._closed = False

    def schedule(self, ref: Reference, digest: Digest) -> None:
        """Index a resolved digest, fetching what is not held within the GET budget."""
        self._start(ref, digest, held_only=False)

    def schedule_held(self, ref: Reference, digest: Digest) -> None:
        """Index what a use case has just read of `digest`, from memory only: no request."""
        if (ref.registry, ref.repository, str(digest)) not in self._held_complete:
            self._start(ref, digest, held_only=True)

    def _start(self, ref: Reference, digest: Digest, *, held_only: bool) -> None:
        key = (ref.registry, ref.repository, str(digest), held_only)
        if self._closed or key in self._pending or len(self._pending) >= PENDING_LIMIT:
            return
        # Its own context: the resolving caller's deadline must not bound background work.
        task = asyncio.get_running_loop().create_task(
            self._index(ref, digest, held_only=held_only), context=contextvars.Context()
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

    async def _index(self, ref: Reference, digest: Digest, *, held_only: bool) -> None:
        async with self._limit:
            try:
                complete = await self._index_manifest(ref, digest, depth=0, held_only=held_only)
            except errors.ImagepinError as exc:
                log.info("could not index %s@%s: %s", ref.name, digest, exc.message)
                return
            if held_only and complete:
                self._held_complete[(ref.registry, ref.repository, str(digest))] = True

    async def _index_manifest(
        self, ref: Reference, digest: Digest, *, depth: int, held_only: bool = False
    ) -> bool:
        """Record `digest` (and an index's children); whether all of it was recorded."""
        key = (ref.registry, ref.repository, str(digest))
        # Read through the content cache first, even when the layers are known: that is what
        # records that this repository holds the manifest, so a second repository with the
        # same image is found too.
        if not await self._may_fetch(ref, digest, "manifest", held_only=held_only):
            return False
        found = await content.manifest(self._deps, ref, digest)
        manifest = parse_manifest(found.raw, found.media_type)
        if isinstance(manifest, ImageIndex):
            if not (held_only and key in self._held_recorded):
                await record_index(self._deps, digest, manifest)
                if held_only:
                    self._held_recorded[key] = True
            complete = True
            if depth == 0:
                for child in manifest.manifests[:MAX_CHILDREN_INDEXED]:
                    complete &= await self._index_manifest(
                        ref, child.digest, depth=1, held_only=held_only
                    )
            return complete
        if held_only and self._held_recorded.get(key):
            return True  # recorded from memory with its config already
        if not held_only and await self._already_indexed(digest):
            return True
        config = None
        if await self._may_fetch(ref, manifest.config.digest, "config", held_only=held_only):
            # A config that is not one, gone, or too large: the layers without diff_ids.
            with contextlib.suppress(
                errors.UnsupportedContent, errors.BlobNotFound, errors.TooLarge
            ):
                config, _ = await content.image_config(self._deps, ref, manifest.config)
        elif not held_only:
            return False  # the GET budget says not now; indexed with its config later
        # Held only, config not in memory: the layers now, their diff_ids when a config is read.
        await record_image(self._deps, digest, manifest, config)
        if held_only:
            self._held_recorded[key] = config is not None
        return config is not None or not held_only

    async def _may_fetch(
        self, ref: Reference, digest: Digest, kind: content.Kind, *, held_only: bool = False
    ) -> bool:
        """Content already held is free; a GET needs the budget and a registry not short.
        Held only: what is in memory, and nothing else (not even a database read)."""
        if held_only:
            return content.in_memory(self._deps, ref, digest, kind)
        if await content.held(self._deps, ref, digest, kind):
            return True
        if self._gets is None or self._deps.registry.pull_budget_low(ref.registry):
            metrics.INDEX_SKIPPED.labels("pull_budget_low" if self._gets else "no_budget").inc()
            return False
        if not self._gets.has_capacity():
            metrics.INDEX_SKIPPED.labels("budget_spent").inc()
            return False
        await self._gets.acquire()
        return True

    async def _already_indexed(self, digest: Digest) -> bool:
        return await best_effort(
            self._deps.database,
            lambda session: store.has_image_layers(session, str(digest)),
            default=False,
            what="layer index read",
        )
