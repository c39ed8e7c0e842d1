"""RegistryClient against a scripted server, for faults a real registry does not produce.

Each test scripts the answers for one repository path, asserts the domain error, and that its
message names the reference so an operator can tell which image the failure was about.
"""

from __future__ import annotations

import gzip
import json

import httpx
import pytest
from imagepin_server import errors, mediatypes
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference, Tag, Target
from imagepin_server.registry import Credentials
from imagepin_server.registry.client import CONFIG_LIMIT, MANIFEST_LIMIT, RegistryClient
from imagepin_server.registry.errors import ERROR_BODY_LIMIT
from imagepin_server.registry.hosts import is_loopback

from tests.registry.helpers import StaticKeychain, ref, registry_client
from tests.support.hostile_registry import (
    Delivery,
    HostileHandler,
    HostileRegistry,
    drip,
    reply,
)
from tests.support.schema1 import sign_schema1

REPOSITORY = "hostile/app"
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {
            "mediaType": mediatypes.OCI_CONFIG,
            "digest": str(Digest.of(b"{}")),
            "size": 2,
        },
        "layers": [],
    }
).encode()
MANIFEST_DIGEST = Digest.of(MANIFEST)
OTHER_DIGEST = Digest.of(b"some other manifest")
OCI = {"Content-Type": mediatypes.OCI_MANIFEST}
HUGE = 32 * 1024 * 1024  # far beyond any socket buffer, so a client that stops reading shows


def manifest_path(target: str) -> str:
    return f"/v2/{REPOSITORY}/manifests/{target}"


def blob_path(digest: Digest) -> str:
    return f"/v2/{REPOSITORY}/blobs/{digest}"


async def request_manifest(
    client: RegistryClient, method: str, name: Reference, target: str
) -> None:
    """HEAD or GET a manifest by tag, for tests that expect both to fail the same way."""
    if method == "HEAD":
        await client.head_manifest(name, Tag(target))
    else:
        await client.get_manifest(name, Tag(target))


def full_name(hostile: HostileRegistry, target: str) -> str:
    separator = "@" if ":" in target else ":"
    return f"{hostile.host}/{REPOSITORY}{separator}{target}"


# --- content that is not what it claims to be ----------------------------------------------------


async def test_docker_content_digest_that_lies_is_refused(hostile: HostileRegistry) -> None:
    lying = {**OCI, "Docker-Content-Digest": str(OTHER_DIGEST)}
    hostile.script("GET", manifest_path("lie"), reply(200, MANIFEST, lying))
    async with registry_client() as client:
        with pytest.raises(errors.DigestMismatch) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("lie"))
    assert full_name(hostile, "lie") in caught.value.message
    assert str(MANIFEST_DIGEST) in caught.value.message
    assert str(OTHER_DIGEST) in caught.value.message


async def test_manifest_by_digest_with_other_bytes_is_refused(hostile: HostileRegistry) -> None:
    headers = {**OCI, "Docker-Content-Digest": str(OTHER_DIGEST)}
    hostile.script("GET", manifest_path(str(OTHER_DIGEST)), reply(200, MANIFEST, headers))
    name = ref(hostile.host, REPOSITORY)
    async with registry_client() as client:
        with pytest.raises(errors.DigestMismatch) as caught:
            await client.get_manifest(name, OTHER_DIGEST, expected=OTHER_DIGEST)
        fetched = await client.fetch_manifest(name, OTHER_DIGEST)
    assert full_name(hostile, str(OTHER_DIGEST)) in caught.value.message
    # fetch_manifest reports the mismatch as data, for VerifyDigest.
    assert (fetched.digest, fetched.claimed) == (MANIFEST_DIGEST, OTHER_DIGEST)


