"""The client library against a server that demands TLS, a client certificate and a token."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from imagepin import Connection, ResolverClient
from imagepin.errors import Unauthenticated

from tests.support.image_fixtures import ImageCatalog
from tests.support.pki import CA, IssuedCert, issue_client_cert, issue_server_cert
from tests.support.server_fixtures import RunningServer, start_server, stop_server

TOKEN = "client-library-token-7f3a"


@dataclass
class Secured:
    server: RunningServer
    client_cert: IssuedCert
    ca_file: Path


@pytest.fixture(scope="module")
def secured(
    tmp_path_factory: pytest.TempPathFactory, test_ca: CA, server_env: dict[str, str]
) -> Iterator[Secured]:
    workdir = tmp_path_factory.mktemp("client-secured")
    server_cert = issue_server_cert(test_ca, workdir / "server-tls", name="imagepin")
    client_cert = issue_client_cert(test_ca, workdir / "client-tls", "deploy-tool")
    tokens = workdir / "tokens"
    tokens.write_text(f"{TOKEN}\n")
    server = start_server(
        workdir,
        env={
            **server_env,
            "IMAGEPIN_TLS_CERT_FILE": str(server_cert.cert_path),
            "IMAGEPIN_TLS_KEY_FILE": str(server_cert.key_path),
            "IMAGEPIN_TLS_CLIENT_CA_FILE": str(test_ca.cert_path),
            "IMAGEPIN_AUTH_TOKENS_FILE": str(tokens),
        },
        credentials=grpc.ssl_channel_credentials(
            test_ca.cert_pem, client_cert.key_pem, client_cert.cert_pem
        ),
    )
    try:
        yield Secured(server, client_cert, test_ca.cert_path)
    finally:
        stop_server(server)


def connection(secured: Secured, *, token: str | None) -> Connection:
    return Connection(
        target=secured.server.target,
        ca_file=secured.ca_file,
        client_cert_file=secured.client_cert.cert_path,
        client_key_file=secured.client_cert.key_path,
        token=token,
    )


def test_client_resolves_over_mutual_tls_with_a_token(
    secured: Secured, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    with ResolverClient(connection=connection(secured, token=TOKEN)) as client:
        answer = client.resolve(image.reference)
    assert answer.digest == image.digest


def test_client_without_the_token_is_told_it_is_unauthenticated(
    secured: Secured, pushed_images: ImageCatalog
) -> None:
    with (
        ResolverClient(connection=connection(secured, token=None)) as client,
        pytest.raises(Unauthenticated) as refused,
    ):
        client.resolve(pushed_images.single.reference)
    assert refused.value.code == grpc.StatusCode.UNAUTHENTICATED
