"""proto <-> domain conversion, once, at the edge: what a caller typed becomes checked values
(Reference, Digest, Platform) with errors a person can act on, and answers become messages."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Final

from google.protobuf import duration_pb2, timestamp_pb2
from imagepin.v1 import resolver_pb2 as pb

from imagepin_server import errors, mediatypes
from imagepin_server import reference as references
from imagepin_server.api.status import status_for
from imagepin_server.core import (
    BatchItem,
    BatchOutcome,
    ImageWithLayer,
    LayerListing,
    ManifestView,
    Platform,
    Resolution,
    Source,
    TagEvent,
    TagEventSource,
    TagHistory,
    Verification,
    tag_policy,
)
from imagepin_server.core.attachments import ReferrerSource
from imagepin_server.core.images import Descriptor, ImageConfig, ImageIndex, ImageManifest
from imagepin_server.core.platforms import ManifestKind, classify
from imagepin_server.core.platforms import validate as validate_platform
from imagepin_server.core.referrers import ReferrerListing
from imagepin_server.core.signatures import SignatureVerification
from imagepin_server.core.tagref import require_tag
from imagepin_server.core.tags import Bound, TagPage, TagSelection
from imagepin_server.core.verify import BlobResult, VerifyMode
from imagepin_server.digests import Digest, InvalidDigest
from imagepin_server.errors import BadDigest, BadReference, ConflictingDigests
from imagepin_server.reference import Reference

# Longer than any valid reference (255-char name, 128-char tag, sha512 digest), so the grammar
# is never run over megabytes of input.
REFERENCE_INPUT_LIMIT: Final = 1024


def _shown(text: str) -> str:
    return repr(text[:80] + "…") if len(text) > 80 else repr(text)


def parse_reference(text: str) -> Reference:
    """Parse a caller's reference, raising BadReference with the parser's explanation."""
    if not text:
        raise BadReference("reference is required, e.g. 'redis:7' or 'ghcr.io/org/app:1.0'")
    if len(text) > REFERENCE_INPUT_LIMIT:
        raise BadReference(
            f"reference {_shown(text)} is {len(text)} characters; "
            f"no valid reference is longer than {REFERENCE_INPUT_LIMIT}"
        )
    try:
        return references.parse(text)
    except references.InvalidReference as exc:
        raise BadReference(str(exc), reference=text[:REFERENCE_INPUT_LIMIT]) from exc


def parse_repository(text: str) -> Reference:
    """A caller's repository (ListTags, SelectTag): a reference without tag or digest."""
    ref = parse_reference(text)
    if ref.tag is not None or ref.digest is not None:
        raise BadReference(
            f"{text[:200]!r} names a tag or digest; give the repository alone, e.g. {ref.name!r}",
            reference=str(ref),
        )
    return ref


def parse_tag_references(texts: Iterable[str], *, purpose: str) -> list[Reference]:
    """Callers' references that must each name a tag (":latest" when none), e.g. to watch."""
    return [require_tag(parse_reference(text), purpose=purpose) for text in texts]


def parse_digest(text: str, *, field: str = "digest") -> Digest:
    """Parse a caller's digest, raising BadDigest naming the field."""
    try:
        return Digest.parse(text)
    except InvalidDigest as exc:
        raise BadDigest(f"{field}: {exc}") from exc