async def test_signed_schema1_is_unsupported_not_a_digest_mismatch(
    hostile: HostileRegistry,
) -> None:
    """Registries name signed schema 1 by its JWS payload, so the bytes never hash to the name."""
    signed = sign_schema1(REPOSITORY, "old", [str(Digest.of(b"layer"))])
    name = Digest.parse(signed.payload_digest)
    headers = {
        "Content-Type": mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST,
        "Docker-Content-Digest": str(name),
    }
    hostile.script("GET", manifest_path(str(name)), reply(200, signed.raw, headers))
    hostile.script("GET", manifest_path("old"), reply(200, signed.raw, headers))
    async with registry_client() as client:
        targets: tuple[tuple[Target, Digest | None], ...] = ((name, name), (Tag("old"), None))
        for target, expected in targets:
            with pytest.raises(errors.UnsupportedContent) as caught:
                await client.get_manifest(ref(hostile.host, REPOSITORY), target, expected=expected)
            assert type(caught.value) is errors.UnsupportedContent
            assert "schema 1" in caught.value.message
            assert full_name(hostile, str(target)) in caught.value.message


async def test_a_mismatch_is_data_loss_unless_the_body_is_schema1(
    hostile: HostileRegistry,
) -> None:
    """A body that says schema 1 is refused as schema 1 whatever type it came as; any other body
    with the wrong bytes is still a mismatch: the schema 1 check opens no way around it."""
    schema1_body = json.dumps({"schemaVersion": 1, "name": REPOSITORY}).encode()
    hostile.script("GET", manifest_path(str(OTHER_DIGEST)), reply(200, schema1_body, OCI))
    async with registry_client() as client:
        name = ref(hostile.host, REPOSITORY)
        with pytest.raises(errors.UnsupportedContent):
            await client.get_manifest(name, OTHER_DIGEST, expected=OTHER_DIGEST)
        hostile.script("GET", manifest_path(str(OTHER_DIGEST)), reply(200, MANIFEST, OCI))
        with pytest.raises(errors.DigestMismatch):
            await client.get_manifest(name, OTHER_DIGEST, expected=OTHER_DIGEST)


async def test_blob_with_other_bytes_is_refused_or_reported(hostile: HostileRegistry) -> None:
    asked = Digest.of(b'{"architecture":"amd64"}')
    hostile.script("GET", blob_path(asked), reply(200, b'{"architecture":"arm64"}'))
    name = ref(hostile.host, REPOSITORY)
    async with registry_client() as client:
        with pytest.raises(errors.DigestMismatch) as caught:
            await client.get_blob(name, asked, limit=CONFIG_LIMIT)
        check = await client.check_blob(name, asked, size=None)
    assert full_name(hostile, str(asked)) in caught.value.message
    assert not check.verified
    assert check.actual == Digest.of(b'{"architecture":"arm64"}')


async def test_blob_longer_than_declared_stops_reading(hostile: HostileRegistry) -> None:
    asked = Digest.of(b"small")
    delivery = Delivery()
    hostile.script("GET", blob_path(asked), reply(200, b"x" * HUGE, delivery=delivery))
    async with registry_client() as client:
        check = await client.check_blob(ref(hostile.host, REPOSITORY), asked, size=5)
    assert not check.verified
    assert check.error is not None
    assert not delivery.wait().completed


async def test_a_gzip_content_encoding_is_hashed_as_transferred(hostile: HostileRegistry) -> None:
    """A gzip layer served with Content-Encoding: gzip (object stores do this) is the layer."""
    layer = gzip.compress(b"a tar stream, " * 4096)
    digest = Digest.of(layer)
    hostile.script("GET", blob_path(digest), reply(200, layer, {"Content-Encoding": "gzip"}))
    name = ref(hostile.host, REPOSITORY)
    async with registry_client() as client:
        check = await client.check_blob(name, digest, size=len(layer))
        blob = await client.get_blob(name, digest, limit=CONFIG_LIMIT)
    assert check.verified, check
    assert check.actual_size == len(layer)
    assert blob.data == layer


async def test_registry_requests_ask_for_no_transfer_compression(hostile: HostileRegistry) -> None:
    hostile.script("GET", manifest_path("1"), reply(200, MANIFEST, OCI))
    hostile.script("GET", blob_path(Digest.of(b"{}")), reply(200, b"{}"))
    name = ref(hostile.host, REPOSITORY)
    async with registry_client() as client:
        await client.get_manifest(name, Tag("1"))
        await client.get_blob(name, Digest.of(b"{}"), limit=CONFIG_LIMIT)
    assert [r.headers.get("Accept-Encoding") for r in hostile.requests] == ["identity"] * 2


