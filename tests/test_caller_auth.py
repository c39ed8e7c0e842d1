"""Callers of the real server must authenticate: TLS, a client certificate and a bearer token.

Without the certificate the handshake fails (UNAVAILABLE); without the token the answer is
UNAUTHENTICATED with a reason; health checks need no token; tokens rotate by rewriting their
file; no token reaches the log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from imagepin.v1 import resolver_pb2 as pb
from imagepin.v1 import resolver_pb2_grpc

from tests.support.pki import CA, issue_client_cert, issue_server_cert
from tests.support.server_fixtures import RunningServer, start_server, stop_server

TOKEN = "caller-token-0123456789abcdef"
ROTATED = "rotated-caller-token-fedcba9876543210"
LAYER = "sha256:" + "a" * 64


@dataclass
class Secured:
    server: RunningServer
    tokens: Path
    with_cert: grpc.ChannelCredentials
    without_cert: grpc.ChannelCredentials


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory, test_ca: CA) -> Iterator[Secured]:
    workdir = tmp_path_factory.mktemp("caller-auth")
    server_cert = issue_server_cert(test_ca, workdir / "server-tls", name="imagepin")
    client_cert = issue_client_cert(test_ca, workdir / "client-tls", "ci-pipeline")
    tokens = workdir / "tokens"
    tokens.write_text(f"# one token per line\n{TOKEN}\n")
    with_cert = grpc.ssl_channel_credentials(
        test_ca.cert_pem, client_cert.key_pem, client_cert.cert_pem
    )
    without_cert = grpc.ssl_channel_credentials(test_ca.cert_pem)
    server = start_server(
        workdir,
        env={
            "IMAGEPIN_TLS_CERT_FILE": str(server_cert.cert_path),
            "IMAGEPIN_TLS_KEY_FILE": str(server_cert.key_path),
            "IMAGEPIN_TLS_CLIENT_CA_FILE": str(test_ca.cert_path),
            "IMAGEPIN_AUTH_TOKENS_FILE": str(tokens),
        },
        credentials=with_cert,  # health needs no token
    )
    try:
        yield Secured(server, tokens, with_cert, without_cert)
    finally:
        stop_server(server)


def call(
    secured: Secured, credentials: grpc.ChannelCredentials, token: str | None
) -> grpc.StatusCode:
    metadata = [("authorization", f"Bearer {token}")] if token is not None else []
    with grpc.secure_channel(secured.server.target, credentials) as channel:
        stub = resolver_pb2_grpc.ResolverServiceStub(channel)
        try:
            stub.ListImagesWithLayer(
                pb.ListImagesWithLayerRequest(digest=LAYER), metadata=metadata, timeout=10
            )
        except grpc.RpcError as exc:
            if not isinstance(exc, grpc.Call):
                raise
            code, details = exc.code(), exc.details() or ""
        else:
            return grpc.StatusCode.OK
    assert TOKEN not in details
    return code


def test_certificate_and_token_are_both_required(secured: Secured) -> None:
    assert call(secured, secured.with_cert, TOKEN) == grpc.StatusCode.OK
    assert call(secured, secured.without_cert, TOKEN) == grpc.StatusCode.UNAVAILABLE
    assert call(secured, secured.with_cert, None) == grpc.StatusCode.UNAUTHENTICATED
    assert call(secured, secured.with_cert, "wrong-token") == grpc.StatusCode.UNAUTHENTICATED
    assert call(secured, secured.with_cert, TOKEN[:-1]) == grpc.StatusCode.UNAUTHENTICATED


def test_plaintext_callers_are_not_served(secured: Secured) -> None:
    with grpc.insecure_channel(secured.server.target) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            health.Check(health_pb2.HealthCheckRequest(), timeout=5)
    assert isinstance(caught.value, grpc.Call)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_reflection_needs_authentication_too(secured: Secured) -> None:
    with grpc.secure_channel(secured.server.target, secured.with_cert) as channel:
        stub = reflection_pb2_grpc.ServerReflectionStub(channel)
        request = reflection_pb2.ServerReflectionRequest(list_services="")
        with pytest.raises(grpc.RpcError) as caught:
            list(stub.ServerReflectionInfo(iter([request]), timeout=5))
        assert isinstance(caught.value, grpc.Call)
        assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
        answers = list(
            stub.ServerReflectionInfo(
                iter([request]), metadata=[("authorization", f"Bearer {TOKEN}")], timeout=5
            )
        )
        assert answers


def test_tokens_rotate_without_a_restart(secured: Secured) -> None:
    previous = secured.tokens.read_text()
    try:
        replacement = secured.tokens.with_suffix(".new")
        replacement.write_text(f"{ROTATED}\n")
        os.replace(replacement, secured.tokens)
        assert call(secured, secured.with_cert, ROTATED) == grpc.StatusCode.OK
        assert call(secured, secured.with_cert, TOKEN) == grpc.StatusCode.UNAUTHENTICATED
    finally:
        secured.tokens.write_text(previous)
    assert call(secured, secured.with_cert, TOKEN) == grpc.StatusCode.OK


def test_no_token_in_the_log(secured: Secured) -> None:
    call(secured, secured.with_cert, "leaked-if-logged-token")
    log = secured.server.log_text()
    assert "unauthenticated call" in log
    for secret in (TOKEN, ROTATED, "leaked-if-logged-token"):
        assert secret not in log
