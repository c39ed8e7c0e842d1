"""The real imagepin-server against a hostile registry: every fault ends in the right gRPC status
(or the right answer after retries), nothing wrong is recorded, and no credential leaks.

One server for the module, configured by a registries file: loopback is off except the hostile
registry's port and its object storage's, so a token realm on any other loopback port is refused;
credentials for the registry come from an environment variable named in the file.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2, status_pb2
from imagepin.v1 import resolver_pb2 as pb
from imagepin_server import mediatypes
from imagepin_server.digests import Digest
from imagepin_server.store import Database, TagMapping
from sqlalchemy import select

from tests.support.hostile_registry import (
    Behaviour,
    HostileHandler,
    HostileRegistry,
    drip,
    in_turn,
    launch_hostile_registry,
    reply,
    reset_mid_body,
)
from tests.support.registries import free_port
from tests.support.server_fixtures import RunningServer, start_server, stop_server

PASSWORD = "hostile-registry-password-e2e"
USERNAME = "hostile-user"
PASSWORD_ENV = "IMAGEPIN_TEST_HOSTILE_PASSWORD"
CONFIG = json.dumps(
    {"architecture": "amd64", "os": "linux", "rootfs": {"type": "layers", "diff_ids": []}}
).encode()
CONFIG_DIGEST = Digest.of(CONFIG)
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {
            "mediaType": mediatypes.OCI_CONFIG,
            "digest": str(CONFIG_DIGEST),
            "size": len(CONFIG),
        },
        "layers": [],
    }
).encode()
DIGEST = Digest.of(MANIFEST)
OTHER = Digest.of(b"another manifest altogether")
OCI = {"Content-Type": mediatypes.OCI_MANIFEST}
HONEST = {**OCI, "Docker-Content-Digest": str(DIGEST)}
HONEST_HEAD = {**HONEST, "Content-Length": str(len(MANIFEST))}
NO_HEAD = reply(405, b"")


@dataclass
class Setup:
    registry: HostileRegistry  # the hostile registry
    storage: HostileRegistry  # where it redirects blobs (another origin)
    trap: HostileRegistry  # a loopback port the configuration does not allow
    server: RunningServer
    metrics_port: int
    messages: list[str]  # every error message a caller saw


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    workdir = tmp_path_factory.mktemp("hostile-e2e")
    with (
        launch_hostile_registry() as registry,
        launch_hostile_registry() as storage,
        launch_hostile_registry() as trap,
    ):
        config = workdir / "registries.toml"
        config.write_text(
            f"""
[network]
allow_loopback = false
allow = ["127.0.0.1:{port(registry)}", "127.0.0.1:{port(storage)}"]

[defaults]
retries = 3
retry_backoff = 0.05
retry_backoff_max = 0.1
read_timeout = 0.5
request_timeout = 5

