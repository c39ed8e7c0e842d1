"""imagepin: clients of the imagepin.v1.ResolverService, which pins image references to digests.

`ResolverClient` (blocking) and `AsyncResolverClient` (asyncio) have one typed method per RPC;
failures are `ImagepinError` subclasses carrying the gRPC status and the ErrorInfo reason.
"""

from imagepin.aio import AsyncResolverClient
from imagepin.client import ResolverClient
from imagepin.connection import Connection, RetryPolicy
from imagepin.errors import (
    DataLoss,
    DeadlineExceeded,
    FailedPrecondition,
    ImagepinError,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    ResourceExhausted,
    ServiceUnreachable,
    Unauthenticated,
    Unavailable,
    Unimplemented,
)
from imagepin.messages import BatchResult
from imagepin.platforms import format_platform, parse_platform

__all__ = [
    "AsyncResolverClient",
    "BatchResult",
    "Connection",
    "DataLoss",
    "DeadlineExceeded",
    "FailedPrecondition",
    "ImagepinError",
    "InvalidArgument",
    "NotFound",
    "PermissionDenied",
    "ResolverClient",
    "ResourceExhausted",
    "RetryPolicy",
    "ServiceUnreachable",
    "Unauthenticated",
    "Unavailable",
    "Unimplemented",
    "format_platform",
    "parse_platform",
]
