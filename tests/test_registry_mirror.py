"""The real server reaches a real registry (htpasswd over TLS, test CA) only through a mirror.

The registry name in the references, `upstream.invalid`, never resolves: every answer must come
from the mirror configured for it, with the mirror's own CA and its own credentials (read from a
file), and the tag is resolved there only because the mirror is trusted to resolve.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb

from tests.support.registries import RunningRegistry
from tests.support.secure_registry_fixtures import IMAGE_TAG, PRIVATE_REPOSITORY
from tests.support.server_fixtures import (
    SERVER_BINARY,
    RunningServer,
    start_server,
    stop_server,
)

UPSTREAM = "upstream.invalid"


def configure(tmp_path_factory: pytest.TempPathFactory, tls: RunningRegistry, caps: str) -> str:
    workdir = tmp_path_factory.mktemp("mirror")
    password = workdir / "mirror-password"
    password.write_text(f"{tls.password}\n")
    config = workdir / "registries.toml"
    config.write_text(
        f"""
[registries."{UPSTREAM}"]
mirrors = [{{ url = "https://{tls.host}", capabilities = {caps} }}]
retries = 0

[registries."{tls.host}"]
ca_file = "{tls.ca_file}"
username = "{tls.username}"
password_file = "{password}"
"""
    )
    return str(config)


@pytest.fixture(scope="module")
def mirrored(
    tmp_path_factory: pytest.TempPathFactory, tls_registry: RunningRegistry
) -> Iterator[RunningServer]:
    config = configure(tmp_path_factory, tls_registry, '["pull", "resolve"]')
    server = start_server(
        tmp_path_factory.mktemp("mirrored-server"), env={"IMAGEPIN_REGISTRIES_CONFIG": config}
    )
    yield server
    stop_server(server)


def test_a_tag_resolves_and_content_comes_through_the_mirror(
    mirrored: RunningServer, tls_registry: RunningRegistry
) -> None:
    pushed = tls_registry.extra["images"][f"{PRIVATE_REPOSITORY}:{IMAGE_TAG}"]
    reference = f"{UPSTREAM}/{PRIVATE_REPOSITORY}:{IMAGE_TAG}"
    answer = mirrored.stub.ResolveReference(
        pb.ResolveReferenceRequest(reference=reference), timeout=20
    )
    assert answer.digest == pushed.digest
    assert answer.pinned_reference == f"{UPSTREAM}/{PRIVATE_REPOSITORY}@{pushed.digest}"
    manifest = mirrored.stub.GetManifest(pb.GetManifestRequest(reference=reference), timeout=20)
    assert manifest.raw_manifest == pushed.raw_manifest
    verified = mirrored.stub.VerifyDigest(
        pb.VerifyDigestRequest(
            reference=reference, expected_digest=pushed.digest, include_layers=True
        ),
        timeout=20,
    )
    assert verified.verified
    assert tls_registry.password not in mirrored.log_text()


def test_a_pull_only_mirror_is_not_asked_what_a_tag_means(
    tmp_path_factory: pytest.TempPathFactory, tls_registry: RunningRegistry
) -> None:
    config = configure(tmp_path_factory, tls_registry, '["pull"]')
    server = start_server(
        tmp_path_factory.mktemp("pull-only-server"), env={"IMAGEPIN_REGISTRIES_CONFIG": config}
    )
    try:
        pushed = tls_registry.extra["images"][f"{PRIVATE_REPOSITORY}:{IMAGE_TAG}"]
        with pytest.raises(grpc.RpcError) as caught:
            server.stub.ResolveReference(
                pb.ResolveReferenceRequest(
                    reference=f"{UPSTREAM}/{PRIVATE_REPOSITORY}:{IMAGE_TAG}"
                ),
                timeout=20,
            )
        assert isinstance(caught.value, grpc.Call)
        assert caught.value.code() == grpc.StatusCode.UNAVAILABLE  # upstream.invalid: no such host
        by_digest = server.stub.GetManifest(
            pb.GetManifestRequest(reference=f"{UPSTREAM}/{PRIVATE_REPOSITORY}@{pushed.digest}"),
            timeout=20,
        )
        assert by_digest.digest == pushed.digest
    finally:
        stop_server(server)


@pytest.mark.parametrize(
    ("text", "named"),
    [
        (
            '[registries."ghcr.io"]\npassword_env = "UNSET_FOR_THIS_TEST"\nusername = "u"',
            "password_env",
        ),
        ("[network]\nallow_loopback = 1", "network.allow_loopback"),
    ],
)
def test_a_bad_registries_file_stops_the_start_naming_file_and_key(
    tmp_path: Path, text: str, named: str
) -> None:
    config = tmp_path / "registries.toml"
    config.write_text(text)
    result = subprocess.run(
        [SERVER_BINARY, "--registries-config", str(config), "--listen", "127.0.0.1:0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert str(config) in result.stderr
    assert named in result.stderr