def expected_digest(ref: Reference, expected_text: str) -> Digest:
    """The digest a VerifyDigest call expects: the field, or the reference's own digest."""
    expected = parse_digest(expected_text, field="expected_digest") if expected_text else None
    pinned = Digest.parse(ref.digest) if ref.digest else None
    if expected and pinned and expected != pinned:
        raise ConflictingDigests(
            f"reference {ref} pins {pinned} but expected_digest is {expected}; give one, "
            "or make them agree",
            reference=str(ref),
        )
    chosen = expected or pinned
    if chosen is None:
        raise BadDigest(
            f"expected_digest is required unless the reference is pinned (name@sha256:…): {ref}",
            reference=str(ref),
        )
    return chosen


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
    | pb.VerifyDigestRequest
    | pb.SelectTagRequest
    | pb.VerifySignaturesRequest,
) -> Platform | None:
    """The requested platform, checked (BadPlatform), or None when absent or left empty."""
    if not request.HasField("platform"):
        return None
    p = request.platform
    if not (p.os or p.architecture or p.variant or p.os_version or p.os_features):
        return None
    return validate_platform(
        Platform(
            os=p.os,
            architecture=p.architecture,
            variant=p.variant,
            os_version=p.os_version,
            os_features=tuple(p.os_features),
        )
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
    message: pb.ResolveReferenceRequest
    | pb.ListTagsRequest
    | pb.SelectTagRequest
    | pb.WatchTagsRequest,
    field: str,
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


_VERIFY_MODES = {
    pb.VERIFY_MODE_UNSPECIFIED: None,
    pb.VERIFY_MODE_MANIFEST: VerifyMode.MANIFEST,
    pb.VERIFY_MODE_EXISTENCE: VerifyMode.EXISTENCE,
    pb.VERIFY_MODE_BLOBS: VerifyMode.BLOBS,
    pb.VERIFY_MODE_CONTENT: VerifyMode.CONTENT,
}


def verify_mode_from_proto(request: pb.VerifyDigestRequest) -> VerifyMode | None:
    """The requested mode; None when unspecified. A number this server does not know is refused."""
    try:
        return _VERIFY_MODES[request.mode]
    except KeyError:
        raise errors.InvalidArgument(f"mode {request.mode} is not a known VerifyMode") from None


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
        diff_id=blob.diff_id,
        actual_diff_id=str(blob.actual_diff_id) if blob.actual_diff_id else "",
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
            platform = platform_from_proto(item)
            items.append(
                BatchItem(
                    text=item.reference,
                    reference=parse_reference(item.reference),
                    platform=platform,
                    max_staleness=duration_from_proto(item, "max_staleness"),
                    stale_if_error=duration_from_proto(item, "stale_if_error"),
                    rollout_key=item.rollout_key,
                    max_negative_age=duration_from_proto(item, "max_negative_age"),
                    include_children=item.include_children,
                )
            )
        except errors.InvalidArgument as exc:
            items.append(BatchItem(text=item.reference, invalid=exc))
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


def history_to_proto(history: TagHistory) -> pb.ListTagHistoryResponse:
    return pb.ListTagHistoryResponse(
        normalized_reference=str(history.reference),
        entries=[
            pb.TagHistoryEntry(
                digest=move.digest,
                media_type=move.media_type,
                first_seen=timestamp(move.first_seen),
                last_seen=timestamp(move.last_seen),
            )
            for move in history.moves
        ],
    )


def images_with_layer_to_proto(images: list[ImageWithLayer]) -> pb.ListImagesWithLayerResponse:
    messages = []
    for found in images:
        message = pb.ImageWithLayer(
            registry=found.registry,
            repository=found.repository,
            tags=list(found.tags),
            manifest_digest=found.manifest_digest,
            index_digests=list(found.index_digests),
            layer_index=found.layer_index,
            layer_digest=found.layer_digest,
            diff_id=found.diff_id,
        )
        if found.platform is not None:
            message.platform.CopyFrom(platform_to_proto(found.platform))
        messages.append(message)
    return pb.ListImagesWithLayerResponse(images=messages)


# --- ListTags, SelectTag ------------------------------------------------------------------------
_BOUND = {
    None: pb.TAG_LIST_BOUND_UNSPECIFIED,
    Bound.TAGS: pb.TAG_LIST_BOUND_TAGS,
    Bound.PAGES: pb.TAG_LIST_BOUND_PAGES,
    Bound.TIME: pb.TAG_LIST_BOUND_TIME,
}
_ORDER: dict[int, tag_policy.Order] = {
    pb.SORT_ORDER_UNSPECIFIED: tag_policy.Order.ASCENDING,
    pb.SORT_ORDER_ASCENDING: tag_policy.Order.ASCENDING,
    pb.SORT_ORDER_DESCENDING: tag_policy.Order.DESCENDING,
}


def tag_page_to_proto(page: TagPage) -> pb.ListTagsResponse:
    return pb.ListTagsResponse(
        normalized_repository=page.repository.name,
        tags=list(page.tags),
        next_page_token=page.next_page_token,
        bound=_BOUND[page.bound],
        total_tags=page.total,
    )


def tag_policy_from_proto(request: pb.SelectTagRequest) -> tag_policy.TagPolicy | None:
    """The request's policy, or None when none was set (the use case refuses that)."""
    chosen = request.WhichOneof("policy")
    if chosen == "semver":
        return tag_policy.Semver(
            range=request.semver.range,
            include_prereleases=request.semver.include_prereleases,
        )
    if chosen == "numerical":
        return tag_policy.Numerical(order=_order(request.numerical.order))
    if chosen == "alphabetical":
        return tag_policy.Alphabetical(order=_order(request.alphabetical.order))
    return None


def _order(value: int) -> tag_policy.Order:
    order = _ORDER.get(value)
    if order is None:
        raise errors.BadTagPolicy(f"order {value} is not a sort order")
    return order


def selection_to_proto(selection: TagSelection) -> pb.SelectTagResponse:
    return pb.SelectTagResponse(
        tag=selection.tag,
        resolution=resolution_to_proto(selection.resolution),
        tags_considered=selection.considered,
        tags_listed=selection.listed,
        bound=_BOUND[selection.bound],
    )


_REFERRER_SOURCE = {
    ReferrerSource.REFERRERS_API: pb.REFERRER_SOURCE_REFERRERS_API,
    ReferrerSource.FALLBACK_TAG: pb.REFERRER_SOURCE_FALLBACK_TAG,
    ReferrerSource.COSIGN_TAG: pb.REFERRER_SOURCE_COSIGN_TAG,
    ReferrerSource.INDEX_ATTESTATION: pb.REFERRER_SOURCE_INDEX_ATTESTATION,
}


def referrers_to_proto(listing: ReferrerListing) -> pb.ListReferrersResponse:
    return pb.ListReferrersResponse(
        digest=str(listing.digest),
        referrers=[
            pb.Referrer(
                descriptor=descriptor_to_proto(referrer.descriptor),
                subject_digest=str(referrer.subject),
                source=_REFERRER_SOURCE[referrer.source],
            )
            for referrer in listing.referrers
        ],
        truncated=listing.truncated,
    )


def signatures_to_proto(verification: SignatureVerification) -> pb.VerifySignaturesResponse:
    return pb.VerifySignaturesResponse(
        digest=str(verification.digest),
        verified=verification.verified,
        signatures=[
            pb.SignatureResult(
                signature_digest=str(check.signature_digest),
                key_id=check.key_id,
                verified=check.verified,
                error=check.error,
                source=_REFERRER_SOURCE[check.source],
            )
            for check in verification.signatures
        ],
    )


def tag_event_to_proto(event: TagEvent) -> pb.TagEvent:
    return pb.TagEvent(
        reference=str(event.reference),
        previous_digest=str(event.previous) if event.previous is not None else "",
        digest=str(event.digest),
        observed_at=timestamp(event.observed_at),
        source=_TAG_EVENT_SOURCE[event.source],
    )
