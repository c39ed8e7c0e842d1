"""When a loopback or insecure host is tried over plain http, and when that is remembered.

Only a TLS handshake answered in plain HTTP means "this host does not speak TLS". A refused
connection (a TLS registry restarting) or a name that does not resolve must leave the host on
https, or its credentials would go out in clear until the process restarts.
"""

from __future__ import annotations

import json
import socket
import ssl
from collections.abc import Callable

import httpx
import pytest
from imagepin_server import errors, mediatypes
from imagepin_server.digests import Digest
from imagepin_server.reference import Tag
from imagepin_server.registry import RegistryClient, RegistryHosts
from imagepin_server.registry.config import Limits, RegistriesConfig
from imagepin_server.registry.credentials import AnonymousKeychain
from imagepin_server.registry.tls import peer_speaks_plain_http

from tests.registry.helpers import ref
from tests.support.hostile_registry import launch_hostile_registry, reply

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST}).encode()
HEADERS = {
    "Content-Type": mediatypes.OCI_MANIFEST,
    "Docker-Content-Digest": str(Digest.of(MANIFEST)),
}
HOST = "127.0.0.1:5999"  # loopback, so http may be used; the mock transport answers for it
REPOSITORY = "fallback/app"


def refused(request: httpx.Request) -> httpx.ConnectError:
    cause = ConnectionRefusedError(111, "Connect call failed")
    error = httpx.ConnectError("All connection attempts failed", request=request)
    error.__cause__ = cause
    return error


def unresolvable(request: httpx.Request) -> httpx.ConnectError:
    cause = socket.gaierror(-2, "Name or service not known")
    error = httpx.ConnectError("[Errno -2] Name or service not known", request=request)
    error.__cause__ = cause
    return error


def answered_in_plain_http(request: httpx.Request) -> httpx.ConnectError:
    """What connecting with TLS to a plain-HTTP server raises (OpenSSL 3.0's wording)."""
    cause = ssl.SSLError(1, "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)")
    error = httpx.ConnectError(str(cause), request=request)
    error.__cause__ = cause
    return error


def client_for(transport: httpx.MockTransport) -> tuple[RegistryClient, RegistryHosts]:
    hosts = RegistryHosts(config=RegistriesConfig(defaults=Limits(retries=0)))
    return RegistryClient(hosts, AnonymousKeychain(), transport=transport), hosts


@pytest.mark.parametrize("blip", [refused, unresolvable], ids=["refused", "unresolvable"])
async def test_a_connection_error_does_not_switch_a_tls_host_to_http(
    blip: Callable[[httpx.Request], httpx.ConnectError],
) -> None:
    """A TLS-only loopback registry that blips once is still asked over https afterwards."""
    seen: list[str] = []

    def tls_registry(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.scheme)
        if len(seen) == 1:
            raise blip(request)
        if request.url.scheme == "http":  # a TLS port sent plain HTTP
            return httpx.Response(400, content=b"Client sent an HTTP request to an HTTPS server.")
        return httpx.Response(200, content=MANIFEST, headers=HEADERS)

    client, hosts = client_for(httpx.MockTransport(tls_registry))
    try:
        with pytest.raises(errors.RegistryUnavailable):
            await client.get_manifest(ref(HOST, REPOSITORY), Tag("1"))
        assert hosts.endpoint(HOST).scheme == "https"
        fetched = await client.get_manifest(ref(HOST, REPOSITORY), Tag("1"))
    finally:
        await client.aclose()
    assert fetched.raw == MANIFEST
    assert seen == ["https", "https"]


async def test_http_is_remembered_only_once_a_request_over_http_got_an_answer() -> None:
    seen: list[str] = []
    http_attempts = [0]

    def plain_registry(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.scheme)
        if request.url.scheme == "https":
            raise answered_in_plain_http(request)
        http_attempts[0] += 1
        if http_attempts[0] == 1:
            raise refused(request)  # restarting, just then
        return httpx.Response(200, content=MANIFEST, headers=HEADERS)

    client, hosts = client_for(httpx.MockTransport(plain_registry))
    try:
        with pytest.raises(errors.RegistryUnavailable):
            await client.get_manifest(ref(HOST, REPOSITORY), Tag("1"))
        assert hosts.endpoint(HOST).scheme == "https"  # the http attempt failed: nothing kept
        await client.get_manifest(ref(HOST, REPOSITORY), Tag("1"))
        assert hosts.endpoint(HOST).scheme == "http"
        await client.get_manifest(ref(HOST, REPOSITORY), Tag("1"))
    finally:
        await client.aclose()
    assert seen == ["https", "http", "https", "http", "http"]


async def test_a_host_that_answered_over_https_is_never_switched_to_http() -> None:
    calls = [0]

    def registry(request: httpx.Request) -> httpx.Response:
        calls[0] += 1
        if calls[0] == 2:
            raise answered_in_plain_http(request)  # whatever answers now, it is not this host
        assert request.url.scheme == "https"
        return httpx.Response(200, content=MANIFEST, headers=HEADERS)

    client, hosts = client_for(httpx.MockTransport(registry))
    try:
        await client.get_manifest(ref(HOST, REPOSITORY), Tag("1"))
        with pytest.raises(errors.RegistryUnavailable):
            await client.get_manifest(ref(HOST, REPOSITORY), Tag("1"))
        assert hosts.endpoint(HOST).scheme == "https"
    finally:
        await client.aclose()


async def test_a_real_plain_http_server_is_reached_over_http_and_remembered() -> None:
    with launch_hostile_registry() as plain:
        plain.script("GET", f"/v2/{REPOSITORY}/manifests/1", reply(200, MANIFEST, HEADERS))
        hosts = RegistryHosts(config=RegistriesConfig(defaults=Limits(retries=0)))
        client = RegistryClient(hosts, AnonymousKeychain())
        try:
            fetched = await client.get_manifest(ref(plain.host, REPOSITORY), Tag("1"))
        finally:
            await client.aclose()
    assert fetched.raw == MANIFEST
    assert hosts.endpoint(plain.host).scheme == "http"


async def test_a_closed_loopback_port_is_not_tried_over_http() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        host = f"127.0.0.1:{probe.getsockname()[1]}"  # nobody listens once it is closed
    hosts = RegistryHosts(config=RegistriesConfig(defaults=Limits(retries=0)))
    client = RegistryClient(hosts, AnonymousKeychain())
    try:
        with pytest.raises(errors.RegistryUnavailable):
            await client.get_manifest(ref(host, REPOSITORY), Tag("1"))
    finally:
        await client.aclose()
    assert hosts.endpoint(host).scheme == "https"


def test_only_a_plain_http_answer_to_the_handshake_counts() -> None:
    request = httpx.Request("GET", f"https://{HOST}/v2/")
    assert peer_speaks_plain_http(answered_in_plain_http(request))
    layer = ssl.SSLError(1, "[SSL] record layer failure (_ssl.c:1000)")
    wrapped = httpx.ConnectError(str(layer), request=request)
    wrapped.__cause__ = layer
    assert peer_speaks_plain_http(wrapped)
    assert not peer_speaks_plain_http(refused(request))
    assert not peer_speaks_plain_http(unresolvable(request))
    verify = ssl.SSLCertVerificationError(
        1, "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"
    )
    failed = httpx.ConnectError(str(verify), request=request)
    failed.__cause__ = verify
    assert not peer_speaks_plain_http(failed)
    # Text alone, outside an SSL error, does not count.
    assert not peer_speaks_plain_http(httpx.ConnectError("wrong version number", request=request))
