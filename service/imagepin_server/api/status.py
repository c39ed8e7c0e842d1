"""The one mapping from domain errors to gRPC status, with a google.rpc.ErrorInfo detail.

Nothing else in the service picks a status code. An error is matched by its class's MRO, so a
new subclass inherits its family's code without touching this table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import grpc
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

from imagepin_server import errors

ERROR_DOMAIN: Final = "imagepin.dev"
STATUS_DETAILS_KEY: Final = "grpc-status-details-bin"

_CODES: Final[dict[type[errors.ImagepinError], grpc.StatusCode]] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AccessDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.PolicyDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.RateLimited: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.TooLarge: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Timeout: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.IntegrityError: grpc.StatusCode.DATA_LOSS,
    errors.UnsupportedContent: grpc.StatusCode.FAILED_PRECONDITION,
}


@dataclass(frozen=True, slots=True)
class RpcFailure:
    """What a failed RPC sends back: code, message and the serialized google.rpc.Status."""

    code: grpc.StatusCode
    message: str
    details: bytes

    @property
    def trailing_metadata(self) -> tuple[tuple[str, bytes], ...]:
        return ((STATUS_DETAILS_KEY, self.details),)


def status_code_for(error: errors.ImagepinError) -> grpc.StatusCode:
    """The gRPC code for a domain error: the first of its classes found in the table."""
    for cls in type(error).__mro__:
        code = _CODES.get(cls)
        if code is not None:
            return code
    return grpc.StatusCode.INTERNAL


def failure_for(error: errors.ImagepinError) -> RpcFailure:
    """The status, message and ErrorInfo detail sent for a domain error."""
    code = status_code_for(error)
    return _failure(code, _encodable(error.message), error.reason, dict(error.metadata()))


def status_for(error: errors.ImagepinError) -> status_pb2.Status:
    """The google.rpc.Status for a domain error, for answers that carry errors per item."""
    return _status(status_code_for(error), error.message, error.reason, dict(error.metadata()))


def internal_failure() -> RpcFailure:
    """For a bug: say so without leaking internals; the log has the traceback."""
    return _failure(
        grpc.StatusCode.INTERNAL,
        "imagepin failed unexpectedly; the server log has the details",
        "INTERNAL",
        {},
    )


def deadline_failure(seconds: float | None) -> RpcFailure:
    within = f" within {seconds:.3g}s" if seconds is not None else ""
    return _failure(
        grpc.StatusCode.DEADLINE_EXCEEDED,
        f"the call's deadline passed before imagepin could answer{within}",
        "DEADLINE_EXCEEDED",
        {},
    )


def _encodable(text: str) -> str:
    """Text that came from a registry may hold lone surrogates, which protobuf cannot encode."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _status(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str]
) -> status_pb2.Status:
    message = _encodable(message)
    metadata = {_encodable(k): _encodable(v) for k, v in metadata.items()}
    info = error_details_pb2.ErrorInfo(reason=reason, domain=ERROR_DOMAIN, metadata=metadata)
    detail = any_pb2.Any()
    detail.Pack(info)
    return status_pb2.Status(code=code.value[0], message=message, details=[detail])


def _failure(
    code: grpc.StatusCode, message: str, reason: str, metadata: dict[str, str]
) -> RpcFailure:
    status = _status(code, message, reason, metadata)
    return RpcFailure(code=code, message=message, details=status.SerializeToString())
