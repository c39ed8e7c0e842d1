"""proto <-> domain conversion; no logic beyond copying fields."""

from __future__ import annotations

from imagepin.v1 import resolver_pb2 as pb

from imagepin_server import mediatypes
from imagepin_server.core import (
    LayerListing,
    ManifestView,
    Platform,
    Resolution,
    Verification,
)
from imagepin_server.core.images import Descriptor, ImageConfig, ImageIndex, ImageManifest
from imagepin_server.core.verify import BlobResult

_COMPRESSION = {
    mediatypes.Compression.UNKNOWN: pb.COMPRESSION_UNSPECIFIED,
    mediatypes.Compression.NONE: pb.COMPRESSION_NONE,
    mediatypes.Compression.GZIP: pb.COMPRESSION_GZIP,
    mediatypes.Compression.ZSTD: pb.COMPRESSION_ZSTD,
}


def platform_from_proto(
    request: pb.ResolveReferenceRequest
    | pb.GetManifestRequest
    | pb.ListLayersRequest
    | pb.VerifyDigestRequest,
) -> Platform | None:
    """The requested platform, or None when the field is absent or left empty."""
    if not request.HasField("platform"):
        return None
    p = request.platform
    if not (p.os or p.architecture or p.variant or p.os_version or p.os_features):
        return None
    return Platform(
        os=p.os,
        architecture=p.architecture,
        variant=p.variant,
        os_version=p.os_version,
        os_features=tuple(p.os_features),
    )


def platform_to_proto(platform: Platform) -> pb.Platform:
    return pb.Platform(
        os=platform.os,
        architecture=platform.architecture,
        variant=platform.variant,
        os_version=platform.os_version,
        os_features=list(platform.os_features),
    )


def descriptor_to_proto(descriptor: Descriptor) -> pb.Descriptor:
    message = pb.Descriptor(
        media_type=descriptor.media_type,
        digest=str(descriptor.digest),
        size=descriptor.size,
        annotations=descriptor.annotations,
        urls=list(descriptor.urls),
        artifact_type=descriptor.artifact_type,
    )
    if descriptor.platform is not None:
        message.platform.CopyFrom(platform_to_proto(descriptor.platform))
    return message


def resolution_to_proto(resolution: Resolution) -> pb.ResolveReferenceResponse:
    ref = resolution.reference
    digest = str(resolution.digest)
    response = pb.ResolveReferenceResponse(
        normalized_reference=str(ref),
        digest=digest,
        pinned_reference=ref.pinned(digest),
        pinned_reference_with_tag=ref.pinned_with_tag(digest),
        media_type=resolution.media_type,
        size=resolution.size,
        resolved_digest=str(resolution.resolved_digest),
        resolved_media_type=resolution.resolved_media_type,
        manifests=[descriptor_to_proto(child) for child in resolution.children],
        familiar_reference=ref.familiar(),
    )
    if resolution.selected is not None:
        response.selected.CopyFrom(descriptor_to_proto(resolution.selected))
    return response


def config_to_proto(config: ImageConfig, descriptor: Descriptor, raw: bytes) -> pb.ImageConfig:
    return pb.ImageConfig(
        digest=str(descriptor.digest),
        media_type=descriptor.media_type,
        architecture=config.architecture,
        os=config.os,
        variant=config.variant,
        os_version=config.os_version,
        created=config.created,
        author=config.author,
        env=list(config.env),
        cmd=list(config.cmd),
        entrypoint=list(config.entrypoint),
        user=config.user,
        working_dir=config.working_dir,
        labels=config.labels,
        exposed_ports=list(config.exposed_ports),
        volumes=list(config.volumes),
        stop_signal=config.stop_signal,
        rootfs_type=config.rootfs_type,
        diff_ids=list(config.diff_ids),
        history=[
            pb.HistoryEntry(
                created=entry.created,
                created_by=entry.created_by,
                author=entry.author,
                comment=entry.comment,
                empty_layer=entry.empty_layer,
            )
            for entry in config.history
        ],
        raw=raw,
    )


def manifest_to_proto(view: ManifestView) -> pb.GetManifestResponse:
    manifest = view.manifest
    response = pb.GetManifestResponse(
        normalized_reference=str(view.reference),
        digest=str(view.digest),
        media_type=view.media_type,
        raw_manifest=view.raw,
        size=len(view.raw),
        schema_version=manifest.schema_version,
        annotations=manifest.annotations,
        artifact_type=manifest.artifact_type,
        is_index=isinstance(manifest, ImageIndex),
        index_digest=str(view.index_digest) if view.index_digest else "",
    )
    if manifest.subject is not None:
        response.subject.CopyFrom(descriptor_to_proto(manifest.subject))
    if isinstance(manifest, ImageIndex):
        response.manifests.extend(descriptor_to_proto(child) for child in manifest.manifests)
    if isinstance(manifest, ImageManifest):
        response.config.CopyFrom(descriptor_to_proto(manifest.config))
        response.layers.extend(descriptor_to_proto(layer) for layer in manifest.layers)
        if view.config is not None:
            response.image_config.CopyFrom(
                config_to_proto(view.config, manifest.config, view.config_raw)
            )
    return response


def layers_to_proto(listing: LayerListing) -> pb.ListLayersResponse:
    return pb.ListLayersResponse(
        normalized_reference=str(listing.reference),
        digest=str(listing.digest),
        config_digest=str(listing.config_digest),
        index_digest=str(listing.index_digest) if listing.index_digest else "",
        layers=[
            pb.Layer(
                index=layer.index,
                digest=str(layer.descriptor.digest),
                media_type=layer.descriptor.media_type,
                size=layer.descriptor.size,
                diff_id=layer.diff_id,
                created_by=layer.created_by,
                compression=_COMPRESSION[layer.compression],
                foreign=layer.foreign,
                urls=list(layer.descriptor.urls),
            )
            for layer in listing.layers
        ],
    )


def _blob_to_proto(blob: BlobResult) -> pb.BlobVerification:
    message = pb.BlobVerification(
        kind=blob.kind,
        digest=str(blob.descriptor.digest),
        actual_digest=str(blob.actual) if blob.actual else "",
        verified=blob.verified,
        media_type=blob.descriptor.media_type,
        size=blob.descriptor.size,
        actual_size=blob.actual_size,
        error=blob.error,
        skipped=blob.skipped,
    )
    if blob.descriptor.platform is not None:
        message.platform.CopyFrom(platform_to_proto(blob.descriptor.platform))
    return message


def verification_to_proto(verification: Verification) -> pb.VerifyDigestResponse:
    return pb.VerifyDigestResponse(
        normalized_reference=str(verification.reference),
        verified=verification.verified,
        expected_digest=str(verification.expected),
        actual_digest=str(verification.actual),
        media_type=verification.media_type,
        blobs=[_blob_to_proto(blob) for blob in verification.blobs],
    )
