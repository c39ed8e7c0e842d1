"""Request building and batch results, shared by the blocking and the asyncio client."""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

import grpc
from google.protobuf import duration_pb2, timestamp_pb2
from google.protobuf.message import Message

from imagepin.errors import ImagepinError, InvalidArgument, from_status
from imagepin.platforms import parse_platform
from imagepin.v1 import resolver_pb2

BATCH_LIMIT: Final = 1000  # the contract's bound on one BatchResolveReferences call

PlatformArg = str | resolver_pb2.Platform | None
Delay = datetime.timedelta | float | None
# One RPC's request and response message: what makes the clients' call helper typed per RPC.
Request = TypeVar("Request", bound=Message)
Response = TypeVar("Response", bound=Message)


@dataclass(frozen=True)
class BatchResult:
    """One reference of a batch: its resolution or its error, never both."""

    reference: str
    resolution: resolver_pb2.ResolveReferenceResponse | None
    error: ImagepinError | None

    @property
    def ok(self) -> bool:
        return self.error is None


def platform_message(platform: PlatformArg) -> resolver_pb2.Platform | None:
    if platform is None or isinstance(platform, resolver_pb2.Platform):
        return platform
    return parse_platform(platform)


def duration(value: Delay) -> duration_pb2.Duration | None:
    """None stays unset (the server's default); zero is sent, as an explicit zero."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, datetime.timedelta) else value
    if not math.isfinite(seconds):
        raise InvalidArgument(
            grpc.StatusCode.INVALID_ARGUMENT, f"{value!r} is not a duration (seconds or timedelta)"
        )
    message = duration_pb2.Duration()
    message.FromNanoseconds(round(seconds * 1e9))
    return message


def timestamp(value: datetime.datetime | None) -> timestamp_pb2.Timestamp | None:
    if value is None:
        return None
    message = timestamp_pb2.Timestamp()
    message.FromDatetime(value.astimezone(datetime.UTC))
    return message


def resolve_request(
    reference: str,
    platform: PlatformArg = None,
    max_staleness: Delay = None,
    stale_if_error: Delay = None,
    rollout_key: str = "",
    include_children: bool = False,
) -> resolver_pb2.ResolveReferenceRequest:
    return resolver_pb2.ResolveReferenceRequest(
        reference=reference,
        platform=platform_message(platform),
        max_staleness=duration(max_staleness),
        stale_if_error=duration(stale_if_error),
        rollout_key=rollout_key,
        include_children=include_children,
    )


def manifest_request(
    reference: str, platform: PlatformArg = None
) -> resolver_pb2.GetManifestRequest:
    return resolver_pb2.GetManifestRequest(reference=reference, platform=platform_message(platform))


def layers_request(reference: str, platform: PlatformArg = None) -> resolver_pb2.ListLayersRequest:
    return resolver_pb2.ListLayersRequest(reference=reference, platform=platform_message(platform))


def verify_request(
    reference: str,
    expected_digest: str = "",
    include_layers: bool = False,
    platform: PlatformArg = None,
    mode: resolver_pb2.VerifyMode = resolver_pb2.VERIFY_MODE_UNSPECIFIED,
) -> resolver_pb2.VerifyDigestRequest:
    return resolver_pb2.VerifyDigestRequest(
        reference=reference,
        expected_digest=expected_digest,
        include_layers=include_layers,
        platform=platform_message(platform),
        mode=mode,
    )


def referrers_request(
    reference: str, artifact_type: str = "", include_children: bool = False
) -> resolver_pb2.ListReferrersRequest:
    return resolver_pb2.ListReferrersRequest(
        reference=reference, artifact_type=artifact_type, include_children=include_children
    )


def watch_request(
    references: Sequence[str], interval: datetime.timedelta | None = None
) -> resolver_pb2.WatchTagsRequest:
    return resolver_pb2.WatchTagsRequest(references=list(references), interval=duration(interval))


def signatures_request(
    reference: str, public_keys: Iterable[str], policy: str, platform: PlatformArg
) -> resolver_pb2.VerifySignaturesRequest:
    return resolver_pb2.VerifySignaturesRequest(
        reference=reference,
        public_keys=list(public_keys),
        policy=policy,
        platform=platform_message(platform),
    )


def history_request(
    reference: str, as_of: datetime.datetime | None = None, limit: int = 0
) -> resolver_pb2.ListTagHistoryRequest:
    return resolver_pb2.ListTagHistoryRequest(
        reference=reference, as_of=timestamp(as_of), limit=limit
    )


def images_with_layer_request(
    digest: str, limit: int = 0
) -> resolver_pb2.ListImagesWithLayerRequest:
    return resolver_pb2.ListImagesWithLayerRequest(digest=digest, limit=limit)


def batch_requests(
    references: Iterable[str | resolver_pb2.ResolveReferenceRequest],
    platform: PlatformArg,
    max_staleness: Delay = None,
) -> list[resolver_pb2.ResolveReferenceRequest]:
    """One request per reference; a ResolveReferenceRequest given whole is sent as it is."""
    return [
        ref
        if isinstance(ref, resolver_pb2.ResolveReferenceRequest)
        else resolve_request(ref, platform, max_staleness)
        for ref in references
    ]


def batch_calls(
    requests: Sequence[resolver_pb2.ResolveReferenceRequest],
) -> list[resolver_pb2.BatchResolveReferencesRequest]:
    """One BatchResolveReferences request per BATCH_LIMIT references, in order."""
    return [
        resolver_pb2.BatchResolveReferencesRequest(requests=requests[i : i + BATCH_LIMIT])
        for i in range(0, len(requests), BATCH_LIMIT)
    ]


def batch_results(response: resolver_pb2.BatchResolveReferencesResponse) -> list[BatchResult]:
    results = []
    for result in response.results:
        if result.HasField("error") and result.error.code != 0:
            results.append(BatchResult(result.reference, None, from_status(result.error)))
        else:
            results.append(BatchResult(result.reference, result.resolution, None))
    return results
