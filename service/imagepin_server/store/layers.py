"""The layer index: which layers each image manifest has, and which manifests each index lists.

Manifests are immutable, so both are recorded once per digest (insert-if-absent; replays
and concurrent replicas are harmless).  Together with ``repository_contents`` (where a
manifest or index was seen) and ``tag_mappings`` (which tags pointed at it), they answer
"which images contain this layer?" - see :func:`images_with_layer`.

Transactions belong to the caller (see :mod:`.tags`): writes need a transaction the
caller began; reads work in any session.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import literal, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from ._sql import batches, dialect_insert, require_limit, require_transaction
from .models import ImageLayer, IndexChildRow, RepositoryContent, TagMapping

__all__ = [
    "ImageWithLayerRecord",
    "IndexChild",
    "LayerRow",
    "has_image_layers",
    "images_with_layer",
    "record_image_layers",
    "record_index_children",
]

# Rows per multi-row INSERT: six parameters each, well inside every backend's limit.
_ROWS_PER_INSERT = 500


@dataclass(frozen=True)
class LayerRow:
    """Layer ``position`` (0-based) of an image manifest; ``diff_id`` is ``""`` if unknown."""

    position: int
    layer_digest: str
    diff_id: str
    media_type: str
    size: int


@dataclass(frozen=True)
class IndexChild:
    """Entry ``position`` of an image index; ``platform`` like ``"linux/arm64/v8"`` or ``""``."""

    child_digest: str
    position: int
    platform: str


@dataclass(frozen=True)
class ImageWithLayerRecord:
    """An image manifest containing the layer searched for, as seen in one repository.

    ``index_digests`` are the indexes seen in this repository that list the manifest;
    ``tags`` are the tags recorded in this repository pointing at the manifest or at one of
    those indexes.  ``layer_index`` is the (first) position of the layer in the manifest,
    ``platform`` the manifest's platform according to its index (``""`` if none).
    """

    registry: str
    repository: str
    tags: tuple[str, ...]
    manifest_digest: str
    index_digests: tuple[str, ...]
    layer_index: int
    layer_digest: str
    diff_id: str
    platform: str


async def record_image_layers(
    session: AsyncSession, manifest_digest: str, layers: Sequence[LayerRow]
) -> None:
    """Record the layers of an image manifest. Rows already present are left alone, except that
    a diff_id learnt later (the config was not at hand the first time) fills an empty one."""
    require_transaction(session, "record_image_layers")
    if not layers:
        return
    rows = [
        {
            "manifest_digest": manifest_digest,
            "position": layer.position,
            "layer_digest": layer.layer_digest,
            "diff_id": layer.diff_id,
            "media_type": layer.media_type,
            "size": layer.size,
        }
        for layer in layers
    ]
    insert = dialect_insert(session)
    for batch in batches(rows, _ROWS_PER_INSERT):
        statement = insert(ImageLayer).values(list(batch))
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=[ImageLayer.manifest_digest, ImageLayer.position],
                set_={"diff_id": statement.excluded.diff_id},
                where=(ImageLayer.diff_id == "") & (statement.excluded.diff_id != ""),
            )
        )


async def record_index_children(
    session: AsyncSession, index_digest: str, children: Sequence[IndexChild]
) -> None:
    """Record the entries of an image index (rows already present are left alone)."""
    require_transaction(session, "record_index_children")
    if not children:
        return
    rows = [
        {
            "index_digest": index_digest,
            "child_digest": child.child_digest,
            "position": child.position,
            "platform": child.platform,
        }
        for child in children
    ]
    await _insert_if_absent(
        session, IndexChildRow, rows, [IndexChildRow.index_digest, IndexChildRow.child_digest]
    )


async def _insert_if_absent(
    session: AsyncSession, model: type[Any], rows: list[dict[str, Any]], key: list[Any]
) -> None:
    """Multi-row INSERT … ON CONFLICT (key) DO NOTHING, in batches the backends accept."""
    insert = dialect_insert(session)
    for batch in batches(rows, _ROWS_PER_INSERT):
        await session.execute(
            insert(model).values(list(batch)).on_conflict_do_nothing(index_elements=key)
        )


async def has_image_layers(session: AsyncSession, manifest_digest: str) -> bool:
    """Whether the layers of ``manifest_digest`` have been recorded."""
    stmt = select(literal(1)).where(ImageLayer.manifest_digest == manifest_digest).limit(1)
    return (await session.scalar(stmt)) is not None


async def images_with_layer(
    session: AsyncSession, digest: str, *, limit: int = 100
) -> list[ImageWithLayerRecord]:
    """Every image manifest with ``digest`` among its layers, once per repository it was seen in.

    ``digest`` matches a layer's (compressed) digest or its diff_id.  A manifest counts as
    seen in a repository if it was itself seen there, or an index listing it was.  Results
    are ordered by (registry, repository, manifest_digest); at most ``limit`` of them.
    Four queries, whatever the number of results (for ``limit`` up to 1000).
    """
    require_limit(limit)
    if not digest or limit == 0:
        return []

    # 1. The page: (registry, repository, manifest) triples, ordered and limited in SQL.
    matches = (
        select(ImageLayer.manifest_digest)
        .where(or_(ImageLayer.layer_digest == digest, ImageLayer.diff_id == digest))
        .distinct()
        .cte("matches")
    )
    direct = select(
        RepositoryContent.registry_name.label("registry"),
        RepositoryContent.repository.label("repository"),
        matches.c.manifest_digest.label("manifest_digest"),
    ).join(matches, RepositoryContent.digest == matches.c.manifest_digest)
    via_index = (
        select(
            RepositoryContent.registry_name.label("registry"),
            RepositoryContent.repository.label("repository"),
            matches.c.manifest_digest.label("manifest_digest"),
        )
        .select_from(matches)
        .join(IndexChildRow, IndexChildRow.child_digest == matches.c.manifest_digest)
        .join(RepositoryContent, RepositoryContent.digest == IndexChildRow.index_digest)
    )
    seen = union(direct, via_index).subquery("seen")
    page_stmt = (
        select(seen.c.registry, seen.c.repository, seen.c.manifest_digest)
        .order_by(seen.c.registry, seen.c.repository, seen.c.manifest_digest)
        .limit(limit)
    )
    page = [(r, repo, m) for r, repo, m in await session.execute(page_stmt)]
    if not page:
        return []
    manifests = sorted({manifest for _, _, manifest in page})

    # 2. Where the layer sits in each manifest (its first position, if it repeats).
    first_layer: dict[str, tuple[int, str, str]] = {}
    for batch in batches(manifests):
        layers_stmt = (
            select(
                ImageLayer.manifest_digest,
                ImageLayer.position,
                ImageLayer.layer_digest,
                ImageLayer.diff_id,
            )
            .where(
                ImageLayer.manifest_digest.in_(batch),
                or_(ImageLayer.layer_digest == digest, ImageLayer.diff_id == digest),
            )
            .order_by(ImageLayer.manifest_digest, ImageLayer.position)
        )
        for manifest, position, layer_digest, diff_id in await session.execute(layers_stmt):
            first_layer.setdefault(manifest, (position, layer_digest, diff_id))

    # 3. The indexes listing these manifests, and the repositories each index was seen in
    #    (outer join: an index seen nowhere still tells the manifest's platform).
    indexes_of: dict[str, dict[str, str]] = defaultdict(dict)  # manifest -> index -> platform
    index_seen_in: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for batch in batches(manifests):
        children_stmt = (
            select(
                IndexChildRow.child_digest,
                IndexChildRow.index_digest,
                IndexChildRow.platform,
                RepositoryContent.registry_name,
                RepositoryContent.repository,
            )
            .outerjoin(RepositoryContent, RepositoryContent.digest == IndexChildRow.index_digest)
            .where(IndexChildRow.child_digest.in_(batch))
        )
        for child, index, platform, registry, repo in await session.execute(children_stmt):
            indexes_of[child][index] = platform
            if registry is not None:
                index_seen_in[index].add((registry, repo))

    # 4. Tags pointing at the manifests or their indexes, filtered per repository below.
    targets = sorted(set(manifests).union(*(indexes_of[m].keys() for m in manifests)))
    pairs = {(registry, repository) for registry, repository, _ in page}
    tags_at: dict[tuple[str, str, str], set[str]] = defaultdict(set)  # (reg, repo, digest)
    for batch in batches(targets):
        tags_stmt = select(
            TagMapping.registry_name, TagMapping.repository, TagMapping.digest, TagMapping.tag
        ).where(TagMapping.digest.in_(batch))
        for registry, repository, target, tag in await session.execute(tags_stmt):
            if (registry, repository) in pairs:
                tags_at[registry, repository, target].add(tag)

    records = []
    for registry, repository, manifest in page:
        if manifest not in first_layer:  # pragma: no cover - layer rows are never deleted
            continue
        position, layer_digest, diff_id = first_layer[manifest]
        all_indexes = indexes_of.get(manifest, {})
        here = sorted(i for i in all_indexes if (registry, repository) in index_seen_in[i])
        tags: set[str] = set(tags_at.get((registry, repository, manifest), ()))
        for index in here:
            tags |= tags_at.get((registry, repository, index), set())
        # The platform of an index seen here; else of any index listing the manifest.
        candidates = [all_indexes[i] for i in here] + [all_indexes[i] for i in sorted(all_indexes)]
        platform = next((p for p in candidates if p), "")
        records.append(
            ImageWithLayerRecord(
                registry=registry,
                repository=repository,
                tags=tuple(sorted(tags)),
                manifest_digest=manifest,
                index_digests=tuple(here),
                layer_index=position,
                layer_digest=layer_digest,
                diff_id=diff_id,
                platform=platform,
            )
        )
    return records
