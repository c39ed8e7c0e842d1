"""gRPC failures as Python exceptions that keep the status, the message and the ErrorInfo reason.

Callers branch on `reason` (stable, see the README's error table) or on the exception class (one
per status code), never on message text.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, cast

import grpc
from google.rpc import error_details_pb2, status_pb2
from grpc_status import rpc_status

ERROR_DOMAIN: Final = "imagepin.dev"


class ImagepinError(Exception):
    """A failed call: the gRPC status code, the server's message and its ErrorInfo."""

    def __init__(
        self,
        code: grpc.StatusCode,
        message: str,
        *,
        reason: str = "",
        domain: str = "",
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.reason = reason
        self.domain = domain
        self.metadata: dict[str, str] = dict(metadata or {})

    def __str__(self) -> str:
        reason = f" [{self.reason}]" if self.reason else ""
        return f"{self.code.name}{reason}: {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code.name}, {self.message!r}, reason={self.reason!r})"


class InvalidArgument(ImagepinError, ValueError):
    """A malformed reference, digest or platform (or connection setting).

    Also a ValueError, so code that caught the library's ValueErrors before still does.
    """


class NotFound(ImagepinError):
    """No such repository, tag, manifest, blob or platform."""


class PermissionDenied(ImagepinError):
    """The registry refused the service's credentials."""


class Unauthenticated(ImagepinError):
    """The service refused our credentials (bearer token or client certificate)."""


class Unavailable(ImagepinError):
    """The service, its registry or its database could not be reached; retrying may help."""


class ServiceUnreachable(Unavailable):
    """The imagepin service itself could not be reached (not running, wrong --server, a TLS
    mismatch): UNAVAILABLE from the channel, with no ErrorInfo from the service."""


UNREACHABLE_HINT: Final = "is imagepin-server running? Set --server or IMAGEPIN_SERVER"


def unreachable(target: str, details: str) -> ServiceUnreachable:
    """The error for a service that did not answer at all, with what to check first."""
    why = " ".join(details.split())  # gRPC's own words, kept to one line
    message = f"cannot reach the imagepin service at {target}: {UNREACHABLE_HINT}"
    return ServiceUnreachable(grpc.StatusCode.UNAVAILABLE, f"{message} (UNAVAILABLE: {why})")


class DeadlineExceeded(ImagepinError):
    """The call's deadline passed, or the registry was too slow."""


class ResourceExhausted(ImagepinError):
    """A registry rate limit, or content over a size bound."""


class DataLoss(ImagepinError):
    """The registry's bytes do not hash to the digest they should."""


class FailedPrecondition(ImagepinError):
    """Content imagepin cannot interpret."""


class Unimplemented(ImagepinError):
    """The service does not offer this RPC (an older server)."""


_CLASSES: Final[dict[grpc.StatusCode, type[ImagepinError]]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgument,
    grpc.StatusCode.NOT_FOUND: NotFound,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDenied,
    grpc.StatusCode.UNAUTHENTICATED: Unauthenticated,
    grpc.StatusCode.UNAVAILABLE: Unavailable,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceeded,
    grpc.StatusCode.RESOURCE_EXHAUSTED: ResourceExhausted,
    grpc.StatusCode.DATA_LOSS: DataLoss,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPrecondition,
    grpc.StatusCode.UNIMPLEMENTED: Unimplemented,
}
_BY_NUMBER: Final[dict[int, grpc.StatusCode]] = {code.value[0]: code for code in grpc.StatusCode}


def make_error(
    code: grpc.StatusCode,
    message: str,
    *,
    reason: str = "",
    domain: str = "",
    metadata: Mapping[str, str] | None = None,
) -> ImagepinError:
    """The exception of the class for `code`."""
    cls = _CLASSES.get(code, ImagepinError)
    return cls(code, message, reason=reason, domain=domain, metadata=metadata)


def from_status(status: Any) -> ImagepinError:
    """From a google.rpc.Status (a batch result's error): code, message and ErrorInfo."""
    code = _BY_NUMBER.get(int(status.code), grpc.StatusCode.UNKNOWN)
    return _with_error_info(code, str(status.message), status)


def from_rpc_error(error: grpc.RpcError, target: str = "") -> ImagepinError:
    """From a failed call (sync or asyncio): the rich status in the trailer when it is there.

    UNAVAILABLE without an ErrorInfo never came from the service (which always sends one, e.g.
    REGISTRY_UNAVAILABLE): with the `target` called, it is ServiceUnreachable and says so.
    """
    call = cast(grpc.Call, error)
    code = call.code()
    message = call.details() or ""
    try:
        status = rpc_status.from_call(call)
    except ValueError:  # a proxy rewrote code or message; trust the call's own
        status = None
    answer = (
        make_error(code, message) if status is None else _with_error_info(code, message, status)
    )
    if target and code is grpc.StatusCode.UNAVAILABLE and not answer.reason:
        return unreachable(target, message)
    return answer


def _with_error_info(code: grpc.StatusCode, message: str, status: Any) -> ImagepinError:
    for detail in cast(status_pb2.Status, status).details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return make_error(
                code,
                message,
                reason=info.reason,
                domain=info.domain,
                metadata=dict(info.metadata),
            )
    return make_error(code, message)
