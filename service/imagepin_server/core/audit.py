"""ListTagHistory and ListImagesWithLayer: reading back what imagepin has recorded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

from imagepin_server import errors, store
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import Platform
from imagepin_server.core.storecall import store_call
from imagepin_server.core.tagref import require_tag
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000


@dataclass(frozen=True, slots=True)
class TagMove:
    """One stretch of a tag at a digest, from its first to its last sighting (aware UTC)."""

    digest: str
    media_type: str
    first_seen: datetime
    last_seen: datetime


@dataclass(frozen=True, slots=True)
class TagHistory:
    reference: Reference  # normalised, with ":latest" added when no tag was given
    moves: tuple[TagMove, ...]  # newest first


@dataclass(frozen=True, slots=True)
class ImageWithLayer:
    """An image manifest holding the layer asked about, as seen in one repository."""

    registry: str
    repository: str
    tags: tuple[str, ...]  # tags recorded pointing at the manifest or an index listing it
    manifest_digest: str
    index_digests: tuple[str, ...]  # indexes seen in this repository listing the manifest
    layer_index: int  # the layer's (first) position in the manifest
    layer_digest: str
    diff_id: str
    platform: Platform | None  # the manifest's platform according to its index, when known


def page_size(requested: int) -> int:
    """0 means the default; more than MAX_LIMIT, or negative, is refused."""
    if requested < 0 or requested > MAX_LIMIT:
        raise errors.InvalidArgument(f"limit must be between 0 and {MAX_LIMIT}, not {requested}")
    return requested or DEFAULT_LIMIT


async def tag_history(
    deps: Dependencies, ref: Reference, *, as_of: datetime | None, limit: int
) -> TagHistory:
    """Every move of the tag (one entry per stretch at a digest), newest first; with as_of, as
    imagepin had recorded it then."""
    ref = require_tag(ref, purpose="tag history")
    assert ref.tag is not None
    tag = ref.tag
    size = page_size(limit)
    records = await store_call(
        deps.database,
        lambda session: store.tag_history(
            session, ref.registry, ref.repository, tag, as_of=as_of, limit=size
        ),
    )
    moves = tuple(
        TagMove(record.digest, record.media_type, record.first_seen, record.last_seen)
        for record in records
    )
    return TagHistory(ref, moves)


async def images_with_layer(
    deps: Dependencies, digest: Digest, *, limit: int
) -> list[ImageWithLayer]:
    """Every recorded image containing a layer, by distribution digest or diff_id."""
    size = page_size(limit)
    records = await store_call(
        deps.database, lambda session: store.images_with_layer(session, str(digest), limit=size)
    )
    return [_image_with_layer(record) for record in records]


def _image_with_layer(record: store.ImageWithLayerRecord) -> ImageWithLayer:
    return ImageWithLayer(
        registry=record.registry,
        repository=record.repository,
        tags=tuple(record.tags),
        manifest_digest=record.manifest_digest,
        index_digests=tuple(record.index_digests),
        layer_index=record.layer_index,
        layer_digest=record.layer_digest,
        diff_id=record.diff_id,
        platform=_stored_platform(record.platform),
    )


def _stored_platform(text: str) -> Platform | None:
    """The store keeps a platform as os/architecture[/variant]; "" or a lone os is unknown."""
    parts = text.split("/") if text else []
    if len(parts) < 2:
        return None
    return Platform(os=parts[0], architecture=parts[1], variant="/".join(parts[2:]))
