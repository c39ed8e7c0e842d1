"""Start Debian's `docker-registry` (CNCF distribution) on a free loopback port for the tests."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REGISTRY_BINARY = "docker-registry"
STARTUP_TIMEOUT_S = 15.0


def free_port() -> int:
    """Ask the kernel for a free loopback port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class RunningRegistry:
    """A registry process the tests started, and how to reach it."""

    host: str  # "127.0.0.1:PORT", as it appears in image references
    scheme: str  # "http" or "https"
    root: Path  # its storage directory
    ca_file: Path | None = None  # CA that signed its TLS certificate
    username: str | None = None
    password: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    pid: int | None = None  # the registry process, when the tests started one

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"


@contextlib.contextmanager
def launch_registry(
    workdir: Path,
    *,
    config_extra: dict[str, Any] | None = None,
    scheme: str = "http",
    ca_file: Path | None = None,
    username: str | None = None,
    password: str | None = None,
    client_cert: tuple[Path, Path] | None = None,
) -> Iterator[RunningRegistry]:
    """Run `docker-registry serve` with a generated config until the block exits.

    `config_extra` is merged into the top level of the config (for `auth`, and `http.tls` goes in
    `config_extra["http"]`, which is merged into the `http` section). `client_cert` (certificate,
    key) is what the start-up check presents to a registry that demands client certificates.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    root = workdir / "storage"
    config: dict[str, Any] = {
        "version": 0.1,
        "log": {"level": "warn", "accesslog": {"disabled": True}},
        "storage": {"filesystem": {"rootdirectory": str(root)}, "delete": {"enabled": True}},
        "http": {"addr": f"127.0.0.1:{port}", "secret": "imagepin-tests"},
    }
    extra = dict(config_extra or {})
    config["http"].update(extra.pop("http", {}))
    config.update(extra)
    config_path = workdir / "config.yml"
    config_path.write_text(json.dumps(config))  # JSON is valid YAML
    log_path = workdir / "registry.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [REGISTRY_BINARY, "serve", str(config_path)], stdout=log, stderr=subprocess.STDOUT
        )
    registry = RunningRegistry(
        host=f"127.0.0.1:{port}",
        scheme=scheme,
        root=root,
        ca_file=ca_file,
        username=username,
        password=password,
        pid=process.pid,
    )
    try:
        _wait_until_serving(registry, process, log_path, client_cert)
        yield registry
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait_until_serving(
    registry: RunningRegistry,
    process: subprocess.Popen[bytes],
    log: Path,
    client_cert: tuple[Path, Path] | None = None,
) -> None:
    verify_ctx = ssl.create_default_context(
        cafile=str(registry.ca_file) if registry.ca_file else None
    )
    if client_cert is not None:
        verify_ctx.load_cert_chain(str(client_cert[0]), str(client_cert[1]))
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited early:\n{log.read_text()}")
        try:
            # Any HTTP answer (200, or 401 when auth is on) means it is serving.
            httpx.get(f"{registry.url}/v2/", verify=verify_ctx, timeout=1.0)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise RuntimeError(
        f"docker-registry did not start within {STARTUP_TIMEOUT_S}s:\n{log.read_text()}"
    )


def put_manifest(
    registry: RunningRegistry, repository: str, tag: str, raw: bytes, media_type: str
) -> str:
    """PUT manifest bytes as they are (for what skopeo 1.9 cannot copy: an index of indexes).

    Everything the manifest names must already be in the repository (pushed with skopeo); the
    registry checks that. Returns the digest the registry says it stored.
    """
    response = httpx.put(
        f"{registry.url}/v2/{repository}/manifests/{tag}",
        content=raw,
        headers={"Content-Type": media_type},
        timeout=10.0,
    )
    response.raise_for_status()
    return response.headers["Docker-Content-Digest"]