[registries."{registry.host}"]
username = "{USERNAME}"
password_env = "{PASSWORD_ENV}"
"""
        )
        metrics_port = free_port()
        server = start_server(
            workdir,
            env={
                "IMAGEPIN_REGISTRIES_CONFIG": str(config),
                PASSWORD_ENV: PASSWORD,
                "IMAGEPIN_INDEX_LAYERS": "false",
                "IMAGEPIN_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
            },
        )
        try:
            yield Setup(registry, storage, trap, server, metrics_port, [])
        finally:
            stop_server(server)


def port(registry: HostileRegistry) -> str:
    return registry.host.rsplit(":", 1)[1]


def manifests(repository: str, target: str = "1") -> str:
    return f"/v2/{repository}/manifests/{target}"


def failure(call: grpc.Call) -> tuple[grpc.StatusCode, str, str]:
    """Code, message and ErrorInfo reason of a failed call."""
    reason = ""
    for key, value in call.trailing_metadata() or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status.FromString(value)
            info = error_details_pb2.ErrorInfo()
            status.details[0].Unpack(info)
            reason = info.reason
    return call.code(), call.details() or "", reason


def resolve_fails(setup: Setup, reference: str) -> tuple[grpc.StatusCode, str, str]:
    with pytest.raises(grpc.RpcError) as caught:
        setup.server.stub.ResolveReference(
            pb.ResolveReferenceRequest(reference=reference), timeout=15
        )
    assert isinstance(caught.value, grpc.Call)
    answer = failure(caught.value)
    setup.messages.append(answer[1])
    return answer


def test_a_lying_docker_content_digest_is_data_loss(setup: Setup) -> None:
    lying = {**OCI, "Docker-Content-Digest": str(OTHER)}
    setup.registry.script("HEAD", manifests("lie/app"), NO_HEAD)
    setup.registry.script("GET", manifests("lie/app"), reply(200, MANIFEST, lying))
    code, message, reason = resolve_fails(setup, f"{setup.registry.host}/lie/app:1")
    assert (code, reason) == (grpc.StatusCode.DATA_LOSS, "DIGEST_MISMATCH")
    assert str(OTHER) in message


def test_a_manifest_that_is_not_the_digest_asked_for_is_data_loss(setup: Setup) -> None:
    setup.registry.script("GET", manifests("swap/app", str(OTHER)), reply(200, MANIFEST, OCI))
    with pytest.raises(grpc.RpcError) as caught:
        setup.server.stub.GetManifest(
            pb.GetManifestRequest(reference=f"{setup.registry.host}/swap/app@{OTHER}"), timeout=15
        )
    assert isinstance(caught.value, grpc.Call)
    assert failure(caught.value)[0::2] == (grpc.StatusCode.DATA_LOSS, "DIGEST_MISMATCH")


def test_a_5_mib_manifest_is_resource_exhausted(setup: Setup) -> None:
    setup.registry.script("HEAD", manifests("big/app"), NO_HEAD)
    setup.registry.script("GET", manifests("big/app"), reply(200, b" " * (5 * 1024 * 1024), OCI))
    code, _, reason = resolve_fails(setup, f"{setup.registry.host}/big/app:1")
    assert (code, reason) == (grpc.StatusCode.RESOURCE_EXHAUSTED, "CONTENT_TOO_LARGE")


def test_bytes_dripping_slower_than_the_timeout_is_deadline_exceeded(setup: Setup) -> None:
    setup.registry.script("HEAD", manifests("drip/app"), NO_HEAD)
    setup.registry.script("GET", manifests("drip/app"), drip(200, MANIFEST, OCI, interval_s=0.8))
    code, _, reason = resolve_fails(setup, f"{setup.registry.host}/drip/app:1")
    assert (code, reason) == (grpc.StatusCode.DEADLINE_EXCEEDED, "REGISTRY_TIMEOUT")


@pytest.mark.parametrize(
    ("repository", "first"),
    [
        ("retry429/app", [reply(429, b"", {"Retry-After": "1"})]),
        ("retry503/app", [reply(503, b""), reply(503, b"")]),
    ],
    ids=["429-retry-after", "503-twice"],
)
def test_retried_until_the_right_answer(
    setup: Setup, repository: str, first: list[Behaviour]
) -> None:
    setup.registry.script(
        "HEAD", manifests(repository), in_turn(*first, reply(200, b"", HONEST_HEAD))
    )
    answer = setup.server.stub.ResolveReference(
        pb.ResolveReferenceRequest(reference=f"{setup.registry.host}/{repository}:1"), timeout=15
    )
    assert answer.digest == str(DIGEST)


def test_a_connection_reset_mid_body_every_time_is_unavailable(setup: Setup) -> None:
    setup.registry.script("HEAD", manifests("reset/app"), NO_HEAD)
    setup.registry.script("GET", manifests("reset/app"), reset_mid_body(200, MANIFEST, OCI))
    code, _, reason = resolve_fails(setup, f"{setup.registry.host}/reset/app:1")
    assert (code, reason) == (grpc.StatusCode.UNAVAILABLE, "REGISTRY_UNAVAILABLE")


@pytest.mark.parametrize(
    ("realm", "rule"),
    [
        ("https://169.254.169.254/latest/meta-data/token", "metadata"),
        ("http://127.0.0.1:{trap}/token", "loopback"),
    ],
    ids=["cloud-metadata", "loopback-port-not-allowed"],
)
def test_a_token_realm_the_guard_refuses_is_permission_denied(
    setup: Setup, realm: str, rule: str
) -> None:
    realm = realm.format(trap=port(setup.trap))
    challenge = {"WWW-Authenticate": f'Bearer realm="{realm}",service="hostile"'}
    repository = f"realm-{rule}/app"
    setup.registry.script("HEAD", manifests(repository), reply(401, b"", challenge))
    setup.registry.script("GET", manifests(repository), reply(401, b"", challenge))
    code, message, reason = resolve_fails(setup, f"{setup.registry.host}/{repository}:1")
    assert (code, reason) == (grpc.StatusCode.PERMISSION_DENIED, "ADDRESS_NOT_ALLOWED")
    assert f"rule: {rule}" in message
    assert setup.trap.requests == []


def test_a_blob_redirected_to_another_host_gets_no_authorization(setup: Setup) -> None:
    repository = "redirect/app"
    setup.storage.script("GET", "/config", reply(200, CONFIG))

    def authenticated(then: Behaviour) -> Behaviour:
        def behave(handler: HostileHandler) -> None:
            if not handler.headers.get("Authorization"):
                reply(401, b"", {"WWW-Authenticate": 'Basic realm="hostile"'})(handler)
            else:
                then(handler)

        return behave

    head, get = reply(200, b"", HONEST_HEAD), reply(200, MANIFEST, HONEST)
    setup.registry.script("HEAD", manifests(repository), authenticated(head))
    setup.registry.script("GET", manifests(repository), authenticated(get))
    setup.registry.script("GET", manifests(repository, str(DIGEST)), authenticated(get))
    setup.registry.script(
        "GET",
        f"/v2/{repository}/blobs/{CONFIG_DIGEST}",
        authenticated(reply(307, b"", {"Location": f"http://{setup.storage.host}/config"})),
    )
    answer = setup.server.stub.GetManifest(
        pb.GetManifestRequest(reference=f"{setup.registry.host}/{repository}:1"), timeout=15
    )
    assert answer.digest == str(DIGEST)
    basic = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert basic in [r.headers.get("Authorization") for r in setup.registry.requests]
    assert [r.path for r in setup.storage.requests] == ["/config"]
    assert all("Authorization" not in r.headers for r in setup.storage.requests)


def test_nothing_wrong_is_recorded(setup: Setup) -> None:
    """Only the answers that were right are in the database, and nothing else."""
    expected = {
        (repo, "1", str(DIGEST)) for repo in ("retry429/app", "retry503/app", "redirect/app")
    }
    deadline = time.monotonic() + 10
    rows: set[tuple[str, str, str]] = set()
    while time.monotonic() < deadline:
        rows = asyncio.run(recorded(setup.server.database_url, setup.registry.host))
        if rows >= expected:
            break
        time.sleep(0.1)
    assert rows == expected


def test_no_credential_in_logs_errors_or_metrics(setup: Setup) -> None:
    metrics = httpx.get(f"http://127.0.0.1:{setup.metrics_port}/metrics", timeout=5).text
    assert "imagepin_registry_requests_total" in metrics
    encoded = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert setup.messages
    for text in (setup.server.log_text(), metrics, *setup.messages):
        assert PASSWORD not in text
        assert encoded not in text


async def recorded(url: str, registry: str) -> set[tuple[str, str, str]]:
    database = Database(url)
    try:
        async with database.session() as session:
            rows = await session.scalars(
                select(TagMapping).where(TagMapping.registry_name == registry)
            )
            return {(row.repository, row.tag, row.digest) for row in rows}
    finally:
        await database.close()


def test_the_registrys_rate_limit_budget_is_exported(setup: Setup) -> None:
    """Docker Hub style `RateLimit-Remaining: 87;w=21600` becomes a gauge for the registry."""
    headers = {**HONEST_HEAD, "RateLimit-Remaining": "87;w=21600"}
    setup.registry.script("HEAD", manifests("budget/app"), reply(200, b"", headers))
    request = pb.ResolveReferenceRequest(reference=f"{setup.registry.host}/budget/app:1")
    assert setup.server.stub.ResolveReference(request, timeout=15).digest == str(DIGEST)
    metrics = httpx.get(f"http://127.0.0.1:{setup.metrics_port}/metrics", timeout=5).text
    gauge = f'imagepin_registry_ratelimit_remaining{{registry="{setup.registry.host}"}} 87.0'
    assert gauge in metrics.splitlines()
