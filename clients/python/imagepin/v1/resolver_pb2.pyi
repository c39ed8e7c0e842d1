import datetime

from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ManifestKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MANIFEST_KIND_UNSPECIFIED: _ClassVar[ManifestKind]
    MANIFEST_KIND_IMAGE: _ClassVar[ManifestKind]
    MANIFEST_KIND_INDEX: _ClassVar[ManifestKind]
    MANIFEST_KIND_ATTESTATION: _ClassVar[ManifestKind]
    MANIFEST_KIND_ARTIFACT: _ClassVar[ManifestKind]

class AnswerSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ANSWER_SOURCE_UNSPECIFIED: _ClassVar[AnswerSource]
    ANSWER_SOURCE_REGISTRY: _ClassVar[AnswerSource]
    ANSWER_SOURCE_CACHE: _ClassVar[AnswerSource]
    ANSWER_SOURCE_STALE: _ClassVar[AnswerSource]
    ANSWER_SOURCE_ROLLOUT: _ClassVar[AnswerSource]

class Compression(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    COMPRESSION_UNSPECIFIED: _ClassVar[Compression]
    COMPRESSION_NONE: _ClassVar[Compression]
    COMPRESSION_GZIP: _ClassVar[Compression]
    COMPRESSION_ZSTD: _ClassVar[Compression]

class VerifyMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VERIFY_MODE_UNSPECIFIED: _ClassVar[VerifyMode]
    VERIFY_MODE_MANIFEST: _ClassVar[VerifyMode]
    VERIFY_MODE_EXISTENCE: _ClassVar[VerifyMode]
    VERIFY_MODE_BLOBS: _ClassVar[VerifyMode]
    VERIFY_MODE_CONTENT: _ClassVar[VerifyMode]

class TagListBound(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAG_LIST_BOUND_UNSPECIFIED: _ClassVar[TagListBound]
    TAG_LIST_BOUND_TAGS: _ClassVar[TagListBound]
    TAG_LIST_BOUND_PAGES: _ClassVar[TagListBound]
    TAG_LIST_BOUND_TIME: _ClassVar[TagListBound]

class SortOrder(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SORT_ORDER_UNSPECIFIED: _ClassVar[SortOrder]
    SORT_ORDER_ASCENDING: _ClassVar[SortOrder]
    SORT_ORDER_DESCENDING: _ClassVar[SortOrder]

class ReferrerSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    REFERRER_SOURCE_UNSPECIFIED: _ClassVar[ReferrerSource]
    REFERRER_SOURCE_REFERRERS_API: _ClassVar[ReferrerSource]
    REFERRER_SOURCE_FALLBACK_TAG: _ClassVar[ReferrerSource]
    REFERRER_SOURCE_COSIGN_TAG: _ClassVar[ReferrerSource]
    REFERRER_SOURCE_INDEX_ATTESTATION: _ClassVar[ReferrerSource]

class TagEventSource(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TAG_EVENT_SOURCE_UNSPECIFIED: _ClassVar[TagEventSource]
    TAG_EVENT_SOURCE_POLL: _ClassVar[TagEventSource]
    TAG_EVENT_SOURCE_NOTIFICATION: _ClassVar[TagEventSource]
    TAG_EVENT_SOURCE_RESOLUTION: _ClassVar[TagEventSource]
MANIFEST_KIND_UNSPECIFIED: ManifestKind
MANIFEST_KIND_IMAGE: ManifestKind
MANIFEST_KIND_INDEX: ManifestKind
MANIFEST_KIND_ATTESTATION: ManifestKind
MANIFEST_KIND_ARTIFACT: ManifestKind
ANSWER_SOURCE_UNSPECIFIED: AnswerSource
ANSWER_SOURCE_REGISTRY: AnswerSource
ANSWER_SOURCE_CACHE: AnswerSource
ANSWER_SOURCE_STALE: AnswerSource
ANSWER_SOURCE_ROLLOUT: AnswerSource
COMPRESSION_UNSPECIFIED: Compression
COMPRESSION_NONE: Compression
COMPRESSION_GZIP: Compression
COMPRESSION_ZSTD: Compression
VERIFY_MODE_UNSPECIFIED: VerifyMode
VERIFY_MODE_MANIFEST: VerifyMode
VERIFY_MODE_EXISTENCE: VerifyMode
VERIFY_MODE_BLOBS: VerifyMode
VERIFY_MODE_CONTENT: VerifyMode
TAG_LIST_BOUND_UNSPECIFIED: TagListBound
TAG_LIST_BOUND_TAGS: TagListBound
TAG_LIST_BOUND_PAGES: TagListBound
TAG_LIST_BOUND_TIME: TagListBound
SORT_ORDER_UNSPECIFIED: SortOrder
SORT_ORDER_ASCENDING: SortOrder
SORT_ORDER_DESCENDING: SortOrder
REFERRER_SOURCE_UNSPECIFIED: ReferrerSource
REFERRER_SOURCE_REFERRERS_API: ReferrerSource
REFERRER_SOURCE_FALLBACK_TAG: ReferrerSource
REFERRER_SOURCE_COSIGN_TAG: ReferrerSource
REFERRER_SOURCE_INDEX_ATTESTATION: ReferrerSource
TAG_EVENT_SOURCE_UNSPECIFIED: TagEventSource
TAG_EVENT_SOURCE_POLL: TagEventSource
TAG_EVENT_SOURCE_NOTIFICATION: TagEventSource
TAG_EVENT_SOURCE_RESOLUTION: TagEventSource

class Platform(_message.Message):
    __slots__ = ("os", "architecture", "variant", "os_version", "os_features")
    OS_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    OS_FEATURES_FIELD_NUMBER: _ClassVar[int]
    os: str
    architecture: str
    variant: str
    os_version: str
    os_features: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, os: _Optional[str] = ..., architecture: _Optional[str] = ..., variant: _Optional[str] = ..., os_version: _Optional[str] = ..., os_features: _Optional[_Iterable[str]] = ...) -> None: ...

class Descriptor(_message.Message):
    __slots__ = ("media_type", "digest", "size", "platform", "annotations", "urls", "artifact_type", "kind")
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_TYPE_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    media_type: str
    digest: str
    size: int
    platform: Platform
    annotations: _containers.ScalarMap[str, str]
    urls: _containers.RepeatedScalarFieldContainer[str]
    artifact_type: str
    kind: ManifestKind
    def __init__(self, media_type: _Optional[str] = ..., digest: _Optional[str] = ..., size: _Optional[int] = ..., platform: _Optional[_Union[Platform, _Mapping]] = ..., annotations: _Optional[_Mapping[str, str]] = ..., urls: _Optional[_Iterable[str]] = ..., artifact_type: _Optional[str] = ..., kind: _Optional[_Union[ManifestKind, str]] = ...) -> None: ...

class ResolveReferenceRequest(_message.Message):
    __slots__ = ("reference", "platform", "max_staleness", "stale_if_error", "rollout_key", "max_negative_age", "include_children")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    MAX_STALENESS_FIELD_NUMBER: _ClassVar[int]
    STALE_IF_ERROR_FIELD_NUMBER: _ClassVar[int]
    ROLLOUT_KEY_FIELD_NUMBER: _ClassVar[int]
    MAX_NEGATIVE_AGE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CHILDREN_FIELD_NUMBER: _ClassVar[int]
    reference: str
    platform: Platform
    max_staleness: _duration_pb2.Duration
    stale_if_error: _duration_pb2.Duration
    rollout_key: str
    max_negative_age: _duration_pb2.Duration
    include_children: bool
    def __init__(self, reference: _Optional[str] = ..., platform: _Optional[_Union[Platform, _Mapping]] = ..., max_staleness: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., stale_if_error: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., rollout_key: _Optional[str] = ..., max_negative_age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., include_children: _Optional[bool] = ...) -> None: ...

class ResolveReferenceResponse(_message.Message):
    __slots__ = ("normalized_reference", "digest", "pinned_reference", "pinned_reference_with_tag", "media_type", "size", "resolved_digest", "resolved_media_type", "manifests", "selected", "familiar_reference", "source", "age", "stale", "observed_at")
    NORMALIZED_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    PINNED_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PINNED_REFERENCE_WITH_TAG_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_DIGEST_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    MANIFESTS_FIELD_NUMBER: _ClassVar[int]
    SELECTED_FIELD_NUMBER: _ClassVar[int]
    FAMILIAR_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    AGE_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    normalized_reference: str
    digest: str
    pinned_reference: str
    pinned_reference_with_tag: str
    media_type: str
    size: int
    resolved_digest: str
    resolved_media_type: str
    manifests: _containers.RepeatedCompositeFieldContainer[Descriptor]
    selected: Descriptor
    familiar_reference: str
    source: AnswerSource
    age: _duration_pb2.Duration
    stale: bool
    observed_at: _timestamp_pb2.Timestamp
    def __init__(self, normalized_reference: _Optional[str] = ..., digest: _Optional[str] = ..., pinned_reference: _Optional[str] = ..., pinned_reference_with_tag: _Optional[str] = ..., media_type: _Optional[str] = ..., size: _Optional[int] = ..., resolved_digest: _Optional[str] = ..., resolved_media_type: _Optional[str] = ..., manifests: _Optional[_Iterable[_Union[Descriptor, _Mapping]]] = ..., selected: _Optional[_Union[Descriptor, _Mapping]] = ..., familiar_reference: _Optional[str] = ..., source: _Optional[_Union[AnswerSource, str]] = ..., age: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., stale: _Optional[bool] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class BatchResolveReferencesRequest(_message.Message):
    __slots__ = ("requests",)
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    requests: _containers.RepeatedCompositeFieldContainer[ResolveReferenceRequest]
    def __init__(self, requests: _Optional[_Iterable[_Union[ResolveReferenceRequest, _Mapping]]] = ...) -> None: ...

class BatchResolveResult(_message.Message):
    __slots__ = ("reference", "resolution", "error")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    reference: str
    resolution: ResolveReferenceResponse
    error: _status_pb2.Status
    def __init__(self, reference: _Optional[str] = ..., resolution: _Optional[_Union[ResolveReferenceResponse, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ...) -> None: ...

class BatchResolveReferencesResponse(_message.Message):
    __slots__ = ("results",)
    RESULTS_FIELD_NUMBER: _ClassVar[int]
    results: _containers.RepeatedCompositeFieldContainer[BatchResolveResult]
    def __init__(self, results: _Optional[_Iterable[_Union[BatchResolveResult, _Mapping]]] = ...) -> None: ...

class ListTagHistoryRequest(_message.Message):
    __slots__ = ("reference", "as_of", "limit")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    AS_OF_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    reference: str
    as_of: _timestamp_pb2.Timestamp
    limit: int
    def __init__(self, reference: _Optional[str] = ..., as_of: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., limit: _Optional[int] = ...) -> None: ...

class TagHistoryEntry(_message.Message):
    __slots__ = ("digest", "media_type", "first_seen", "last_seen")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEEN_FIELD_NUMBER: _ClassVar[int]
    LAST_SEEN_FIELD_NUMBER: _ClassVar[int]
    digest: str
    media_type: str
    first_seen: _timestamp_pb2.Timestamp
    last_seen: _timestamp_pb2.Timestamp
    def __init__(self, digest: _Optional[str] = ..., media_type: _Optional[str] = ..., first_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., last_seen: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListTagHistoryResponse(_message.Message):
    __slots__ = ("normalized_reference", "entries")
    NORMALIZED_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ENTRIES_FIELD_NUMBER: _ClassVar[int]
    normalized_reference: str
    entries: _containers.RepeatedCompositeFieldContainer[TagHistoryEntry]
    def __init__(self, normalized_reference: _Optional[str] = ..., entries: _Optional[_Iterable[_Union[TagHistoryEntry, _Mapping]]] = ...) -> None: ...

class ListImagesWithLayerRequest(_message.Message):
    __slots__ = ("digest", "limit")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    digest: str
    limit: int
    def __init__(self, digest: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ImageWithLayer(_message.Message):
    __slots__ = ("registry", "repository", "tags", "manifest_digest", "index_digests", "layer_index", "layer_digest", "diff_id", "platform")
    REGISTRY_FIELD_NUMBER: _ClassVar[int]
    REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    MANIFEST_DIGEST_FIELD_NUMBER: _ClassVar[int]
    INDEX_DIGESTS_FIELD_NUMBER: _ClassVar[int]
    LAYER_INDEX_FIELD_NUMBER: _ClassVar[int]
    LAYER_DIGEST_FIELD_NUMBER: _ClassVar[int]
    DIFF_ID_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    registry: str
    repository: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    manifest_digest: str
    index_digests: _containers.RepeatedScalarFieldContainer[str]
    layer_index: int
    layer_digest: str
    diff_id: str
    platform: Platform
    def __init__(self, registry: _Optional[str] = ..., repository: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., manifest_digest: _Optional[str] = ..., index_digests: _Optional[_Iterable[str]] = ..., layer_index: _Optional[int] = ..., layer_digest: _Optional[str] = ..., diff_id: _Optional[str] = ..., platform: _Optional[_Union[Platform, _Mapping]] = ...) -> None: ...

class ListImagesWithLayerResponse(_message.Message):
    __slots__ = ("images",)
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[ImageWithLayer]
    def __init__(self, images: _Optional[_Iterable[_Union[ImageWithLayer, _Mapping]]] = ...) -> None: ...

class GetManifestRequest(_message.Message):
    __slots__ = ("reference", "platform")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    reference: str
    platform: Platform
    def __init__(self, reference: _Optional[str] = ..., platform: _Optional[_Union[Platform, _Mapping]] = ...) -> None: ...

class HistoryEntry(_message.Message):
    __slots__ = ("created", "created_by", "author", "comment", "empty_layer")
    CREATED_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    EMPTY_LAYER_FIELD_NUMBER: _ClassVar[int]
    created: str
    created_by: str
    author: str
    comment: str
    empty_layer: bool
    def __init__(self, created: _Optional[str] = ..., created_by: _Optional[str] = ..., author: _Optional[str] = ..., comment: _Optional[str] = ..., empty_layer: _Optional[bool] = ...) -> None: ...

class ImageConfig(_message.Message):
    __slots__ = ("digest", "media_type", "architecture", "os", "variant", "created", "author", "env", "cmd", "entrypoint", "user", "working_dir", "labels", "exposed_ports", "volumes", "stop_signal", "rootfs_type", "diff_ids", "history", "raw", "os_version")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    ARCHITECTURE_FIELD_NUMBER: _ClassVar[int]
    OS_FIELD_NUMBER: _ClassVar[int]
    VARIANT_FIELD_NUMBER: _ClassVar[int]
    CREATED_FIELD_NUMBER: _ClassVar[int]
    AUTHOR_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    CMD_FIELD_NUMBER: _ClassVar[int]
    ENTRYPOINT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    WORKING_DIR_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    EXPOSED_PORTS_FIELD_NUMBER: _ClassVar[int]
    VOLUMES_FIELD_NUMBER: _ClassVar[int]
    STOP_SIGNAL_FIELD_NUMBER: _ClassVar[int]
    ROOTFS_TYPE_FIELD_NUMBER: _ClassVar[int]
    DIFF_IDS_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    RAW_FIELD_NUMBER: _ClassVar[int]
    OS_VERSION_FIELD_NUMBER: _ClassVar[int]
    digest: str
    media_type: str
    architecture: str
    os: str
    variant: str
    created: str
    author: str
    env: _containers.RepeatedScalarFieldContainer[str]
    cmd: _containers.RepeatedScalarFieldContainer[str]
    entrypoint: _containers.RepeatedScalarFieldContainer[str]
    user: str
    working_dir: str
    labels: _containers.ScalarMap[str, str]
    exposed_ports: _containers.RepeatedScalarFieldContainer[str]
    volumes: _containers.RepeatedScalarFieldContainer[str]
    stop_signal: str
    rootfs_type: str
    diff_ids: _containers.RepeatedScalarFieldContainer[str]
    history: _containers.RepeatedCompositeFieldContainer[HistoryEntry]
    raw: bytes
    os_version: str
    def __init__(self, digest: _Optional[str] = ..., media_type: _Optional[str] = ..., architecture: _Optional[str] = ..., os: _Optional[str] = ..., variant: _Optional[str] = ..., created: _Optional[str] = ..., author: _Optional[str] = ..., env: _Optional[_Iterable[str]] = ..., cmd: _Optional[_Iterable[str]] = ..., entrypoint: _Optional[_Iterable[str]] = ..., user: _Optional[str] = ..., working_dir: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., exposed_ports: _Optional[_Iterable[str]] = ..., volumes: _Optional[_Iterable[str]] = ..., stop_signal: _Optional[str] = ..., rootfs_type: _Optional[str] = ..., diff_ids: _Optional[_Iterable[str]] = ..., history: _Optional[_Iterable[_Union[HistoryEntry, _Mapping]]] = ..., raw: _Optional[bytes] = ..., os_version: _Optional[str] = ...) -> None: ...

class GetManifestResponse(_message.Message):
    __slots__ = ("normalized_reference", "digest", "media_type", "raw_manifest", "size", "schema_version", "config", "layers", "manifests", "annotations", "subject", "artifact_type", "image_config", "is_index", "index_digest", "config_missing")
    class AnnotationsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NORMALIZED_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    RAW_MANIFEST_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    SCHEMA_VERSION_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    MANIFESTS_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_TYPE_FIELD_NUMBER: _ClassVar[int]
    IMAGE_CONFIG_FIELD_NUMBER: _ClassVar[int]
    IS_INDEX_FIELD_NUMBER: _ClassVar[int]
    INDEX_DIGEST_FIELD_NUMBER: _ClassVar[int]
    CONFIG_MISSING_FIELD_NUMBER: _ClassVar[int]
    normalized_reference: str
    digest: str
    media_type: str
    raw_manifest: bytes
    size: int
    schema_version: int
    config: Descriptor
    layers: _containers.RepeatedCompositeFieldContainer[Descriptor]
    manifests: _containers.RepeatedCompositeFieldContainer[Descriptor]
    annotations: _containers.ScalarMap[str, str]
    subject: Descriptor
    artifact_type: str
    image_config: ImageConfig
    is_index: bool
    index_digest: str
    config_missing: bool
    def __init__(self, normalized_reference: _Optional[str] = ..., digest: _Optional[str] = ..., media_type: _Optional[str] = ..., raw_manifest: _Optional[bytes] = ..., size: _Optional[int] = ..., schema_version: _Optional[int] = ..., config: _Optional[_Union[Descriptor, _Mapping]] = ..., layers: _Optional[_Iterable[_Union[Descriptor, _Mapping]]] = ..., manifests: _Optional[_Iterable[_Union[Descriptor, _Mapping]]] = ..., annotations: _Optional[_Mapping[str, str]] = ..., subject: _Optional[_Union[Descriptor, _Mapping]] = ..., artifact_type: _Optional[str] = ..., image_config: _Optional[_Union[ImageConfig, _Mapping]] = ..., is_index: _Optional[bool] = ..., index_digest: _Optional[str] = ..., config_missing: _Optional[bool] = ...) -> None: ...

class ListLayersRequest(_message.Message):
    __slots__ = ("reference", "platform")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    reference: str
    platform: Platform
    def __init__(self, reference: _Optional[str] = ..., platform: _Optional[_Union[Platform, _Mapping]] = ...) -> None: ...

class Layer(_message.Message):
    __slots__ = ("index", "digest", "media_type", "size", "diff_id", "created_by", "compression", "foreign", "urls")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    DIFF_ID_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    COMPRESSION_FIELD_NUMBER: _ClassVar[int]
    FOREIGN_FIELD_NUMBER: _ClassVar[int]
    URLS_FIELD_NUMBER: _ClassVar[int]
    index: int
    digest: str
    media_type: str
    size: int
    diff_id: str
    created_by: str
    compression: Compression
    foreign: bool
    urls: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[int] = ..., digest: _Optional[str] = ..., media_type: _Optional[str] = ..., size: _Optional[int] = ..., diff_id: _Optional[str] = ..., created_by: _Optional[str] = ..., compression: _Optional[_Union[Compression, str]] = ..., foreign: _Optional[bool] = ..., urls: _Optional[_Iterable[str]] = ...) -> None: ...

class ListLayersResponse(_message.Message):
    __slots__ = ("normalized_reference", "digest", "config_digest", "layers", "index_digest")
    NORMALIZED_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    CONFIG_DIGEST_FIELD_NUMBER: _ClassVar[int]
    LAYERS_FIELD_NUMBER: _ClassVar[int]
    INDEX_DIGEST_FIELD_NUMBER: _ClassVar[int]
    normalized_reference: str
    digest: str
    config_digest: str
    layers: _containers.RepeatedCompositeFieldContainer[Layer]
    index_digest: str
    def __init__(self, normalized_reference: _Optional[str] = ..., digest: _Optional[str] = ..., config_digest: _Optional[str] = ..., layers: _Optional[_Iterable[_Union[Layer, _Mapping]]] = ..., index_digest: _Optional[str] = ...) -> None: ...

class VerifyDigestRequest(_message.Message):
    __slots__ = ("reference", "expected_digest", "include_layers", "platform", "mode")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DIGEST_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_LAYERS_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    MODE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    expected_digest: str
    include_layers: bool
    platform: Platform
    mode: VerifyMode
    def __init__(self, reference: _Optional[str] = ..., expected_digest: _Optional[str] = ..., include_layers: _Optional[bool] = ..., platform: _Optional[_Union[Platform, _Mapping]] = ..., mode: _Optional[_Union[VerifyMode, str]] = ...) -> None: ...

class BlobVerification(_message.Message):
    __slots__ = ("kind", "digest", "actual_digest", "verified", "media_type", "size", "actual_size", "error", "platform", "skipped", "diff_id", "actual_diff_id")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_DIGEST_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    SIZE_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    DIFF_ID_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_DIFF_ID_FIELD_NUMBER: _ClassVar[int]
    kind: str
    digest: str
    actual_digest: str
    verified: bool
    media_type: str
    size: int
    actual_size: int
    error: str
    platform: Platform
    skipped: bool
    diff_id: str
    actual_diff_id: str
    def __init__(self, kind: _Optional[str] = ..., digest: _Optional[str] = ..., actual_digest: _Optional[str] = ..., verified: _Optional[bool] = ..., media_type: _Optional[str] = ..., size: _Optional[int] = ..., actual_size: _Optional[int] = ..., error: _Optional[str] = ..., platform: _Optional[_Union[Platform, _Mapping]] = ..., skipped: _Optional[bool] = ..., diff_id: _Optional[str] = ..., actual_diff_id: _Optional[str] = ...) -> None: ...

class VerifyDigestResponse(_message.Message):
    __slots__ = ("normalized_reference", "verified", "expected_digest", "actual_digest", "media_type", "blobs")
    NORMALIZED_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    EXPECTED_DIGEST_FIELD_NUMBER: _ClassVar[int]
    ACTUAL_DIGEST_FIELD_NUMBER: _ClassVar[int]
    MEDIA_TYPE_FIELD_NUMBER: _ClassVar[int]
    BLOBS_FIELD_NUMBER: _ClassVar[int]
    normalized_reference: str
    verified: bool
    expected_digest: str
    actual_digest: str
    media_type: str
    blobs: _containers.RepeatedCompositeFieldContainer[BlobVerification]
    def __init__(self, normalized_reference: _Optional[str] = ..., verified: _Optional[bool] = ..., expected_digest: _Optional[str] = ..., actual_digest: _Optional[str] = ..., media_type: _Optional[str] = ..., blobs: _Optional[_Iterable[_Union[BlobVerification, _Mapping]]] = ...) -> None: ...

class ListTagsRequest(_message.Message):
    __slots__ = ("reference", "page_size", "page_token", "filter", "max_staleness")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    FILTER_FIELD_NUMBER: _ClassVar[int]
    MAX_STALENESS_FIELD_NUMBER: _ClassVar[int]
    reference: str
    page_size: int
    page_token: str
    filter: str
    max_staleness: _duration_pb2.Duration
    def __init__(self, reference: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., filter: _Optional[str] = ..., max_staleness: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class ListTagsResponse(_message.Message):
    __slots__ = ("normalized_repository", "tags", "next_page_token", "bound", "total_tags")
    NORMALIZED_REPOSITORY_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    TOTAL_TAGS_FIELD_NUMBER: _ClassVar[int]
    normalized_repository: str
    tags: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    bound: TagListBound
    total_tags: int
    def __init__(self, normalized_repository: _Optional[str] = ..., tags: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ..., bound: _Optional[_Union[TagListBound, str]] = ..., total_tags: _Optional[int] = ...) -> None: ...

class SemverPolicy(_message.Message):
    __slots__ = ("range", "include_prereleases")
    RANGE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_PRERELEASES_FIELD_NUMBER: _ClassVar[int]
    range: str
    include_prereleases: bool
    def __init__(self, range: _Optional[str] = ..., include_prereleases: _Optional[bool] = ...) -> None: ...

class NumericalPolicy(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: SortOrder
    def __init__(self, order: _Optional[_Union[SortOrder, str]] = ...) -> None: ...

class AlphabeticalPolicy(_message.Message):
    __slots__ = ("order",)
    ORDER_FIELD_NUMBER: _ClassVar[int]
    order: SortOrder
    def __init__(self, order: _Optional[_Union[SortOrder, str]] = ...) -> None: ...

class SelectTagRequest(_message.Message):
    __slots__ = ("reference", "semver", "numerical", "alphabetical", "pattern", "extract", "platform", "max_staleness")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    SEMVER_FIELD_NUMBER: _ClassVar[int]
    NUMERICAL_FIELD_NUMBER: _ClassVar[int]
    ALPHABETICAL_FIELD_NUMBER: _ClassVar[int]
    PATTERN_FIELD_NUMBER: _ClassVar[int]
    EXTRACT_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    MAX_STALENESS_FIELD_NUMBER: _ClassVar[int]
    reference: str
    semver: SemverPolicy
    numerical: NumericalPolicy
    alphabetical: AlphabeticalPolicy
    pattern: str
    extract: str
    platform: Platform
    max_staleness: _duration_pb2.Duration
    def __init__(self, reference: _Optional[str] = ..., semver: _Optional[_Union[SemverPolicy, _Mapping]] = ..., numerical: _Optional[_Union[NumericalPolicy, _Mapping]] = ..., alphabetical: _Optional[_Union[AlphabeticalPolicy, _Mapping]] = ..., pattern: _Optional[str] = ..., extract: _Optional[str] = ..., platform: _Optional[_Union[Platform, _Mapping]] = ..., max_staleness: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class SelectTagResponse(_message.Message):
    __slots__ = ("tag", "resolution", "tags_considered", "tags_listed", "bound")
    TAG_FIELD_NUMBER: _ClassVar[int]
    RESOLUTION_FIELD_NUMBER: _ClassVar[int]
    TAGS_CONSIDERED_FIELD_NUMBER: _ClassVar[int]
    TAGS_LISTED_FIELD_NUMBER: _ClassVar[int]
    BOUND_FIELD_NUMBER: _ClassVar[int]
    tag: str
    resolution: ResolveReferenceResponse
    tags_considered: int
    tags_listed: int
    bound: TagListBound
    def __init__(self, tag: _Optional[str] = ..., resolution: _Optional[_Union[ResolveReferenceResponse, _Mapping]] = ..., tags_considered: _Optional[int] = ..., tags_listed: _Optional[int] = ..., bound: _Optional[_Union[TagListBound, str]] = ...) -> None: ...

class ListReferrersRequest(_message.Message):
    __slots__ = ("reference", "artifact_type", "include_children")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    ARTIFACT_TYPE_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_CHILDREN_FIELD_NUMBER: _ClassVar[int]
    reference: str
    artifact_type: str
    include_children: bool
    def __init__(self, reference: _Optional[str] = ..., artifact_type: _Optional[str] = ..., include_children: _Optional[bool] = ...) -> None: ...

class Referrer(_message.Message):
    __slots__ = ("descriptor", "subject_digest", "source")
    DESCRIPTOR_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    descriptor: Descriptor
    subject_digest: str
    source: ReferrerSource
    def __init__(self, descriptor: _Optional[_Union[Descriptor, _Mapping]] = ..., subject_digest: _Optional[str] = ..., source: _Optional[_Union[ReferrerSource, str]] = ...) -> None: ...

class ListReferrersResponse(_message.Message):
    __slots__ = ("digest", "referrers", "truncated")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    REFERRERS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    digest: str
    referrers: _containers.RepeatedCompositeFieldContainer[Referrer]
    truncated: bool
    def __init__(self, digest: _Optional[str] = ..., referrers: _Optional[_Iterable[_Union[Referrer, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class VerifySignaturesRequest(_message.Message):
    __slots__ = ("reference", "platform", "public_keys", "policy")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PLATFORM_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    reference: str
    platform: Platform
    public_keys: _containers.RepeatedScalarFieldContainer[str]
    policy: str
    def __init__(self, reference: _Optional[str] = ..., platform: _Optional[_Union[Platform, _Mapping]] = ..., public_keys: _Optional[_Iterable[str]] = ..., policy: _Optional[str] = ...) -> None: ...

class SignatureResult(_message.Message):
    __slots__ = ("signature_digest", "key_id", "verified", "error", "source")
    SIGNATURE_DIGEST_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    signature_digest: str
    key_id: str
    verified: bool
    error: str
    source: ReferrerSource
    def __init__(self, signature_digest: _Optional[str] = ..., key_id: _Optional[str] = ..., verified: _Optional[bool] = ..., error: _Optional[str] = ..., source: _Optional[_Union[ReferrerSource, str]] = ...) -> None: ...

class VerifySignaturesResponse(_message.Message):
    __slots__ = ("digest", "verified", "signatures")
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    VERIFIED_FIELD_NUMBER: _ClassVar[int]
    SIGNATURES_FIELD_NUMBER: _ClassVar[int]
    digest: str
    verified: bool
    signatures: _containers.RepeatedCompositeFieldContainer[SignatureResult]
    def __init__(self, digest: _Optional[str] = ..., verified: _Optional[bool] = ..., signatures: _Optional[_Iterable[_Union[SignatureResult, _Mapping]]] = ...) -> None: ...

class WatchTagsRequest(_message.Message):
    __slots__ = ("references", "interval")
    REFERENCES_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    references: _containers.RepeatedScalarFieldContainer[str]
    interval: _duration_pb2.Duration
    def __init__(self, references: _Optional[_Iterable[str]] = ..., interval: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class TagEvent(_message.Message):
    __slots__ = ("reference", "previous_digest", "digest", "observed_at", "source")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PREVIOUS_DIGEST_FIELD_NUMBER: _ClassVar[int]
    DIGEST_FIELD_NUMBER: _ClassVar[int]
    OBSERVED_AT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    previous_digest: str
    digest: str
    observed_at: _timestamp_pb2.Timestamp
    source: TagEventSource
    def __init__(self, reference: _Optional[str] = ..., previous_digest: _Optional[str] = ..., digest: _Optional[str] = ..., observed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., source: _Optional[_Union[TagEventSource, str]] = ...) -> None: ...
