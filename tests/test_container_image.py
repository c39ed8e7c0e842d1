"""The container image, for real: built from the Dockerfile with buildah (no daemon), run as uid
10001, pushed to the test registry, and resolved, listed and verified by the imagepin inside it.

The build takes a minute or two (scripts/build-image; its Debian base is made once and cached).
It needs root, buildah and mmdebstrap, which scripts/test installs: without them the tests are
skipped on a developer's machine, and fail in CI.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.duration_pb2 import Duration
from grpc_health.v1 import health_pb2, health_pb2_grpc
from imagepin.v1 import resolver_pb2 as pb

from tests.support import skopeo
from tests.support.registries import RunningRegistry, free_port
from tests.support.server_fixtures import RunningServer, wait_until_serving

ROOT = Path(__file__).resolve().parents[1]
BUILDAH = ["buildah", "--storage-driver", "vfs"]
SERVER_IN_IMAGE = "/opt/imagepin/bin/imagepin-server"


def _buildah(*args: str, timeout: float = 120) -> str:
    result = subprocess.run(
        [*BUILDAH, *args], capture_output=True, text=True, timeout=timeout, check=True
    )
    return result.stdout.strip()


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """The image scripts/build-image builds from this tree, removed afterwards."""
    missing = [tool for tool in ("buildah", "mmdebstrap") if shutil.which(tool) is None]
    if missing or os.geteuid() != 0:  # buildah's vfs storage and chroot isolation want root
        why = "needs root, buildah and mmdebstrap (scripts/test installs them)"
        if os.environ.get("CI"):
            pytest.fail(why, pytrace=False)
        pytest.skip(why)
    tag = f"localhost/imagepin:test-{secrets.token_hex(4)}"
    subprocess.run([str(ROOT / "scripts" / "build-image"), tag], check=True, timeout=1200)
    try:
        yield tag
    finally:
        subprocess.run([*BUILDAH, "rmi", "--force", tag], capture_output=True, check=False)


@pytest.fixture(scope="module")
def container(image: str) -> Iterator[str]:
    """A working container of the image (buildah's, chroot isolation: the host's network)."""
    name = _buildah("from", "--quiet", "--name", f"imagepin-test-{secrets.token_hex(4)}", image)
    try:
        yield name
    finally:
        subprocess.run([*BUILDAH, "rm", name], capture_output=True, check=False)


@pytest.fixture(scope="module")
def server_in_image(
    container: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    """`imagepin-server` as the image runs it (its own user, command and database path)."""
    port = free_port()
    log_path = tmp_path_factory.mktemp("server-in-image") / "server.log"
    command = [
        *BUILDAH, "run", "--isolation", "chroot",
        "--env", f"IMAGEPIN_LISTEN=127.0.0.1:{port}",
        container, "--", "imagepin-server",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    target = f"127.0.0.1:{port}"
    server = RunningServer(
        process, target, "sqlite:////data/imagepin.db", log_path, grpc.insecure_channel(target)
    )
    try:
        wait_until_serving(server)
        yield server
    finally:
        server.channel.close()
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def pushed_image(image: str, plain_registry: RunningRegistry) -> str:
    """The image pushed to the test registry by buildah, as a tag reference."""
    reference = f"{plain_registry.host}/imagepin/server:test"
    _buildah("push", "--quiet", "--tls-verify=false", image, f"docker://{reference}", timeout=600)
    return reference


def _uids_of(executable: str) -> set[int]:
    """Real uids of the running processes whose command line starts with `executable`."""
    uids = set()
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            argv = (status.parent / "cmdline").read_bytes().split(b"\0")
            fields = dict(
                line.split(":", 1) for line in status.read_text().splitlines() if ":" in line
            )
        except OSError:
            continue  # the process ended while we looked
        if any(arg.decode(errors="replace").endswith(executable) for arg in argv[:2]):
            uids.add(int(fields["Uid"].split()[0]))
    return uids


def test_the_image_runs_as_an_unprivileged_user(image: str) -> None:
    config = json.loads(_buildah("inspect", "--type", "image", image))["OCIv1"]["config"]
    assert config["User"] == "10001:10001"
    assert config["Cmd"] == ["imagepin-server"]


def test_the_server_in_the_image_serves_its_health_check_as_uid_10001(
    server_in_image: RunningServer,
) -> None:
    health = health_pb2_grpc.HealthStub(server_in_image.channel)
    answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
    assert answer.status == health_pb2.HealthCheckResponse.SERVING
    assert _uids_of(SERVER_IN_IMAGE) == {10001}


def test_imagepin_resolves_lists_and_verifies_its_own_image(
    server_in_image: RunningServer, pushed_image: str, plain_registry: RunningRegistry
) -> None:
    stub = server_in_image.stub
    seen = skopeo.inspect(pushed_image, registry=plain_registry)
    resolved = stub.ResolveReference(
        pb.ResolveReferenceRequest(reference=pushed_image, max_staleness=Duration()), timeout=30
    )
    assert resolved.digest == seen["Digest"]
    assert resolved.source == pb.ANSWER_SOURCE_REGISTRY

    layers = stub.ListLayers(pb.ListLayersRequest(reference=resolved.pinned_reference), timeout=30)
    config = json.loads(skopeo.inspect_config(pushed_image, registry=plain_registry))
    assert [layer.digest for layer in layers.layers] == seen["Layers"]
    assert [layer.diff_id for layer in layers.layers] == config["rootfs"]["diff_ids"]

    verified = stub.VerifyDigest(
        pb.VerifyDigestRequest(reference=resolved.pinned_reference, include_layers=True),
        timeout=120,
    )
    assert verified.verified
    assert verified.actual_digest == seen["Digest"]
    kinds = [blob.kind for blob in verified.blobs]
    assert kinds.count("layer") == len(seen["Layers"])
    assert all(blob.verified for blob in verified.blobs)
