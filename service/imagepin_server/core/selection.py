"""Which image a platform request names: a child of an index, or a single image checked.

An index is searched for an image child matching the platform, descending into nested indexes
(an index whose child is an index) at most MAX_INDEX_DEPTH deep and MAX_INDEXES_VISITED in all.
A single-platform image is checked against its config, which is fetched by digest and cached
like every other content, so a repeat costs no registry request.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Final

from imagepin_server import errors
from imagepin_server.core import content, platforms
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import (
    Descriptor,
    ImageIndex,
    ImageManifest,
    Platform,
    parse_manifest,
)
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference

log = logging.getLogger("imagepin.selection")

MAX_INDEX_DEPTH: Final = 4  # the top index is depth 1; BuildKit never nests more than 2
MAX_INDEXES_VISITED: Final = 16  # nested indexes fetched for one selection


@dataclass(frozen=True, slots=True)
class Selected:
    """The image chosen for a platform, and the index that lists it."""

    image: Descriptor
    parent: Digest  # the index the image was chosen from (a nested one when it was nested)
    parent_index: ImageIndex


@dataclass(slots=True)
class _Search:
    ref: Reference
    wanted: Platform
    visited: int = 0
    available: list[Platform] = field(default_factory=list)


async def select(
    deps: Dependencies, ref: Reference, digest: Digest, index: ImageIndex, wanted: Platform
) -> Selected:
    """The image of `index` (or of an index nested in it) that serves `wanted`."""
    search = _Search(ref, wanted)
    found = await _search(deps, search, digest, index, depth=1)
    if found is None:
        raise platforms.not_found(str(ref), wanted, search.available, empty=not index.manifests)
    return found


async def _search(
    deps: Dependencies, search: _Search, digest: Digest, index: ImageIndex, depth: int
) -> Selected | None:
    search.available.extend(platforms.offered(index.manifests))
    for child in platforms.candidates(search.wanted, index.manifests):
        if platforms.classify(child) is platforms.ManifestKind.IMAGE:
            return Selected(child, digest, index)
        nested = await _nested(deps, search, child, depth + 1)
        found = await _search(deps, search, child.digest, nested, depth + 1)
        if found is not None:
            return found
    return None


async def _nested(deps: Dependencies, search: _Search, child: Descriptor, depth: int) -> ImageIndex:
    ref = search.ref
    search.visited += 1
    if depth > MAX_INDEX_DEPTH or search.visited > MAX_INDEXES_VISITED:
        raise errors.UnsupportedContent(
            f"{ref} nests indexes deeper than {MAX_INDEX_DEPTH} or more than "
            f"{MAX_INDEXES_VISITED} of them; imagepin does not search further",
            reference=str(ref),
        )
    found = await content.manifest(deps, ref, child.digest)
    nested = parse_manifest(found.raw, child.media_type)
    if not isinstance(nested, ImageIndex):
        raise errors.UnsupportedContent(
            f"{ref} lists {child.digest} as an index, but its bytes are an image manifest",
            reference=str(ref),
        )
    return nested


async def check_image(
    deps: Dependencies, ref: Reference, manifest: ImageManifest, wanted: Platform
) -> None:
    """Refuse a single-platform image whose config says it is for another platform.

    A config the registry does not have cannot be checked (VerifyDigest reports it): let through.
    """
    try:
        config, _ = await content.image_config(deps, ref, manifest.config)
    except errors.BlobNotFound:
        log.warning(
            "config missing; the platform of a single image cannot be checked",
            extra={"fields": {"registry": ref.registry, "config": str(manifest.config.digest)}},
        )
        return
    if config is None:  # no image config (nor an octet-stream blob that is one): an artifact
        platforms.check_not_artifact(wanted, manifest.config.media_type, reference=str(ref))
        return
    platforms.check_image(wanted, config, reference=str(ref))
