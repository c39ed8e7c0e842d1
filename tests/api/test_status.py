"""Every domain error maps to its intended gRPC code and carries a google.rpc ErrorInfo."""

from __future__ import annotations

import inspect

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2
from imagepin_server import errors
from imagepin_server.api.status import (
    ERROR_DOMAIN,
    STATUS_DETAILS_KEY,
    failure_for,
    status_code_for,
)

Code = grpc.StatusCode

EXPECTED: dict[type[errors.ImagepinError], grpc.StatusCode] = {
    errors.InvalidArgument: Code.INVALID_ARGUMENT,
    errors.BadReference: Code.INVALID_ARGUMENT,
    errors.BadDigest: Code.INVALID_ARGUMENT,
    errors.BadPlatform: Code.INVALID_ARGUMENT,
    errors.ConflictingDigests: Code.INVALID_ARGUMENT,
    errors.BadRolloutKey: Code.INVALID_ARGUMENT,
    errors.BadPattern: Code.INVALID_ARGUMENT,
    errors.BadTagPolicy: Code.INVALID_ARGUMENT,
    errors.BadPageToken: Code.INVALID_ARGUMENT,
    errors.NotFound: Code.NOT_FOUND,
    errors.RepositoryNotFound: Code.NOT_FOUND,
    errors.ManifestNotFound: Code.NOT_FOUND,
    errors.BlobNotFound: Code.NOT_FOUND,
    errors.PlatformNotFound: Code.NOT_FOUND,
    errors.NoMatchingTag: Code.NOT_FOUND,
    errors.AccessDenied: Code.PERMISSION_DENIED,
    errors.RegistryUnauthorized: Code.PERMISSION_DENIED,
    errors.PolicyDenied: Code.PERMISSION_DENIED,
    errors.RegistryNotAllowed: Code.PERMISSION_DENIED,
    errors.AddressNotAllowed: Code.PERMISSION_DENIED,
    errors.Unauthenticated: Code.UNAUTHENTICATED,
    errors.Unavailable: Code.UNAVAILABLE,
    errors.RegistryUnavailable: Code.UNAVAILABLE,
    errors.StoreUnavailable: Code.UNAVAILABLE,
    errors.WatchBehind: Code.UNAVAILABLE,
    errors.RateLimited: Code.RESOURCE_EXHAUSTED,
    errors.PullLimited: Code.RESOURCE_EXHAUSTED,
    errors.AbuseLimited: Code.RESOURCE_EXHAUSTED,
    errors.PullReserveReached: Code.RESOURCE_EXHAUSTED,
    errors.TooLarge: Code.RESOURCE_EXHAUSTED,
    errors.Timeout: Code.DEADLINE_EXCEEDED,
    errors.RegistryTimeout: Code.DEADLINE_EXCEEDED,
    errors.IntegrityError: Code.DATA_LOSS,
    errors.DigestMismatch: Code.DATA_LOSS,
    errors.UnsupportedContent: Code.FAILED_PRECONDITION,
    errors.BadRegistryResponse: Code.FAILED_PRECONDITION,
    errors.BadTrust: Code.INVALID_ARGUMENT,
    errors.BadPublicKey: Code.INVALID_ARGUMENT,
    errors.TrustPolicyNotFound: Code.NOT_FOUND,
}


def concrete_error_classes() -> list[type[errors.ImagepinError]]:
    """Every class defined in imagepin_server.errors below ImagepinError."""
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.ImagepinError)
        and cls is not errors.ImagepinError
        and cls.__module__ == errors.__name__
    ]


def test_the_table_covers_every_error_class() -> None:
    assert set(concrete_error_classes()) == set(EXPECTED), "add new error classes to EXPECTED"


def test_reasons_are_unique() -> None:
    reasons = [cls.reason for cls in concrete_error_classes()]
    assert len(reasons) == len(set(reasons))


@pytest.mark.parametrize(
    "cls", sorted(EXPECTED, key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_status_code(cls: type[errors.ImagepinError]) -> None:
    code = status_code_for(cls("boom"))
    assert code == EXPECTED[cls]
    assert code != Code.INTERNAL


def parse_details(details: bytes) -> tuple[status_pb2.Status, error_details_pb2.ErrorInfo]:
    """The google.rpc.Status and its single ErrorInfo."""
    status = status_pb2.Status.FromString(details)
    assert len(status.details) == 1
    info = error_details_pb2.ErrorInfo()
    assert status.details[0].Unpack(info)
    return status, info


@pytest.mark.parametrize(
    "cls", sorted(EXPECTED, key=lambda c: c.__name__), ids=lambda c: c.__name__
)
def test_details_carry_one_error_info(cls: type[errors.ImagepinError]) -> None:
    error = cls(
        "registry r.example has no manifest for r.example/app:1",
        reference="r.example/app:1",
        registry="r.example",
        registry_code="MANIFEST_UNKNOWN",
    )
    failure = failure_for(error)
    status, info = parse_details(failure.details)
    assert status.code == EXPECTED[cls].value[0]
    assert status.message == failure.message == error.message
    assert info.reason == cls.reason
    assert info.domain == ERROR_DOMAIN == "imagepin.dev"
    assert dict(info.metadata) == {
        "reference": "r.example/app:1",
        "registry": "r.example",
        "registry_code": "MANIFEST_UNKNOWN",
    }
    assert failure.trailing_metadata == ((STATUS_DETAILS_KEY, failure.details),)


def test_unset_metadata_is_left_out() -> None:
    failure = failure_for(errors.BadReference("bad", reference="Bad//Ref"))
    _, info = parse_details(failure.details)
    assert dict(info.metadata) == {"reference": "Bad//Ref"}
    _, info = parse_details(failure_for(errors.StoreUnavailable("down")).details)
    assert dict(info.metadata) == {}
