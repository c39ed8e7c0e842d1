"""Small helpers shared by the registry client tests."""

from __future__ import annotations

import json
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import httpx
from imagepin_server import mediatypes
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference, parse
from imagepin_server.registry import Credentials, RegistryClient, RegistryHosts
from imagepin_server.registry.config import Limits, RegistriesConfig

from tests.support.registries import RunningRegistry

# The smallest image manifest, as the scripted server serves it, with its headers.
MANIFEST = json.dumps(
    {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": str(Digest.of(b"{}")), "size": 2},
        "layers": [],
    }
).encode()
DIGEST = Digest.of(MANIFEST)
HEADERS = {"Content-Type": mediatypes.OCI_MANIFEST, "Docker-Content-Digest": str(DIGEST)}


@dataclass
class StaticKeychain:
    """A keychain over a fixed mapping of registry name -> credentials."""

    entries: dict[str, Credentials] = field(default_factory=dict)

    async def credentials_for(self, registry: str) -> Credentials | None:
        return self.entries.get(registry)


def keychain_for(registry: RunningRegistry, *, password: str | None = None) -> StaticKeychain:
    """The registry's own credentials (or its username with `password`)."""
    assert registry.username is not None
    secret = password if password is not None else registry.password
    assert secret is not None
    return StaticKeychain({registry.host: Credentials(registry.username, secret)})


def trust(registry: RunningRegistry) -> ssl.SSLContext:
    """An SSL context trusting the CA that signed the registry's certificate."""
    return ssl.create_default_context(cafile=str(registry.ca_file))


def ref(host: str, repository: str) -> Reference:
    """A reference to `host/repository` (the target, tag or digest, is passed separately)."""
    return parse(f"{host}/{repository}")


@asynccontextmanager
async def registry_client(
    keychain: StaticKeychain | None = None,
    *,
    verify: ssl.SSLContext | bool = True,
    transport: httpx.AsyncBaseTransport | None = None,
    **bounds: Any,
) -> AsyncIterator[RegistryClient]:
    """A fresh client (cold token cache), closed afterwards.

    `bounds` override `Limits` fields (`read_timeout_s`, `retries`…); retries are off unless
    asked for, so each test sees exactly the answer it scripted.
    """
    limits = replace(Limits(), **{"retries": 0, **bounds})
    hosts = RegistryHosts(config=RegistriesConfig(defaults=limits))
    client = RegistryClient(hosts, keychain or StaticKeychain(), verify=verify, transport=transport)
    try:
        yield client
    finally:
        await client.aclose()
