"""Small helpers the RPC tests share: reading a failed call's ErrorInfo, naming a platform."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status
from imagepin.v1 import resolver_pb2 as pb


def error_info(exc: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    """The ErrorInfo detail of a failed call (fails the test if there is none)."""
    status = rpc_status.from_call(exc)  # type: ignore[arg-type]
    assert status is not None, exc
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


def platform_text(platform: pb.Platform) -> str:
    """ "linux/arm64/v8", as indexes and error messages spell platforms."""
    return "/".join(p for p in (platform.os, platform.architecture, platform.variant) if p)