# --- sizes ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("content_length", [True, False], ids=["content-length", "chunked"])
async def test_oversized_manifest_is_too_large(
    hostile: HostileRegistry, content_length: bool
) -> None:
    body = b" " * (5 * 1024 * 1024)
    hostile.script(
        "GET", manifest_path("big"), reply(200, body, OCI, content_length=content_length)
    )
    async with registry_client() as client:
        with pytest.raises(errors.TooLarge) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("big"))
    assert full_name(hostile, "big") in caught.value.message
    assert str(MANIFEST_LIMIT) in caught.value.message


async def test_head_announcing_an_oversized_manifest_is_too_large(
    hostile: HostileRegistry,
) -> None:
    headers = {
        **OCI,
        "Docker-Content-Digest": str(MANIFEST_DIGEST),
        "Content-Length": str(5 * 1024 * 1024),
    }
    hostile.script("HEAD", manifest_path("big"), reply(200, b"", headers))
    async with registry_client() as client:
        with pytest.raises(errors.TooLarge) as caught:
            await client.head_manifest(ref(hostile.host, REPOSITORY), Tag("big"))
    assert full_name(hostile, "big") in caught.value.message


# --- HEAD answers the client must not trust ------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {**OCI, "Docker-Content-Digest": "sha256:not-hex"},
        {**OCI, "Docker-Content-Digest": str(MANIFEST_DIGEST).upper()},
        {**OCI, "Docker-Content-Digest": "md5:d41d8cd98f00b204e9800998ecf8427e"},
        OCI,
        {"Content-Type": "text/html", "Docker-Content-Digest": str(MANIFEST_DIGEST)},
    ],
    ids=["not-hex", "uppercase", "md5", "missing", "not-a-manifest-type"],
)
async def test_head_without_a_usable_digest_is_none(
    hostile: HostileRegistry, headers: dict[str, str]
) -> None:
    headers = {**headers, "Content-Length": str(len(MANIFEST))}
    hostile.script("HEAD", manifest_path("1"), reply(200, b"", headers))
    async with registry_client() as client:
        assert await client.head_manifest(ref(hostile.host, REPOSITORY), Tag("1")) is None


async def test_head_not_allowed_is_none(hostile: HostileRegistry) -> None:
    hostile.script("HEAD", manifest_path("1"), reply(405, b""))
    async with registry_client() as client:
        assert await client.head_manifest(ref(hostile.host, REPOSITORY), Tag("1")) is None


async def test_head_well_formed_is_believed(hostile: HostileRegistry) -> None:
    headers = {
        "Content-Type": f"{mediatypes.OCI_MANIFEST}; charset=utf-8",
        "Docker-Content-Digest": str(MANIFEST_DIGEST),
        "Content-Length": str(len(MANIFEST)),
    }
    hostile.script("HEAD", manifest_path("1"), reply(200, b"", headers))
    async with registry_client() as client:
        head = await client.head_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert head is not None
    assert (head.digest, head.media_type, head.size) == (
        MANIFEST_DIGEST,
        mediatypes.OCI_MANIFEST,
        len(MANIFEST),
    )


# --- error statuses ------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["HEAD", "GET"])
async def test_rate_limited_says_how_long_to_wait(hostile: HostileRegistry, method: str) -> None:
    body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
    hostile.script(method, manifest_path("1"), reply(429, body, {"Retry-After": "37"}))
    async with registry_client() as client:
        name = ref(hostile.host, REPOSITORY)
        with pytest.raises(errors.RateLimited) as caught:
            await request_manifest(client, method, name, "1")
    assert "retry after 37s" in caught.value.message
    assert full_name(hostile, "1") in caught.value.message


