"""Exit codes scripts can rely on (documented in the README)."""

from __future__ import annotations

from typing import Final

import grpc

OK: Final = 0
NEGATIVE: Final = 1  # the answer is "no": a digest mismatch, unpinned or moved images (--check)
USAGE: Final = 2  # bad flags or arguments (click's own code)
NOT_FOUND: Final = 3  # no such image, tag, platform, or not in the lock file
INVALID: Final = 4  # a malformed reference, digest, platform or input file
UNAVAILABLE: Final = 5  # the service or a registry could not answer (retrying may help)
DENIED: Final = 6  # credentials refused, by the service or by a registry
ERROR: Final = 7  # anything else

_BY_CODE: Final[dict[str, int]] = {
    grpc.StatusCode.NOT_FOUND.name: NOT_FOUND,
    grpc.StatusCode.INVALID_ARGUMENT.name: INVALID,
    grpc.StatusCode.UNAVAILABLE.name: UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED.name: UNAVAILABLE,
    grpc.StatusCode.RESOURCE_EXHAUSTED.name: UNAVAILABLE,
    grpc.StatusCode.PERMISSION_DENIED.name: DENIED,
    grpc.StatusCode.UNAUTHENTICATED.name: DENIED,
}


def for_status(code_name: str) -> int:
    """The exit code for a gRPC status (by name)."""
    return _BY_CODE.get(code_name, ERROR)
