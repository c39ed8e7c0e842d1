"""Run the real `imagepin-server` as a subprocess, the way users and Kubernetes run it."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import grpc
import httpx
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from imagepin.v1 import resolver_pb2_grpc

from tests.support.registries import RunningRegistry, free_port

STARTUP_TIMEOUT_S = 60.0  # a bound, not a pause: a loaded CI machine can take a while to import
SERVER_BINARY = str(Path(sys.executable).with_name("imagepin-server"))


@dataclass
class RunningServer:
    """A server process and a channel to it."""

    process: subprocess.Popen[bytes]
    target: str
    database_url: str
    log_path: Path
    channel: grpc.Channel

    @property
    def stub(self) -> resolver_pb2_grpc.ResolverServiceStub:
        return resolver_pb2_grpc.ResolverServiceStub(self.channel)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_records(self) -> list[dict[str, object]]:
        """The server's JSON log lines, parsed (other lines skipped)."""
        records = []
        for line in self.log_text().splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records


def write_docker_config(path: Path, registries: list[RunningRegistry]) -> Path:
    """A Docker config.json with `auth` entries for registries that have credentials."""
    auths = {}
    for registry in registries:
        if registry.username and registry.password:
            raw = f"{registry.username}:{registry.password}".encode()
            auths[registry.host] = {"auth": base64.b64encode(raw).decode()}
    path.mkdir(parents=True, exist_ok=True)
    config = path / "config.json"
    config.write_text(json.dumps({"auths": auths}))
    return config


def start_server(
    workdir: Path,
    *,
    database_url: str | None = None,
    env: Mapping[str, str] | None = None,
    credentials: grpc.ChannelCredentials | None = None,
) -> RunningServer:
    """Start `imagepin-server` on a free port and wait until its health check says SERVING
    (with IMAGEPIN_WORKERS, until every worker has said it is serving).

    `credentials` make the channel TLS (for a server started with a certificate).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    url = database_url or f"sqlite:///{workdir / 'imagepin.db'}"
    full_env = {
        **os.environ,
        "IMAGEPIN_LISTEN": f"127.0.0.1:{port}",
        "IMAGEPIN_DATABASE_URL": url,
        "IMAGEPIN_LOG_LEVEL": "INFO",
        "DOCKER_CONFIG": str(workdir / "no-docker-config"),
        **(env or {}),
    }
    log_path = workdir / "server.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [SERVER_BINARY], env=full_env, stdout=log, stderr=subprocess.STDOUT
        )
    target = f"127.0.0.1:{port}"
    channel = (
        grpc.insecure_channel(target)
        if credentials is None
        else grpc.secure_channel(target, credentials)
    )
    server = RunningServer(process, target, url, log_path, channel)
    try:
        wait_until_serving(server, workers=int(full_env.get("IMAGEPIN_WORKERS") or 1))
    except Exception:
        stop_server(server)
        raise
    return server


def wait_until_serving(server: RunningServer, *, workers: int = 1) -> None:
    """Until the health check says SERVING and, with several workers, each has logged
    "serving": the health check is answered by whichever worker is up first."""
    health = health_pb2_grpc.HealthStub(server.channel)
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"imagepin-server exited early:\n{server.log_text()}")
        try:
            answer = health.Check(health_pb2.HealthCheckRequest(service=""), timeout=1)
            if answer.status == health_pb2.HealthCheckResponse.SERVING and (
                workers == 1 or _serving_workers(server) >= workers
            ):
                return
        except grpc.RpcError:
            pass
        time.sleep(0.05)
    raise RuntimeError(
        f"imagepin-server did not start in {STARTUP_TIMEOUT_S}s:\n{server.log_text()}"
    )


def _serving_workers(server: RunningServer) -> int:
    return sum(1 for record in server.log_records() if record.get("message") == "serving")


def stop_server(server: RunningServer) -> int:
    """SIGTERM, as Kubernetes does; returns the exit code."""
    server.channel.close()
    if server.process.poll() is None:
        server.process.send_signal(signal.SIGTERM)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    return server.process.returncode


@pytest.fixture(scope="session")
def server_env(
    tmp_path_factory: pytest.TempPathFactory,
    tls_registry: RunningRegistry,
    token_registry: RunningRegistry,
) -> dict[str, str]:
    """Environment that lets the server reach every test registry with its credentials."""
    docker_dir = tmp_path_factory.mktemp("docker-config")
    write_docker_config(docker_dir, [tls_registry, token_registry])
    assert tls_registry.ca_file is not None
    return {
        "DOCKER_CONFIG": str(docker_dir),
        "IMAGEPIN_REGISTRY_CA_FILE": str(tls_registry.ca_file),
        # The layer-index tests need resolved tags indexed in the background (opt-in).
        "IMAGEPIN_INDEX_LAYERS": "true",
        "IMAGEPIN_INDEX_LAYERS_BUDGET": "100000",
    }


@pytest.fixture(scope="session")
def server(
    tmp_path_factory: pytest.TempPathFactory, server_env: dict[str, str]
) -> Iterator[RunningServer]:
    """One imagepin-server on SQLite for the session's integration tests."""
    running = start_server(tmp_path_factory.mktemp("server"), env=server_env)
    yield running
    stop_server(running)


@pytest.fixture(scope="session")
def postgres_server(
    tmp_path_factory: pytest.TempPathFactory,
    server_env: dict[str, str],
    postgres_database_url: str,
) -> Iterator[RunningServer]:
    """The same server on PostgreSQL, as production runs it."""
    running = start_server(
        tmp_path_factory.mktemp("pg-server"), database_url=postgres_database_url, env=server_env
    )
    yield running
    stop_server(running)


METRICS_SETTLE_S: Final = 10.0  # warm hits reach /metrics within a second (metrics.Tally)


def scrape_when(metrics_port: int, settled: Callable[[str], bool]) -> str:
    """The server's /metrics once `settled` holds for it (warm hits are added to their series
    in bulk, at most a second late); the last scrape if it never does, for the test to fail
    on."""
    deadline = time.monotonic() + METRICS_SETTLE_S
    while True:
        text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        if settled(text) or time.monotonic() > deadline:
            return text
        time.sleep(0.05)
