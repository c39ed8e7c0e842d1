"""The client library against the real service: typed answers, errors that keep their reason,
TLS options, tokens and retries."""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from imagepin import (
    AsyncResolverClient,
    Connection,
    InvalidArgument,
    NotFound,
    ResolverClient,
    Unavailable,
)
from imagepin.client import open_channel
from imagepin.connection import RetryPolicy

from tests.support.image_fixtures import ImageCatalog
from tests.support.pki import CA, issue_client_cert, issue_server_cert, make_ca
from tests.support.registries import free_port
from tests.support.server_fixtures import RunningServer


def test_every_rpc_has_a_typed_method(service: RunningServer, pushed_images: ImageCatalog) -> None:
    single = pushed_images.single
    with ResolverClient(service.target) as client:
        assert client.resolve(single.reference).digest == single.digest
        assert client.get_manifest(single.reference).raw_manifest == single.raw_manifest
        layers = client.list_layers(single.reference).layers
        assert [layer.diff_id for layer in layers] == list(single.diff_ids)
        assert client.verify_digest(single.reference, single.digest).verified


def test_errors_keep_status_message_and_reason(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    missing = f"{pushed_images.registry.host}/nope/missing:1"
    with ResolverClient(service.target) as client:
        with pytest.raises(NotFound) as not_found:
            client.resolve(missing)
        with pytest.raises(InvalidArgument) as invalid:
            client.resolve("bad ref!!")
    assert not_found.value.code is grpc.StatusCode.NOT_FOUND
    assert not_found.value.reason in ("MANIFEST_NOT_FOUND", "REPOSITORY_NOT_FOUND")
    assert not_found.value.domain == "imagepin.dev"
    assert missing in not_found.value.message
    assert invalid.value.reason == "INVALID_REFERENCE"


async def test_async_client(service: RunningServer, pushed_images: ImageCatalog) -> None:
    single = pushed_images.single
    async with AsyncResolverClient(service.target) as client:
        assert (await client.resolve(single.reference)).digest == single.digest
        manifest = await client.get_manifest(single.reference)
        assert manifest.image_config.digest == single.config_digest
        with pytest.raises(NotFound) as error:
            await client.list_layers(f"{pushed_images.registry.host}/nope/x:1")
        assert error.value.reason


def test_batch_resolve_one_result_per_reference(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    single = pushed_images.single
    with ResolverClient(service.target) as client:
        good, bad = client.batch_resolve([single.reference, "bad ref!!"])
    assert good.ok
    assert good.resolution is not None
    assert good.resolution.digest == single.digest
    assert isinstance(bad.error, InvalidArgument)
    assert bad.error.reason == "INVALID_REFERENCE"


def test_unreachable_service_is_unavailable_after_retries() -> None:
    connection = Connection(
        target=f"127.0.0.1:{free_port()}",
        timeout_s=5,
        retry=RetryPolicy(max_attempts=3, initial_backoff_s=0.05, max_backoff_s=0.1),
    )
    with ResolverClient(connection=connection) as client, pytest.raises(Unavailable):
        client.resolve("alpine")


def test_retry_policy_is_a_service_config_for_unavailable() -> None:
    options = dict(Connection().options())
    assert options["grpc.enable_retries"] == 1
    [method] = json.loads(options["grpc.service_config"])["methodConfig"]
    assert method["name"] == [{"service": "imagepin.v1.ResolverService"}]
    assert method["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]


def test_bearer_token_and_rotated_token_file(tmp_path: Path) -> None:
    assert Connection(token="s3cret").call_metadata()() == (("authorization", "Bearer s3cret"),)
    token_file = tmp_path / "token"
    token_file.write_text("first\n")
    metadata = Connection(token_file=token_file).call_metadata()
    assert metadata() == (("authorization", "Bearer first"),)
    token_file.write_text("second\n")
    assert metadata() == (("authorization", "Bearer second"),)
    assert Connection().call_metadata()() == ()


def test_connection_from_environment(tmp_path: Path) -> None:
    connection = Connection.from_env(
        {"IMAGEPIN_SERVER": "imagepin:443", "IMAGEPIN_TLS": "true", "IMAGEPIN_TIMEOUT": "2.5"}
    )
    assert (connection.target, connection.uses_tls, connection.timeout_s) == (
        "imagepin:443",
        True,
        2.5,
    )


@pytest.fixture(scope="module")
def mtls_health_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, CA]]:
    """A gRPC server demanding client certificates (serving only grpc.health, which the
    library provides), to prove the client's TLS and mTLS channels until the service has TLS."""
    workdir = tmp_path_factory.mktemp("mtls")
    ca = make_ca(workdir)
    issued = issue_server_cert(ca, workdir, hosts=("localhost", "imagepin.test"))
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    credentials = grpc.ssl_server_credentials(
        [(issued.key_pem, issued.cert_pem)],
        root_certificates=ca.cert_pem,
        require_client_auth=True,
    )
    port = server.add_secure_port("127.0.0.1:0", credentials)
    server.start()
    yield f"127.0.0.1:{port}", ca
    server.stop(grace=None)


def _health(connection: Connection) -> int:
    with open_channel(connection) as channel:
        answer = health_pb2_grpc.HealthStub(channel).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        return int(answer.status)


def test_mutual_tls_channel(mtls_health_server: tuple[str, CA], tmp_path: Path) -> None:
    target, ca = mtls_health_server
    client_cert = issue_client_cert(ca, tmp_path, "deploy-bot")
    connection = Connection(
        target=target,
        ca_file=ca.cert_path,
        client_cert_file=client_cert.cert_path,
        client_key_file=client_cert.key_path,
        server_name="imagepin.test",
    )
    assert _health(connection) == health_pb2.HealthCheckResponse.SERVING
    without_cert = Connection(target=target, ca_file=ca.cert_path, server_name="imagepin.test")
    with pytest.raises(grpc.RpcError):
        _health(without_cert)
    with pytest.raises(ValueError, match="both"):
        Connection(target=target, client_cert_file=client_cert.cert_path).credentials()
