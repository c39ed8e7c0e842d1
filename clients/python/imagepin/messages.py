"""Request building and batch results, shared by the blocking and the asyncio client."""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

from google.protobuf import duration_pb2, timestamp_pb2

from imagepin.errors import ImagepinError, from_status
from imagepin.platforms import parse_platform
from imagepin.v1 import resolver_pb2

BATCH_LIMIT: Final = 1000  # the contract's bound on one BatchResolveReferences call

PlatformArg = str | resolver_pb2.Platform | None
Delay = datetime.timedelta | float | None


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
) -> resolver_pb2.ResolveReferenceRequest:
    return resolver_pb2.ResolveReferenceRequest(
        reference=reference,
        platform=platform_message(platform),
        max_staleness=duration(max_staleness),
        stale_if_error=duration(stale_if_error),
        rollout_key=rollout_key,
    )


def signatures_request(
    reference: str, public_keys: Iterable[str], policy: str, platform: PlatformArg
) -> resolver_pb2.VerifySignaturesRequest:
    return resolver_pb2.VerifySignaturesRequest(
        reference=reference,
        public_keys=list(public_keys),
        policy=policy,
        platform=platform_message(platform),
    )


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


def chunks(
    requests: Sequence[resolver_pb2.ResolveReferenceRequest],
) -> list[Sequence[resolver_pb2.ResolveReferenceRequest]]:
    return [requests[i : i + BATCH_LIMIT] for i in range(0, len(requests), BATCH_LIMIT)]


def batch_results(response: resolver_pb2.BatchResolveReferencesResponse) -> list[BatchResult]:
    results = []
    for result in response.results:
        if result.HasField("error") and result.error.code != 0:
            results.append(BatchResult(result.reference, None, from_status(result.error)))
        else:
            results.append(BatchResult(result.reference, result.resolution, None))
    return results