async def test_rate_limited_with_an_http_date_retry_after(hostile: HostileRegistry) -> None:
    when = "Wed, 21 Oct 2015 07:28:00 GMT"
    hostile.script("GET", manifest_path("1"), reply(429, b"", {"Retry-After": when}))
    async with registry_client() as client:
        with pytest.raises(errors.RateLimited) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert full_name(hostile, "1") in caught.value.message
    assert when in caught.value.message
    assert f"{when}s" not in caught.value.message


@pytest.mark.parametrize("method", ["HEAD", "GET"])
async def test_service_unavailable(hostile: HostileRegistry, method: str) -> None:
    hostile.script(method, manifest_path("1"), reply(503, b"upstream is down"))
    async with registry_client() as client:
        name = ref(hostile.host, REPOSITORY)
        with pytest.raises(errors.RegistryUnavailable) as caught:
            await request_manifest(client, method, name, "1")
    assert "503" in caught.value.message
    assert full_name(hostile, "1") in caught.value.message


async def test_denied_carries_the_registry_code(hostile: HostileRegistry) -> None:
    body = b'{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}'
    hostile.script("GET", manifest_path("1"), reply(403, body))
    async with registry_client() as client:
        with pytest.raises(errors.AccessDenied) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert type(caught.value) is errors.AccessDenied
    assert caught.value.registry_code == "DENIED"
    assert "requested access to the resource is denied" in caught.value.message
    assert full_name(hostile, "1") in caught.value.message


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (rb'{"errors":[{"code":"\ud800","message":"no \udfff way"}]}', None),
        (rb'{"errors":[{"code":"DENIED\ud800\u0000","message":"\ud800"}]}', "DENIED"),
    ],
    ids=["lone-surrogate-code", "code-with-a-surrogate"],
)
async def test_error_code_and_message_are_sanitised(
    hostile: HostileRegistry, body: bytes, code: str | None
) -> None:
    """A lone surrogate cannot be encoded: in a message or ErrorInfo the RPC would end UNKNOWN."""
    hostile.script("GET", manifest_path("1"), reply(403, body))
    async with registry_client() as client:
        with pytest.raises(errors.AccessDenied) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert caught.value.registry_code == code
    caught.value.message.encode("utf-8")
    for key, value in caught.value.metadata().items():
        key.encode("utf-8")
        value.encode("utf-8")


async def test_an_error_body_nested_too_deep_is_no_explanation(hostile: HostileRegistry) -> None:
    hostile.script("GET", manifest_path("1"), reply(503, b"[" * 50_000))
    async with registry_client() as client:
        with pytest.raises(errors.RegistryUnavailable) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert caught.value.registry_code is None
    assert full_name(hostile, "1") in caught.value.message


@pytest.mark.parametrize(
    ("body", "headers"),
    [(b"[" * 50_000, {}), (b"not gzip at all", {"Content-Encoding": "gzip"})],
    ids=["nested-too-deep", "undecodable"],
)
async def test_an_unusable_token_response_is_a_bad_registry_response(
    hostile: HostileRegistry, body: bytes, headers: dict[str, str]
) -> None:
    realm = f'Bearer realm="http://{hostile.host}/token",service="hostile"'
    hostile.script("GET", manifest_path("1"), reply(401, b"", {"WWW-Authenticate": realm}))
    hostile.script("GET", "/token", reply(200, body, headers))
    async with registry_client() as client:
        with pytest.raises(errors.BadRegistryResponse) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert full_name(hostile, "1") in caught.value.message
    assert [r.path.partition("?")[0] for r in hostile.requests] == [manifest_path("1"), "/token"]


async def test_huge_error_body_is_not_read_whole(hostile: HostileRegistry) -> None:
    body = b'{"errors":[{"code":"DENIED","message":"' + b"x" * HUGE + b'"}]}'
    delivery = Delivery()
    hostile.script("GET", manifest_path("1"), reply(403, body, delivery=delivery))
    async with registry_client() as client:
        with pytest.raises(errors.AccessDenied) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert full_name(hostile, "1") in caught.value.message
    assert len(caught.value.message) < 1000
    delivery.wait()
    assert not delivery.completed
    assert delivery.sent < HUGE // 2
    assert ERROR_BODY_LIMIT < HUGE // 2


