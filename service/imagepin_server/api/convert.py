"""proto <-> domain conversion; no logic beyond copying fields."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from google.protobuf import duration_pb2, timestamp_pb2
from imagepin.v1 import resolver_pb2 as pb

from imagepin_server import errors, mediatypes, store
from imagepin_server.api.status import status_for
from imagepin_server.core import (
    BatchItem,
    BatchOutcome,
    LayerListing,
    ManifestView,
    Platform,
    Resolution,
    Source,
    TagEvent,
    TagEventSource,
    Verification,
)
from imagepin_server.core.images import Descriptor, ImageConfig, ImageIndex, ImageManifest
from imagepin_server.core.platforms import ManifestKind, classify
from imagepin_server.core.verify import BlobResult

_TAG_EVENT_SOURCE = {
    TagEventSource.POLL: pb.TAG_EVENT_SOURCE_POLL,
    TagEventSource.NOTIFICATION: pb.TAG_EVENT_SOURCE_NOTIFICATION,
    TagEventSource.RESOLUTION: pb.TAG_EVENT_SOURCE_RESOLUTION,
}

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


_KIND = {
    ManifestKind.IMAGE: pb.MANIFEST_KIND_IMAGE,
    ManifestKind.INDEX: pb.MANIFEST_KIND_INDEX,
    ManifestKind.ATTESTATION: pb.MANIFEST_KIND_ATTESTATION,
    ManifestKind.ARTIFACT: pb.MANIFEST_KIND_ARTIFACT,
}


def child_to_proto(child: Descriptor) -> pb.Descriptor:
    """A child of an index, with what it is (image, nested index, attestation, artifact)."""
    message = descriptor_to_proto(child)
    message.kind = _KIND[classify(child)]
    return message


_SOURCE = {
    Source.REGISTRY: pb.ANSWER_SOURCE_REGISTRY,
    Source.CACHE: pb.ANSWER_SOURCE_CACHE,
    Source.STALE: pb.ANSWER_SOURCE_STALE,
    Source.ROLLOUT: pb.ANSWER_SOURCE_ROLLOUT,
}

MAX_DURATION = timedelta(days=3650)


def duration_from_proto(
    message: pb.ResolveReferenceRequest | pb.WatchTagsRequest, field: str
) -> timedelta | None:
    """An optional Duration field: None when unset; negative or absurd values are refused."""
    if not message.HasField(field):
        return None
    value: duration_pb2.Duration = getattr(message, field)
    if value.seconds < 0 or value.nanos < 0:
        raise errors.InvalidArgument(f"{field} must not be negative")
    if value.seconds > MAX_DURATION.total_seconds():
        raise errors.InvalidArgument(f"{field} must be at most {MAX_DURATION.days} days")
    try:
        return value.ToTimedelta()
    except (ValueError, OverflowError) as exc:
        raise errors.InvalidArgument(f"{field} is not a valid duration") from exc


def timestamp_from_proto(message: pb.ListTagHistoryRequest, field: str) -> datetime | None:
    """An optional Timestamp field: None when unset; outside years 1-9999 it is refused."""
    if not message.HasField(field):
        return None
    value: timestamp_pb2.Timestamp = getattr(message, field)
    try:
        return value.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as exc:
        raise errors.InvalidArgument(f"{field} is not a valid timestamp") from exc


def timestamp(value: datetime) -> timestamp_pb2.Timestamp:
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value)
    return message


def duration(value: timedelta) -> duration_pb2.Duration:
    message = duration_pb2.Duration()
    message.FromTimedelta(value)
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
        manifests=[child_to_proto(child) for child in resolution.children],
        familiar_reference=ref.familiar(),
        source=_SOURCE[resolution.source],
        age=duration(resolution.age),
        stale=resolution.stale,
        observed_at=timestamp(resolution.observed_at),
    )
    if resolution.selected is not None:
        response.selected.CopyFrom(child_to_proto(resolution.selected))
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
        config_missing=view.config_missing,
    )
    if manifest.subject is not None:
        response.subject.CopyFrom(descriptor_to_proto(manifest.subject))
    if isinstance(manifest, ImageIndex):
        response.manifests.extend(child_to_proto(child) for child in manifest.manifests)
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


def batch_items_from_proto(request: pb.BatchResolveReferencesRequest) -> list[BatchItem]:
    """One item per request; a malformed item carries its error instead of failing the batch."""
    items = []
    for item in request.requests:
        try:
            items.append(
                BatchItem(
                    reference=item.reference,
                    platform=platform_from_proto(item),
                    max_staleness=duration_from_proto(item, "max_staleness"),
                    stale_if_error=duration_from_proto(item, "stale_if_error"),
                    rollout_key=item.rollout_key,
                )
            )
        except errors.InvalidArgument as exc:
            items.append(BatchItem(reference=item.reference, invalid=exc))
    return items


def batch_to_proto(outcomes: list[BatchOutcome]) -> pb.BatchResolveReferencesResponse:
    results = []
    for outcome in outcomes:
        result = pb.BatchResolveResult(reference=outcome.reference)
        if outcome.resolution is not None:
            result.resolution.CopyFrom(resolution_to_proto(outcome.resolution))
        if outcome.error is not None:
            result.error.CopyFrom(status_for(outcome.error))
        results.append(result)
    return pb.BatchResolveReferencesResponse(results=results)


def history_to_proto(
    normalized: str, records: list[store.TagMappingRecord]
) -> pb.ListTagHistoryResponse:
    return pb.ListTagHistoryResponse(
        normalized_reference=normalized,
        entries=[
            pb.TagHistoryEntry(
                digest=record.digest,
                media_type=record.media_type,
                first_seen=timestamp(record.first_seen),
                last_seen=timestamp(record.last_seen),
            )
            for record in records
        ],
    )


def images_with_layer_to_proto(
    records: list[store.ImageWithLayerRecord],
) -> pb.ListImagesWithLayerResponse:
    images = []
    for record in records:
        image = pb.ImageWithLayer(
            registry=record.registry,
            repository=record.repository,
            tags=list(record.tags),
            manifest_digest=record.manifest_digest,
            index_digests=list(record.index_digests),
            layer_index=record.layer_index,
            layer_digest=record.layer_digest,
            diff_id=record.diff_id,
        )
        parts = record.platform.split("/") if record.platform else []
        if len(parts) >= 2:
            image.platform.CopyFrom(
                pb.Platform(os=parts[0], architecture=parts[1], variant="/".join(parts[2:]))
            )
        images.append(image)
    return pb.ListImagesWithLayerResponse(images=images)


def tag_event_to_proto(event: TagEvent) -> pb.TagEvent:
    return pb.TagEvent(
        reference=str(event.reference),
        previous_digest=str(event.previous) if event.previous is not None else "",
        digest=str(event.digest),
        observed_at=timestamp(event.observed_at),
        source=_TAG_EVENT_SOURCE[event.source],
    )
