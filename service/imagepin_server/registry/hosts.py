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

    HTTPS first, always. Plain `http://` is a fallback allowed only for registries configured
    insecure and for loopback hosts (how people develop and test), taken when such a registry
    does not speak TLS at all, and remembered per registry, as Docker does.
    """

    def __init__(self, insecure: Iterable[str] = ()) -> None:
        self._insecure = frozenset(name.lower() for name in insecure)
        self._schemes: dict[str, str] = {}

    def is_configured_insecure(self, registry: str) -> bool:
        """Configured insecure by name; loopback alone does not count (see the auth realm rule)."""
        return registry.lower() in self._insecure

    def may_use_http(self, registry: str) -> bool:
        return self.is_configured_insecure(registry) or is_loopback(registry)

    def endpoint(self, registry: str) -> Endpoint:
        host = DOCKER_HUB_API_HOST if registry == DOCKER_HUB else registry
        return Endpoint(registry=registry, host=host, scheme=self._schemes.get(registry, "https"))

    def confirm(self, registry: str, scheme: str) -> None:
        """The scheme worked: keep using it for this registry."""
        self._schemes.setdefault(registry, scheme)

    def fall_back_to_http(self, registry: str) -> bool:
        """Switch an http-capable registry that did not answer TLS to plain http."""
        if self._schemes.get(registry) == "https" or not self.may_use_http(registry):
            return False  # it spoke TLS before, or it must
        self._schemes[registry] = "http"  # concurrent first requests may all land here
        return True
