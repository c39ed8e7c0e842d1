"""Failures on every RPC: the right code, a helpful message, an ErrorInfo, and no side effects."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb
from imagepin_server.store import Database, TagMapping, tag_history
from sqlalchemy import func, select

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import free_port
from tests.support.rpc import error_info
from tests.support.server_fixtures import RunningServer

DOMAIN = "imagepin.dev"
SOME_DIGEST = "sha256:" + "1" * 64
RPCS = ("ResolveReference", "GetManifest", "ListLayers", "VerifyDigest")
NEVER = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})


def _call(
    server: RunningServer,
    rpc: str,
    reference: str,
    *,
    platform: pb.Platform | None = None,
    timeout: float = 10,
) -> Any:
    """Call one RPC with a reference (VerifyDigest also gets a well-formed expected digest)."""
    stub = server.stub
    if rpc == "ResolveReference":
        return stub.ResolveReference(
            pb.ResolveReferenceRequest(reference=reference, platform=platform), timeout=timeout
        )
    if rpc == "GetManifest":
        return stub.GetManifest(
            pb.GetManifestRequest(reference=reference, platform=platform), timeout=timeout
        )
    if rpc == "ListLayers":
        return stub.ListLayers(
            pb.ListLayersRequest(reference=reference, platform=platform), timeout=timeout
        )
    return stub.VerifyDigest(
        pb.VerifyDigestRequest(
            reference=reference,
            expected_digest=SOME_DIGEST,
            include_layers=True,
            platform=platform,
        ),
        timeout=timeout,
    )


def _fail(call: Callable[[], Any], code: grpc.StatusCode) -> grpc.RpcError:
    """Run a call that must fail with `code`; return its error."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    error = caught.value
    assert error.code() not in NEVER, error
    assert error.code() == code, error
    return error


async def _row_count(url: str) -> int:
    """How many tag mappings the server's database holds."""
    database = Database(url)
    try:
        async with database.session() as session:
            return int(await session.scalar(select(func.count()).select_from(TagMapping)) or 0)
    finally:
        await database.close()


@pytest.fixture
async def nothing_recorded(server: RunningServer) -> AsyncIterator[None]:
    """Fails the test if the server recorded any tag mapping while it ran."""
    before = await _row_count(server.database_url)
    yield
    assert await _row_count(server.database_url) == before, "a failed RPC recorded a mapping"


@pytest.fixture
def silent_registry() -> Iterator[str]:
    """`127.0.0.1:PORT` of a socket that accepts connections and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(16)
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def _rpc_records(server: RunningServer, reference: str) -> list[dict[str, object]]:
    """The server's per-RPC log lines for calls with this reference."""
    return [
        r
        for r in server.log_records()
        if r.get("logger") == "imagepin.rpc" and r.get("reference") == reference
    ]


def _handler_crashes(server: RunningServer, since: int) -> list[dict[str, object]]:
    """Log lines, from the `since`-th on, about a servicer method raising unexpectedly."""
    return [
        r
        for r in server.log_records()[since:]
        if r.get("level") == "error" and "raised by servicer method" in str(r.get("message"))
    ]


@pytest.fixture(scope="module")
def host(pushed_images: ImageCatalog) -> str:
    """The plain registry's host, as references spell it."""
    return pushed_images.single.registry


# --- malformed references -----------------------------------------------------------------------


BAD_REFERENCES = [
    pytest.param("{host}/Library/Alpine:3.19", "lowercase", id="uppercase"),
    pytest.param("", "required", id="empty"),
    pytest.param("a" * 2000, "2000 characters", id="2000-chars"),
    pytest.param(" {host}/library/alpine:3.19", "whitespace", id="leading-space"),
    pytest.param("{host}/library/alpine:3.19\n", "whitespace", id="trailing-newline"),
    pytest.param("{host}/library/al pine:3.19", "al pine", id="inner-space"),
    pytest.param("{host}/library/alpine@sha256:short", "64 hex characters", id="short-digest"),
    pytest.param("{host}/library/alpine:3.19@sha256:short", "64 hex characters", id="tag-short"),
    pytest.param("{host}/library/alpine:", "missing tag", id="empty-tag"),
]


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize(("template", "hint"), BAD_REFERENCES)
@pytest.mark.usefixtures("nothing_recorded")
def test_bad_reference_is_invalid_argument(
    server: RunningServer, host: str, rpc: str, template: str, hint: str
) -> None:
    reference = template.format(host=host)
    error = _fail(lambda: _call(server, rpc, reference), grpc.StatusCode.INVALID_ARGUMENT)

    message = error.details() or ""
    assert hint in message
    assert len(message) < 600, "the message must not echo a huge reference back"
    if reference and len(reference) < 100:
        assert reference.strip() in message or repr(reference)[1:-1] in message
    assert error_info(error).reason == "INVALID_REFERENCE"


