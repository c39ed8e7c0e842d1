"""Where a registry name is reached: its endpoint, its mirrors, whether plain HTTP may be used."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from cachetools import LRUCache

from imagepin_server.reference import DEFAULT_REGISTRY, DOCKER_HUB_API_HOST
from imagepin_server.registry.config import HostConfig, Limits, RegistriesConfig
from imagepin_server.registry.netguard import hostname, is_loopback

__all__ = [
    "Endpoint",
    "RegistryHosts",
    "hostname",
    "is_loopback",
]

# Hosts whose working scheme is remembered. Callers name hosts (any loopback port, any
# *.localhost), so past this the least recently used are forgotten: such a host is tried over
# https first again.
SCHEME_MEMORY_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One place requests for a registry's content can go: the registry itself or a mirror."""

    registry: str  # the name in references, e.g. "docker.io", "localhost:5000"
    host: str  # host[:port] requests go to, e.g. "registry-1.docker.io"
    scheme: str  # "https", or "http" for insecure and loopback registries
    mirror: bool = False

    @property
    def base_url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def auth_host(self) -> str:
        """Whose credentials, tokens and limits apply: the registry's name, or the mirror's host.

        Credentials belong to a host; a mirror never receives the registry's.
        """
        return self.host if self.mirror else self.registry


class RegistryHosts:
    """Maps registry names to endpoints, mirrors first.

    HTTPS first, always. Plain `http://` is a fallback allowed only for hosts configured insecure
    and for loopback hosts (how people develop and test), taken only when such a host answered
    the TLS handshake in plain HTTP, and remembered per host, as Docker does, once a request
    over http got an answer. A host that answered over https keeps https. An endpoint
    configured `http://` is plain http from the start.
    """

    def __init__(
        self,
        insecure: Iterable[str] = (),
        config: RegistriesConfig | None = None,
        *,
        scheme_memory: int = SCHEME_MEMORY_LIMIT,
    ) -> None:
        self.config = config or RegistriesConfig()
        self._insecure = frozenset(name.lower() for name in insecure)
        self._schemes: LRUCache[str, str] = LRUCache(maxsize=scheme_memory)

    def configured_hosts(self) -> frozenset[str]:
        """Every host the registries file names: registries and their mirrors."""
        names = set(self.config.hosts)
        for host in self.config.hosts.values():
            names.update(mirror.host for mirror in host.mirrors)
        return frozenset(names)

    def host_config(self, host: str) -> HostConfig:
        return self.config.host(host)

    def limits(self, endpoint: Endpoint) -> Limits:
        return self.config.host(endpoint.auth_host).limits

    def is_configured_insecure(self, host: str) -> bool:
        """Configured insecure by name; loopback alone does not count (see the auth realm rule)."""
        return host.lower() in self._insecure or self.config.host(host).insecure

    def may_use_http(self, host: str) -> bool:
        return self.is_configured_insecure(host) or is_loopback(host)

    def endpoints(self, registry: str, *, resolve: bool) -> list[Endpoint]:
        """Where to ask, in order: mirrors (for tags only those trusted to resolve), then upstream.

        `resolve` is True when the answer says what a tag means; content by digest is verified
        against the digest, so any mirror may serve it.
        """
        configured = self.config.host(registry)
        found = [
            Endpoint(
                registry=registry,
                host=mirror.host,
                scheme=self._schemes.get(mirror.host, mirror.scheme),
                mirror=True,
            )
            for mirror in configured.mirrors
            if mirror.resolve or not resolve
        ]
        found.append(self.endpoint(registry))
        return found

    def endpoint(self, registry: str) -> Endpoint:
        """The registry itself (its configured endpoint, or its name; Docker Hub's API host).

        The one place a registry's name becomes the host its API answers on.
        """
        configured = self.config.host(registry).endpoint
        if configured is not None:
            scheme, _, host = configured.partition("://")
            return Endpoint(registry=registry, host=host, scheme=self._schemes.get(host, scheme))
        host = DOCKER_HUB_API_HOST if registry == DEFAULT_REGISTRY else registry
        return Endpoint(registry=registry, host=host, scheme=self._schemes.get(host, "https"))

    def confirm(self, endpoint: Endpoint) -> None:
        """A request got an answer over this scheme: keep using it for this host.

        https, once it answered, is never given up for http.
        """
        if not self._may_fall_back(endpoint):
            return  # its scheme is what the configuration says; nothing to remember
        if self._schemes.get(endpoint.host) != "https":
            self._schemes[endpoint.host] = endpoint.scheme

    def fall_back_to_http(self, endpoint: Endpoint) -> bool:
        """May this request, whose host answered TLS in plain HTTP, be sent again over http?

        Nothing is remembered here: only an answer over http (`confirm`) makes http the host's
        scheme, so a failed attempt leaves the next request to try https first again.
        """
        if endpoint.scheme != "https" or self._schemes.get(endpoint.host) == "https":
            return False  # it spoke TLS before, or it is already http
        return self._may_fall_back(endpoint)

    def _may_fall_back(self, endpoint: Endpoint) -> bool:
        return self.may_use_http(endpoint.host) or self.may_use_http(endpoint.auth_host)
