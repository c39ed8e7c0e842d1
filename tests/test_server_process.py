"""The server as people run it: grpcurl through reflection, health, logs, SIGTERM drain."""

from __future__ import annotations

import importlib.metadata
import json
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb
from imagepin_server.store import head_revision

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import RunningRegistry
from tests.support.server_fixtures import RunningServer, start_server, stop_server

GRPCURL = str(Path(sys.executable).with_name("grpcurl"))
SERVICE = "imagepin.v1.ResolverService"


def grpcurl(
    server: RunningServer, *args: str, data: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the real grpcurl binary: `grpcurl -plaintext [-d DATA] TARGET ARGS…`."""
    flags = ["-plaintext", *(["-d", data] if data is not None else [])]
    return subprocess.run(
        [GRPCURL, *flags, server.target, *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_grpcurl_lists_services_through_reflection(server: RunningServer) -> None:
    result = grpcurl(server, "list")
    assert result.returncode == 0, result.stderr
    services = set(result.stdout.split())
    assert {SERVICE, "grpc.health.v1.Health"} <= services


def test_grpcurl_describes_the_contract_without_a_proto_file(server: RunningServer) -> None:
    result = grpcurl(server, "describe", f"{SERVICE}.ResolveReference")
    assert result.returncode == 0, result.stderr
    assert "ResolveReferenceRequest" in result.stdout
    message = grpcurl(server, "describe", "imagepin.v1.ResolveReferenceRequest")
    assert "string reference = 1;" in message.stdout
    assert ".imagepin.v1.Platform platform = 2;" in message.stdout


def test_grpcurl_resolves_the_same_digest_as_skopeo(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    body = json.dumps({"reference": image.reference})
    result = grpcurl(server, f"{SERVICE}/ResolveReference", data=body)
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["digest"] == image.digest
    assert answer["pinned_reference"] == image.pinned_reference


def test_grpcurl_shows_a_clear_error_for_a_bad_reference(server: RunningServer) -> None:
    body = json.dumps({"reference": "Redis:7"})
    result = grpcurl(server, f"{SERVICE}/ResolveReference", data=body)
    assert result.returncode != 0
    assert "InvalidArgument" in result.stderr
    assert "must be lowercase" in result.stderr


def test_health_check_answers_serving_for_the_service(server: RunningServer) -> None:
    result = grpcurl(server, "grpc.health.v1.Health/Check", data=json.dumps({"service": SERVICE}))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "SERVING"


def test_each_rpc_logs_one_json_line_with_reference_digest_registry_latency(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.deep
    server.stub.ResolveReference(pb.ResolveReferenceRequest(reference=image.reference))
    deadline = time.monotonic() + 5
    lines: list[dict[str, object]] = []
    while time.monotonic() < deadline and not lines:
        lines = [
            r
            for r in server.log_records()
            if r.get("method") == "ResolveReference" and r.get("reference") == image.reference
        ]
        time.sleep(0.05)
    assert lines, server.log_text()
    line = lines[-1]
    assert line["code"] == "OK"
    assert line["digest"] == image.digest
    assert line["registry"] == image.registry
    assert isinstance(line["latency_ms"], float | int)


def test_sigterm_lets_in_flight_calls_finish(
    tmp_path: Path, server_env: dict[str, str], plain_registry: RunningRegistry
) -> None:
    """A call in flight when SIGTERM arrives still gets its answer; the process exits 0."""
    stalled = _StallingRegistry()
    running = start_server(tmp_path, env=server_env)
    outcome: dict[str, object] = {}

    def call() -> None:
        try:
            outcome["answer"] = running.stub.ResolveReference(
                pb.ResolveReferenceRequest(reference=f"{stalled.host}/slow/app:1"), timeout=20
            )
        except grpc.RpcError as exc:
            outcome["error"] = exc

    try:
        with stalled:
            worker = threading.Thread(target=call)
            worker.start()
            assert stalled.request_seen.wait(10), "the server never reached the registry"
            running.process.send_signal(15)
            time.sleep(0.3)  # the signal is being handled while the call waits on the registry
            stalled.release.set()
            worker.join(20)
            code = running.process.wait(timeout=20)
    finally:
        stop_server(running)  # kills it if it did not exit: never leave a server behind
    assert code == 0, running.log_text()
    assert "error" not in outcome, outcome.get("error")
    answer = outcome["answer"]
    assert isinstance(answer, pb.ResolveReferenceResponse)
    assert answer.digest == stalled.digest


def test_bad_settings_fail_at_start_with_the_setting_named(tmp_path: Path) -> None:
    binary = str(Path(sys.executable).with_name("imagepin-server"))
    result = subprocess.run(
        [binary, "--listen", "nonsense"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "--listen" in result.stderr
    assert "HOST:PORT" in result.stderr


def test_a_busy_port_is_one_line_naming_the_flag(tmp_path: Path) -> None:
    binary = str(Path(sys.executable).with_name("imagepin-server"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        listen = f"127.0.0.1:{taken.getsockname()[1]}"
        result = subprocess.run(
            [binary, "--listen", listen, "--database-url", f"sqlite:///{tmp_path / 'x.db'}"],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    [line] = [line for line in result.stderr.splitlines() if line.strip()]
    assert line.startswith(f"imagepin-server: cannot listen on {listen}: address already in use")
    assert "--listen" in line


def test_version_names_the_installed_release() -> None:
    binary = str(Path(sys.executable).with_name("imagepin-server"))
    result = subprocess.run(
        [binary, "--version"], capture_output=True, text=True, timeout=30, check=True
    )
    assert result.stdout.split() == ["imagepin-server", importlib.metadata.version("imagepin")]


def test_migrate_command_brings_an_empty_database_to_head(tmp_path: Path) -> None:
    binary = str(Path(sys.executable).with_name("imagepin-server"))
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = subprocess.run(
        [binary, "--database-url", url, "migrate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"database at revision {head_revision()}" in result.stdout


class _StallingRegistry:
    """A registry that holds its answer until the test releases it (a fault real ones lack)."""

    def __init__(self) -> None:
        import hashlib
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        from tests.support.registries import free_port

        self.request_seen = threading.Event()
        self.release = threading.Event()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": "sha256:" + "0" * 64,
                    "size": 2,
                },
                "layers": [],
            }
        ).encode()
        self.digest = "sha256:" + hashlib.sha256(manifest).hexdigest()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, body: bool) -> None:
                outer.request_seen.set()
                outer.release.wait(15)
                self.send_response(200)
                self.send_header("Content-Type", "application/vnd.oci.image.manifest.v1+json")
                self.send_header("Docker-Content-Digest", outer.digest)
                self.send_header("Content-Length", str(len(manifest)))
                self.end_headers()
                if body:
                    self.wfile.write(manifest)

            def do_HEAD(self) -> None:
                self._answer(body=False)

            def do_GET(self) -> None:
                self._answer(body=True)

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.host = f"127.0.0.1:{self.port}"

    def __enter__(self) -> _StallingRegistry:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self._server.shutdown()
        self._server.server_close()


def test_a_password_typed_into_a_reference_never_reaches_the_log(server: RunningServer) -> None:
    reference = "deployer:hunter2-not-logged@ghcr.io/org/app:1"
    with pytest.raises(grpc.RpcError) as refused:
        server.stub.ResolveReference(pb.ResolveReferenceRequest(reference=reference), timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    time.sleep(0.2)  # the log line is written as the call ends
    assert "hunter2-not-logged" not in server.log_text()


def test_the_readme_example_with_localhost_resolves_like_skopeo(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    """`localhost:PORT/library/alpine:3.19`, as the README and people write it."""
    image = pushed_images.single
    reference = image.reference.replace("127.0.0.1", "localhost", 1)
    result = grpcurl(
        server, f"{SERVICE}/ResolveReference", data=json.dumps({"reference": reference})
    )
    assert result.returncode == 0, result.stderr
    answer = json.loads(result.stdout)
    assert answer["digest"] == image.digest
    assert answer["normalized_reference"] == reference