# --- missing content ----------------------------------------------------------------------------


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.usefixtures("nothing_recorded")
def test_unknown_tag_is_not_found(server: RunningServer, host: str, rpc: str) -> None:
    reference = f"{host}/library/alpine:no-such-tag"
    error = _fail(lambda: _call(server, rpc, reference), grpc.StatusCode.NOT_FOUND)

    message = error.details() or ""
    assert "MANIFEST_UNKNOWN" in message
    assert "library/alpine:no-such-tag" in message
    info = error_info(error)
    assert info.reason == "MANIFEST_NOT_FOUND"
    assert info.metadata["registry_code"] == "MANIFEST_UNKNOWN"
    assert info.metadata["registry"] == host


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.usefixtures("nothing_recorded")
def test_unknown_digest_is_not_found(server: RunningServer, host: str, rpc: str) -> None:
    reference = f"{host}/library/alpine@{SOME_DIGEST}"
    error = _fail(lambda: _call(server, rpc, reference), grpc.StatusCode.NOT_FOUND)

    assert "MANIFEST_UNKNOWN" in (error.details() or "")
    info = error_info(error)
    assert info.reason == "MANIFEST_NOT_FOUND"
    assert info.metadata["registry_code"] == "MANIFEST_UNKNOWN"


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.usefixtures("nothing_recorded")
def test_unknown_repository_is_not_found(server: RunningServer, host: str, rpc: str) -> None:
    reference = f"{host}/no/such/repository:1"
    error = _fail(lambda: _call(server, rpc, reference), grpc.StatusCode.NOT_FOUND)

    message = error.details() or ""
    assert "no/such/repository" in message
    info = error_info(error)
    # distribution answers NAME_UNKNOWN or (newer versions) MANIFEST_UNKNOWN for a repository
    # it never saw; either way the registry's own code is passed on.
    code = info.metadata["registry_code"]
    assert (code, info.reason) in {
        ("NAME_UNKNOWN", "REPOSITORY_NOT_FOUND"),
        ("MANIFEST_UNKNOWN", "MANIFEST_NOT_FOUND"),
    }
    assert code in message
    assert info.metadata["registry"] == host


# --- unreachable registry -----------------------------------------------------------------------


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.usefixtures("nothing_recorded")
def test_unreachable_registry_is_unavailable(server: RunningServer, rpc: str) -> None:
    registry = f"127.0.0.1:{free_port()}"  # free: nobody listens there
    error = _fail(lambda: _call(server, rpc, f"{registry}/x:1"), grpc.StatusCode.UNAVAILABLE)

    message = error.details() or ""
    assert registry in message
    assert "unreachable" in message
    info = error_info(error)
    assert info.reason == "REGISTRY_UNAVAILABLE"
    assert info.metadata["registry"] == registry


# --- malformed platforms ------------------------------------------------------------------------


BAD_PLATFORMS = [
    pytest.param(pb.Platform(os="linux/amd64"), "architecture", id="os-with-slash-no-arch"),
    pytest.param(pb.Platform(os="linux/amd64", architecture="amd64"), "linux/amd64", id="os-slash"),
    pytest.param(pb.Platform(os="linux", architecture="arm 64"), "arm 64", id="arch-space"),
    pytest.param(
        pb.Platform(os="linux", architecture="arm", variant="v7/x"), "v7/x", id="variant-slash"
    ),
]


@pytest.mark.parametrize("rpc", RPCS)
@pytest.mark.parametrize(("platform", "hint"), BAD_PLATFORMS)
@pytest.mark.usefixtures("nothing_recorded")
def test_bad_platform_is_invalid_argument(
    server: RunningServer,
    pushed_images: ImageCatalog,
    rpc: str,
    platform: pb.Platform,
    hint: str,
) -> None:
    reference = pushed_images.index.reference
    error = _fail(
        lambda: _call(server, rpc, reference, platform=platform),
        grpc.StatusCode.INVALID_ARGUMENT,
    )

    message = error.details() or ""
    assert "platform" in message
    assert hint in message
    assert error_info(error).reason == "INVALID_PLATFORM"


# --- deadlines ----------------------------------------------------------------------------------


# Only calls that must ask the registry: an answer from memory can beat any deadline on loopback
# (GetManifest and ListLayers meet deadlines in test_deadline_while_registry_hangs).
@pytest.mark.parametrize("rpc", ["ResolveReference", "VerifyDigest"])
async def test_tiny_deadline_is_deadline_exceeded(
    server: RunningServer, pushed_images: ImageCatalog, rpc: str
) -> None:
    image = pushed_images.index
    platform = pb.Platform(os="linux", architecture="arm64")
    if rpc == "ResolveReference":
        request = pb.ResolveReferenceRequest(reference=image.reference, platform=platform)
        request.max_staleness.FromSeconds(0)
        call = lambda: server.stub.ResolveReference(request, timeout=0.001)  # noqa: E731
    else:
        call = lambda: _call(server, rpc, image.reference, platform=platform, timeout=0.001)  # noqa: E731
    _fail(call, grpc.StatusCode.DEADLINE_EXCEEDED)
    # The registry request the call started is shared with any other caller and may finish
    # after this caller gave up; what it records must then be the truth, never anything else.
    database = Database(server.database_url)
    try:
        async with database.session() as session:
            rows = await tag_history(session, image.registry, image.repository, image.tag or "")
    finally:
        await database.close()
    assert {row.digest for row in rows} <= {image.digest}


@pytest.mark.parametrize("rpc", RPCS)
def test_deadline_while_registry_hangs(
    server: RunningServer, silent_registry: str, rpc: str
) -> None:
    reference = f"{silent_registry}/slow/app:1"
    error = _fail(
        lambda: _call(server, rpc, reference, timeout=0.3), grpc.StatusCode.DEADLINE_EXCEEDED
    )
    assert error.code() == grpc.StatusCode.DEADLINE_EXCEEDED


def test_cancelled_call_is_logged_cleanly(server: RunningServer, silent_registry: str) -> None:
    reference = f"{silent_registry}/slow/cancelled:1"
    since = len(server.log_records())
    future = server.stub.ResolveReference.future(
        pb.ResolveReferenceRequest(reference=reference), timeout=10
    )
    time.sleep(0.3)  # the server is now waiting on the silent registry
    assert future.cancel()
    assert future.cancelled()

    deadline = time.monotonic() + 3
    while time.monotonic() < deadline and not _rpc_records(server, reference):
        if _handler_crashes(server, since):
            break
        time.sleep(0.05)
    records = _rpc_records(server, reference)
    assert _handler_crashes(server, since) == []
    assert [r.get("code") for r in records] == ["CANCELLED"]
