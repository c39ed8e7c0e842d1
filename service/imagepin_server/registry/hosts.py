"""Where a registry name is reached: its API host and whether plain HTTP may be used."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

DOCKER_HUB = "docker.io"
DOCKER_HUB_API_HOST = "registry-1.docker.io"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """The base URL requests for one registry go to."""

    registry: str  # the name in references, e.g. "docker.io", "localhost:5000"
    host: str  # host[:port] requests go to, e.g. "registry-1.docker.io"
    scheme: str  # "https", or "http" for insecure and loopback registries

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"


def hostname(host: str) -> str:
    """The host part of `host[:port]`, without IPv6 brackets."""
    if host.startswith("["):
        return host[1 : host.index("]")] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def is_loopback(host: str) -> bool:
    """True for `localhost` and loopback addresses, with or without a port."""
    name = hostname(host).lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


class RegistryHosts:
    """Maps registry names to endpoints.

    Plain `http://` is used only for registries configured insecure and for loopback hosts
    (how people develop and test); everything else is HTTPS.
    """

    def __init__(self, insecure: Iterable[str] = ()) -> None:
        self._insecure = frozenset(name.lower() for name in insecure)

    def is_insecure(self, registry: str) -> bool:
        return registry.lower() in self._insecure or is_loopback(registry)

    def endpoint(self, registry: str) -> Endpoint:
        host = DOCKER_HUB_API_HOST if registry == DOCKER_HUB else registry
        scheme = "http" if self.is_insecure(registry) else "https"
        return Endpoint(registry=registry, host=host, scheme=scheme)
