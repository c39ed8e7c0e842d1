"""GetManifest and ListLayers: what an image is, by digest, verified, and remembered.

A tag is pinned first (from memory within the default staleness, or one HEAD), then the content
is read by digest: memory, the store, or the registry with the bytes hashed.
"""

from __future__ import annotations

from dataclasses import dataclass

from imagepin_server import mediatypes
from imagepin_server.core import content, layer_index, platforms, selection
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import (
    Descriptor,
    ImageConfig,
    ImageIndex,
    ImageManifest,
    Manifest,
    Platform,
    parse_manifest,
)
from imagepin_server.core.resolve import pin
from imagepin_server.digests import Digest
from imagepin_server.errors import BadPlatform, BlobNotFound, UnsupportedContent
from imagepin_server.reference import Reference


@dataclass(frozen=True, slots=True)
class ManifestView:
    """A manifest as served, parsed, with its image config when it is an image."""

    reference: Reference
    digest: Digest
    media_type: str
    raw: bytes
    manifest: Manifest
    config: ImageConfig | None = None
    config_raw: bytes = b""
    index_digest: Digest | None = None  # set when a platform child of an index was chosen
    config_missing: bool = False  # the config blob named is not in the registry


@dataclass(frozen=True, slots=True)
class LayerInfo:
    """One layer with both of its digests and the build step that made it."""

    index: int
    descriptor: Descriptor
    diff_id: str
    created_by: str

    @property
    def compression(self) -> mediatypes.Compression:
        return mediatypes.layer_compression(self.descriptor.media_type)

    @property
    def foreign(self) -> bool:
        return mediatypes.is_foreign_layer(self.descriptor.media_type)


@dataclass(frozen=True, slots=True)
class LayerListing:
    reference: Reference
    digest: Digest
    config_digest: Digest
    layers: tuple[LayerInfo, ...]
    index_digest: Digest | None = None


async def get_manifest(
    deps: Dependencies, reference: Reference, platform: Platform | None
) -> ManifestView:
    """The manifest a reference names, with its image config; indexes give a child by platform."""
    wanted = platforms.validate(platform) if platform else None
    ref = reference.with_default_tag()
    answer, _ = await pin(deps, ref)
    digest = answer.digest
    found = await content.manifest(deps, ref, digest)
    raw = found.raw
    manifest = parse_manifest(raw, found.media_type)

    index_digest = None
    if isinstance(manifest, ImageIndex):
        await layer_index.record_index(deps, digest, manifest)
        if wanted is not None:
            chosen = await selection.select(deps, ref, digest, manifest, wanted)
            if chosen.parent != digest:  # nested: record which index really lists the image
                await layer_index.record_index(deps, chosen.parent, chosen.parent_index)
            index_digest, digest = chosen.parent, chosen.image.digest
            raw = (await content.manifest(deps, ref, digest)).raw
            manifest = parse_manifest(raw, chosen.image.media_type)

    config, config_raw, config_missing = None, b"", False
    if isinstance(manifest, ImageManifest):
        try:
            config, config_raw = await content.image_config(deps, ref, manifest.config)
        except BlobNotFound:
            config_missing = True  # a partial copy or a deleted blob: the manifest still stands
        if wanted is not None and index_digest is None:  # a single image asked for a platform
            if config is not None:
                platforms.check_image(wanted, config, reference=str(ref))
            elif not config_missing:
                platforms.check_not_artifact(wanted, manifest.config.media_type, reference=str(ref))
        await layer_index.record_image(deps, digest, manifest, config)
    return ManifestView(
        reference=ref,
        digest=digest,
        media_type=manifest.media_type,
        raw=raw,
        manifest=manifest,
        config=config,
        config_raw=config_raw,
        index_digest=index_digest,
        config_missing=config_missing,
    )


async def list_layers(
    deps: Dependencies, reference: Reference, platform: Platform | None
) -> LayerListing:
    """An image's layers from base to top, each with its diff_id and the step that made it."""
    view = await get_manifest(deps, reference, platform)
    manifest = view.manifest
    if isinstance(manifest, ImageIndex):
        offered = ", ".join(str(p) for p in platforms.offered(manifest.manifests))
        raise BadPlatform(
            f"{view.reference} is a multi-platform index; ask for one platform "
            f"(it has: {offered or 'none'})",
            reference=str(view.reference),
        )
    if view.config_missing:
        raise BlobNotFound(
            f"the config blob {manifest.config.digest} of {view.reference} is not in the "
            "registry, and the layers' diff_ids are in it",
            reference=str(view.reference),
        )
    diff_ids: tuple[str, ...] = ()
    history: list[str] = []
    if view.config is not None:
        diff_ids = view.config.diff_ids
        history = [entry.created_by for entry in view.config.layer_history()]
        if len(diff_ids) != len(manifest.layers):
            raise UnsupportedContent(
                f"the config of {view.reference} lists {len(diff_ids)} diff_ids for "
                f"{len(manifest.layers)} layers; the image is inconsistent",
                reference=str(view.reference),
            )
    # History that does not line up with the layers (some builders omit it) is left out
    # rather than attached to the wrong layer.
    aligned = len(history) == len(manifest.layers)
    layers = tuple(
        LayerInfo(
            index=i,
            descriptor=layer,
            diff_id=diff_ids[i] if diff_ids else "",
            created_by=history[i] if aligned else "",
        )
        for i, layer in enumerate(manifest.layers)
    )
    return LayerListing(
        reference=view.reference,
        digest=view.digest,
        config_digest=manifest.config.digest,
        layers=layers,
        index_digest=view.index_digest,
    )
