"""The registries file: parsed whole, every mistake named by file and key; mirrors obey it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from imagepin_server import mediatypes
from imagepin_server.digests import Digest
from imagepin_server.reference import Tag, parse
from imagepin_server.registry import RegistryClient, RegistryHosts
from imagepin_server.registry.config import RegistryConfigError, load
from imagepin_server.registry.credentials import AnonymousKeychain

from tests.registry.helpers import ref
from tests.support.hostile_registry import HostileRegistry, launch_hostile_registry, reply

FULL = """
[network]
allow_loopback = false
allow_private = true
allow = ["10.0.0.0/8", "127.0.0.1:5000"]
allowed_registries = ["docker.io", "*.example.com"]

[defaults]
request_timeout = 20
retries = 2

[credentials]
pull_secrets = ["/var/run/secrets/pull/.dockerconfigjson"]

[registries."docker.io"]
mirrors = [
    "https://mirror.gcr.io",
    { url = "https://harbor.example.com", capabilities = ["pull", "resolve"] },
]
requests_per_second = 2

[registries."harbor.example.com"]
username = "robot"
password_env = "HARBOR_PASSWORD"
retries = 5

[registries."registry.local:5000"]
endpoint = "http://10.1.2.3:5000"
insecure = true
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "registries.toml"
    path.write_text(text)
    return path


def test_a_full_file(tmp_path: Path) -> None:
    config = load(write(tmp_path, FULL), env={"HARBOR_PASSWORD": "from-env"})
    assert not config.network.allow_loopback
    assert config.network.allow_private
    assert config.registry_allowed("harbor.example.com")
    assert not config.registry_allowed("quay.io")
    hub = config.host("docker.io")
    assert [(m.host, m.resolve) for m in hub.mirrors] == [
        ("mirror.gcr.io", False),
        ("harbor.example.com", True),
    ]
    assert hub.limits.requests_per_second == 2
    assert hub.limits.retries == 2
    harbor = config.host("harbor.example.com")
    assert harbor.credentials is not None
    assert harbor.credentials.password == "from-env"
    assert harbor.limits.retries == 5
    assert harbor.limits.request_timeout_s == 20
    assert config.host("registry.local:5000").endpoint == "http://10.1.2.3:5000"
    assert config.host("unconfigured.io").limits.retries == 2  # the defaults


@pytest.mark.parametrize(
    ("text", "key", "problem"),
    [
        ("[network]\nallow_loopbak = true", "network.allow_loopbak", "unknown key"),
        ('[network]\nallow = ["10.0.0.0/33"]', "network.allow[0]", "not an address"),
        ("[defaults]\nretries = -1", "defaults.retries", "at least 0"),
        ("[defaults]\nretries = 1.5", "defaults.retries", "whole number"),
        ('[registries."a.io"]\nmirrors = ["ftp://m.io"]', 'registries."a.io".mirrors[0].url', ""),
        (
            '[registries."a.io"]\nmirrors = [{url = "https://m.io", capabilities = ["push"]}]',
            'registries."a.io".mirrors[0].capabilities',
            "pull",
        ),
        ('[registries."a.io"]\nendpoint = "http://a.io"', 'registries."a.io".endpoint', "insecure"),
        ('[registries."a.io"]\npassword_env = "NOPE"', 'registries."a.io".password_env', "NOPE"),
        ('[registries."a.io"]\nusername = "u"', 'registries."a.io"', "both"),
        ('[registries."a.io"]\nca_file = "missing.pem"', 'registries."a.io".ca_file', "no such"),
        ('[registries."a.io"]\nclient_cert = "x.pem"', 'registries."a.io".client_cert', ""),
        (
            '[registries."a.io"]\nmirrors = ["http://m.io"]',
            'registries."a.io".mirrors[0].url',
            'registries."m.io"] insecure',
        ),
        ("[network\n", "", "not valid TOML"),
    ],
)
def test_mistakes_name_the_file_and_the_key(
    tmp_path: Path, text: str, key: str, problem: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(RegistryConfigError) as caught:
        load(path, env={})
    message = str(caught.value)
    assert message.startswith(f"{path}: {key}")
    assert problem in message


def test_a_literal_password_is_never_echoed(tmp_path: Path) -> None:
    text = '[registries."a.io"]\nusername = "u"\npassword = "hunter2-secret"\nbogus = 1'
    with pytest.raises(RegistryConfigError) as caught:
        load(write(tmp_path, text), env={})
    assert "hunter2-secret" not in str(caught.value)


# --- mirrors: content by digest from any, tags only from those trusted to resolve ----------------

MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST}).encode()
DIGEST = Digest.of(MANIFEST)
HEADERS = {"Content-Type": mediatypes.OCI_MANIFEST, "Docker-Content-Digest": str(DIGEST)}