async def test_huge_401_body_before_a_retry_is_not_read_whole(hostile: HostileRegistry) -> None:
    deliveries: list[Delivery] = []
    denied = reply(403, b'{"errors":[{"code":"DENIED","message":"no"}]}')

    def challenge_then_deny(handler: HostileHandler) -> None:
        if handler.headers.get("Authorization"):
            denied(handler)
            return
        deliveries.append(Delivery())
        challenge = {"WWW-Authenticate": 'Basic realm="hostile"'}
        reply(401, b"x" * HUGE, challenge, delivery=deliveries[-1])(handler)

    hostile.script("GET", manifest_path("1"), challenge_then_deny)
    keychain = StaticKeychain({hostile.host: Credentials("user", "password")})
    async with registry_client(keychain) as client:
        with pytest.raises(errors.AccessDenied):
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert len(deliveries) == 1
    assert not deliveries[0].wait().completed


# --- slow registries -----------------------------------------------------------------------------


async def test_body_that_stalls_past_the_read_timeout(
    hostile: HostileRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    hostile.script("GET", manifest_path("slow"), drip(200, MANIFEST, OCI, interval_s=0.6))
    async with registry_client(read_timeout_s=0.2, request_timeout_s=10) as client:
        with pytest.raises(errors.RegistryTimeout) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("slow"))
    assert full_name(hostile, "slow") in caught.value.message
    assert "ReadTimeout" in caught.value.message  # the read bound fired, not the whole-request one


async def test_body_that_drips_past_the_request_deadline(
    hostile: HostileRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every byte arrives well within the read timeout; only the whole-request bound stops it.
    hostile.script("GET", manifest_path("drip"), drip(200, MANIFEST, OCI, interval_s=0.05))
    async with registry_client(request_timeout_s=0.5) as client:
        with pytest.raises(errors.RegistryTimeout) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("drip"))
    assert full_name(hostile, "drip") in caught.value.message
    assert "0.5s" in caught.value.message


# --- token realms --------------------------------------------------------------------------------

PLAIN_HTTP_REALM = 'Bearer realm="http://example.invalid/token",service="hostile"'


class LoopbackOnlyTransport(httpx.AsyncHTTPTransport):
    """Sends loopback requests; records and refuses any other host without connecting."""

    def __init__(self) -> None:
        super().__init__()
        self.refused: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not is_loopback(request.url.netloc.decode()):
            self.refused.append(str(request.url))
            raise httpx.ConnectError("test transport: not a loopback host", request=request)
        return await super().handle_async_request(request)


async def test_plain_http_realm_is_refused_for_a_tls_registry() -> None:
    seen: list[str] = []

    def registry(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(401, headers={"WWW-Authenticate": PLAIN_HTTP_REALM})

    keychain = StaticKeychain({"registry.example": Credentials("user", "password")})
    transport = httpx.MockTransport(registry)
    async with registry_client(keychain, transport=transport) as client:
        with pytest.raises(errors.RegistryUnauthorized) as caught:
            await client.get_manifest(ref("registry.example", REPOSITORY), Tag("1"))
    assert seen == [f"https://registry.example/v2/{REPOSITORY}/manifests/1"]
    assert "registry.example" in caught.value.message
    assert "example.invalid" in caught.value.message
    assert "password" not in caught.value.message


async def test_plain_http_realm_off_loopback_is_refused_for_a_loopback_registry(
    hostile: HostileRegistry,
) -> None:
    hostile.script(
        "GET", manifest_path("1"), reply(401, b"", {"WWW-Authenticate": PLAIN_HTTP_REALM})
    )
    keychain = StaticKeychain({hostile.host: Credentials("user", "password")})
    transport = LoopbackOnlyTransport()
    async with registry_client(keychain, transport=transport) as client:
        with pytest.raises(errors.RegistryUnauthorized) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert transport.refused == []
    assert "example.invalid" in caught.value.message
