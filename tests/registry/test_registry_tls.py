"""TLS to registries as the registries file configures it, against a real registry that demands
a client certificate (mutual TLS): the host's CA, its client certificate, and skip_verify."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from imagepin_server import errors
from imagepin_server.reference import Tag
from imagepin_server.registry import build_client
from imagepin_server.registry.config import load

from tests.registry.helpers import ref
from tests.support.pki import CA, issue_client_cert, issue_server_cert
from tests.support.registries import RunningRegistry, launch_registry


@pytest.fixture(scope="module")
def mtls_registry(
    tmp_path_factory: pytest.TempPathFactory, test_ca: CA
) -> Iterator[tuple[RunningRegistry, Path, Path]]:
    workdir = tmp_path_factory.mktemp("mtls-registry")
    server = issue_server_cert(test_ca, workdir / "server", name="registry")
    client = issue_client_cert(test_ca, workdir / "client", "imagepin")
    tls = {
        "certificate": str(server.cert_path),
        "key": str(server.key_path),
        "clientcas": [str(test_ca.cert_path)],
    }
    with launch_registry(
        workdir / "registry",
        config_extra={"http": {"tls": tls}},
        scheme="https",
        ca_file=test_ca.cert_path,
        client_cert=(client.cert_path, client.key_path),
    ) as registry:
        yield registry, client.cert_path, client.key_path


async def fetch(tmp_path: Path, registry: RunningRegistry, table: str) -> None:
    path = tmp_path / "registries.toml"
    path.write_text(f'[registries."{registry.host}"]\nretries = 0\n{table}')
    client = build_client(load(path, env={}))
    try:
        await client.get_manifest(ref(registry.host, "nothing/here"), Tag("1"))
    finally:
        await client.aclose()


@pytest.mark.parametrize("trust", ["ca", "skip_verify"])
async def test_a_client_certificate_gets_through(
    tmp_path: Path, mtls_registry: tuple[RunningRegistry, Path, Path], trust: str
) -> None:
    registry, cert, key = mtls_registry
    assert registry.ca_file is not None
    trusted = f'ca_file = "{registry.ca_file}"' if trust == "ca" else "skip_verify = true"
    table = f'{trusted}\nclient_cert = "{cert}"\nclient_key = "{key}"\n'
    with pytest.raises(errors.NotFound):  # the registry answered: TLS both ways worked
        await fetch(tmp_path, registry, table)


async def test_without_the_client_certificate_the_registry_is_unreachable(
    tmp_path: Path, mtls_registry: tuple[RunningRegistry, Path, Path]
) -> None:
    registry, _, _ = mtls_registry
    with pytest.raises(errors.RegistryUnavailable):
        await fetch(tmp_path, registry, f'ca_file = "{registry.ca_file}"\n')


async def test_without_its_ca_the_certificate_is_not_trusted(
    tmp_path: Path, mtls_registry: tuple[RunningRegistry, Path, Path]
) -> None:
    registry, cert, key = mtls_registry
    table = f'client_cert = "{cert}"\nclient_key = "{key}"\n'
    with pytest.raises(errors.RegistryUnavailable, match="could not be verified"):
        await fetch(tmp_path, registry, table)