@pytest.fixture
def upstream_and_mirror() -> Iterator[tuple[HostileRegistry, HostileRegistry]]:
    with launch_hostile_registry() as upstream, launch_hostile_registry() as mirror:
        for server in (upstream, mirror):
            for target in ("1", str(DIGEST)):
                server.script("GET", f"/v2/m/app/manifests/{target}", reply(200, MANIFEST, HEADERS))
        yield upstream, mirror


async def client_with_mirror(
    tmp_path: Path, upstream: str, mirror: str, caps: str
) -> RegistryClient:
    text = (
        f'[registries."{upstream}"]\nmirrors = [{{url = "http://{mirror}", capabilities = {caps}}}]'
    )
    config = load(write(tmp_path, text), env={})
    return RegistryClient(RegistryHosts(config=config), AnonymousKeychain())


@pytest.mark.parametrize(
    ("caps", "tag_from_mirror"), [('["pull"]', False), ('["pull", "resolve"]', True)]
)
async def test_tags_resolve_on_a_mirror_only_when_trusted_to(
    tmp_path: Path,
    upstream_and_mirror: tuple[HostileRegistry, HostileRegistry],
    caps: str,
    tag_from_mirror: bool,
) -> None:
    upstream, mirror = upstream_and_mirror
    client = await client_with_mirror(tmp_path, upstream.host, mirror.host, caps)
    try:
        await client.get_manifest(ref(upstream.host, "m/app"), Tag("1"))
        await client.get_manifest(ref(upstream.host, "m/app"), DIGEST, expected=DIGEST)
    finally:
        await client.aclose()
    by_tag = [r for r in mirror.requests if r.path.endswith("/1")]
    by_digest = [r for r in mirror.requests if r.path.endswith(str(DIGEST))]
    assert bool(by_tag) is tag_from_mirror
    assert by_digest, "content by digest is asked of the mirror first"
    assert not [r for r in upstream.requests if r.path.endswith(str(DIGEST))]


async def test_a_mirror_serving_wrong_bytes_is_passed_over(
    tmp_path: Path, upstream_and_mirror: tuple[HostileRegistry, HostileRegistry]
) -> None:
    upstream, mirror = upstream_and_mirror
    mirror.script("GET", f"/v2/m/app/manifests/{DIGEST}", reply(200, b"{}", HEADERS))
    client = await client_with_mirror(tmp_path, upstream.host, mirror.host, '["pull"]')
    try:
        fetched = await client.get_manifest(ref(upstream.host, "m/app"), DIGEST, expected=DIGEST)
    finally:
        await client.aclose()
    assert fetched.raw == MANIFEST
    assert [r for r in upstream.requests if r.path.endswith(str(DIGEST))]


async def test_a_mirror_serving_a_sha512_pinned_manifest_is_believed(
    tmp_path: Path, upstream_and_mirror: tuple[HostileRegistry, HostileRegistry]
) -> None:
    """A real registry cannot serve by sha512; the scripted one can, and mirrors must be heard."""
    upstream, mirror = upstream_and_mirror
    pinned = Digest.of(MANIFEST, "sha512")
    mirror.script("GET", f"/v2/m/app/manifests/{pinned}", reply(200, MANIFEST, HEADERS))
    client = await client_with_mirror(tmp_path, upstream.host, mirror.host, '["pull"]')
    try:
        by_expected = await client.get_manifest(
            ref(upstream.host, "m/app"), pinned, expected=pinned
        )
        by_target = await client.get_manifest(ref(upstream.host, "m/app"), pinned)
    finally:
        await client.aclose()
    assert by_expected.raw == by_target.raw == MANIFEST
    assert by_expected.digest == pinned
    assert not [r for r in upstream.requests if r.path.endswith(str(pinned))]


def test_the_k8s_registries_file_is_valid_and_refuses_loopback(tmp_path: Path) -> None:
    manifest = Path(__file__).resolve().parents[2] / "k8s" / "base" / "server-registries.yaml"
    document = yaml.safe_load(manifest.read_text())
    config = load(write(tmp_path, document["data"]["registries.toml"]), env={})
    assert config.network.allow_loopback is False
    assert config.network.allow_private is False


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("redis", "registry-1.docker.io"),
        ("index.docker.io/user/app", "registry-1.docker.io"),
        ("ghcr.io/org/app", "ghcr.io"),
        ("localhost:5000/foo", "localhost:5000"),
        ("[::1]:5000/foo", "[::1]:5000"),
        ("registry-1.docker.io/foo", "registry-1.docker.io"),
    ],
)
def test_api_host(text: str, host: str) -> None:
    assert RegistryHosts().endpoint(parse(text).registry).host == host
