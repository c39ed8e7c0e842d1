"""The registries configuration file (TOML): endpoints, mirrors, TLS, limits, credentials, network.

Read once at start and validated whole, so a typo fails the start with the file, the key and the
problem named, rather than the first request hours later. Everything is per registry *host*: a
mirror is a host too, with its own table for TLS and credentials, so credentials cannot cross
from one host to another by configuration. See README.md, "Registries configuration".
"""

from __future__ import annotations

import fnmatch
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

from imagepin_server.reference import DEFAULT_REGISTRY
from imagepin_server.registry.credentials import Credentials
from imagepin_server.registry.netguard import AddressPolicy, AllowedNetwork, is_loopback

CONFIG_FILE_LIMIT: Final = 1024 * 1024
RESOLVE: Final = "resolve"
PULL: Final = "pull"


class RegistryConfigError(ValueError):
    """The registries file is unusable; the message names the file, the key and the problem."""


@dataclass(frozen=True, slots=True)
class Limits:
    """Timeouts, retries and the politeness budget for one registry host."""

    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    request_timeout_s: float = 30.0  # one manifest or config request, connection to last byte
    blob_timeout_s: float = 600.0  # one whole layer download while verifying it
    retries: int = 3  # extra attempts on transport errors, 408, 429, 500, 502, 503, 504
    backoff_s: float = 0.2  # the first retry waits up to this (full jitter), doubling after
    backoff_max_s: float = 5.0
    max_retry_after_s: float = 30.0  # a longer Retry-After is not waited for: the caller is told
    max_concurrency: int = 16  # requests in flight to this host at once
    requests_per_second: float = 50.0  # token bucket refill rate
    burst: int = 100  # token bucket size
    pull_reserve: int = 0  # pulls (manifest GETs) left unspent when the registry says how many


# Docker Hub limits each address overall to "thousands of requests per minute" (its abuse
# limit, beside the pull limit on manifest GETs): unless configured, 10 a second (600 a minute,
# bursts of `burst`) stays well inside it.
DOCKER_HUB_REQUESTS_PER_SECOND: Final = 10.0


@dataclass(frozen=True, slots=True)
class Mirror:
    """Another host serving a registry's content; trusted for tags only with `resolve`."""

    scheme: str
    host: str  # host[:port]
    resolve: bool = False  # a public mirror must never say what a tag means


@dataclass(frozen=True, slots=True)
class HostConfig:
    """Everything configured for one registry host (a registry name or a mirror's host)."""

    name: str
    endpoint: str | None = None  # scheme://host[:port] requests go to, when not the name itself
    mirrors: tuple[Mirror, ...] = ()
    insecure: bool = False  # plain http allowed (and a plain-http token realm)
    skip_verify: bool = False  # TLS without certificate verification
    ca_file: Path | None = None
    client_cert: Path | None = None
    client_key: Path | None = None
    credentials: Credentials | None = None
    limits: Limits = field(default_factory=Limits)

    @property
    def custom_tls(self) -> bool:
        return self.skip_verify or self.ca_file is not None or self.client_cert is not None


@dataclass(frozen=True, slots=True)
class RegistriesConfig:
    """The whole file, validated; an absent file is this with its defaults."""

    source: str = "(defaults)"
    network: AddressPolicy = field(default_factory=AddressPolicy)
    allowed_registries: tuple[str, ...] | None = None  # None: any registry
    defaults: Limits = field(default_factory=Limits)
    hosts: Mapping[str, HostConfig] = field(default_factory=dict)
    docker_config: Path | None = None
    pull_secrets: tuple[Path, ...] = ()

    def host(self, name: str) -> HostConfig:
        """The table for `name`, or the defaults for a host nobody configured."""
        configured = self.hosts.get(name.lower())
        if configured is not None:
            return configured
        limits = self.defaults
        if name.lower() == DEFAULT_REGISTRY:
            limits = replace(
                limits,
                requests_per_second=min(limits.requests_per_second, DOCKER_HUB_REQUESTS_PER_SECOND),
            )
        return HostConfig(name=name.lower(), limits=limits)

    def registry_allowed(self, registry: str) -> bool:
        """On the allow-list (exact names, or `*.suffix` patterns), or no allow-list at all."""
        if self.allowed_registries is None:
            return True
        name = registry.lower()
        return any(fnmatch.fnmatchcase(name, pattern) for pattern in self.allowed_registries)


def load(path: Path, env: Mapping[str, str] | None = None) -> RegistriesConfig:
    """Read and validate the file; RegistryConfigError names the file, the key and the problem."""
    env = os.environ if env is None else env
    try:
        if path.stat().st_size > CONFIG_FILE_LIMIT:
            raise RegistryConfigError(f"{path}: larger than {CONFIG_FILE_LIMIT} bytes")
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RegistryConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise RegistryConfigError(f"{path}: not valid TOML ({exc})") from exc
    return _Parser(str(path), path.parent, env).parse(document)


class _Parser:
    """Typed access to TOML tables that knows each value's key path, for error messages."""

    def __init__(self, source: str, base: Path, env: Mapping[str, str]) -> None:
        self.source = source
        self.base = base
        self.env = env

    def fail(self, key: str, problem: str) -> RegistryConfigError:
        return RegistryConfigError(f"{self.source}: {key}: {problem}")

    def table(self, value: object, key: str, allowed: set[str]) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.fail(key, "expected a table")
        unknown = sorted(set(value) - allowed)
        if unknown:
            raise self.fail(
                f"{key}.{unknown[0]}" if key else unknown[0],
                f"unknown key (known: {', '.join(sorted(allowed))})",
            )
        return value

    def parse(self, document: dict[str, Any]) -> RegistriesConfig:
        top = self.table(document, "", {"network", "defaults", "credentials", "registries"})
        network, allowed_registries = self.network(top.get("network", {}))
        defaults = self.limits(top.get("defaults", {}), "defaults", Limits(), set())
        credentials = self.table(
            top.get("credentials", {}), "credentials", {"docker_config", "pull_secrets"}
        )
        docker_config = self.path(credentials.get("docker_config"), "credentials.docker_config")
        secrets = self.strings(credentials.get("pull_secrets", []), "credentials.pull_secrets")
        pull_secrets = tuple(
            self.path(item, f"credentials.pull_secrets[{index}]", must_exist=False)
            for index, item in enumerate(secrets)
        )
        registries = top.get("registries", {})
        if not isinstance(registries, dict):
            raise self.fail("registries", "expected a table of registry hosts")
        hosts = {
            name.lower(): self.host(name, value, defaults) for name, value in registries.items()
        }
        for name, host in hosts.items():
            for index, mirror in enumerate(host.mirrors):
                trusted = hosts.get(mirror.host)
                insecure = trusted is not None and trusted.insecure
                if mirror.scheme == "http" and not (insecure or is_loopback(mirror.host)):
                    raise self.fail(
                        f'registries."{name}".mirrors[{index}].url',
                        f'plain http needs [registries."{mirror.host}"] insecure = true',
                    )
        return RegistriesConfig(
            source=self.source,
            network=network,
            allowed_registries=allowed_registries,
            defaults=defaults,
            hosts=hosts,
            docker_config=docker_config,
            pull_secrets=tuple(p for p in pull_secrets if p is not None),
        )

    def network(self, value: object) -> tuple[AddressPolicy, tuple[str, ...] | None]:
        known = {"allow_loopback", "allow_private", "allow", "allowed_registries"}
        table = self.table(value, "network", known)
        allow = []
        for index, item in enumerate(self.strings(table.get("allow", []), "network.allow")):
            try:
                allow.append(AllowedNetwork.parse(item))
            except ValueError as exc:
                raise self.fail(
                    f"network.allow[{index}]", f"{item!r} is not an address or network ({exc})"
                ) from exc
        registries = table.get("allowed_registries")
        allowed = (
            tuple(r.lower() for r in self.strings(registries, "network.allowed_registries"))
            if registries is not None
            else None
        )
        policy = AddressPolicy(
            allow_loopback=self.boolean(
                table.get("allow_loopback", True), "network.allow_loopback"
            ),
            allow_private=self.boolean(table.get("allow_private", False), "network.allow_private"),
            allow=tuple(allow),
        )
        return policy, allowed

    def limits(self, value: object, key: str, base: Limits, extra: set[str]) -> Limits:
        table = self.table(value, key, set(_LIMIT_KEYS) | extra)
        changes: dict[str, Any] = {}
        for name, (attribute, kind, low) in _LIMIT_KEYS.items():
            if name not in table:
                continue
            raw = table[name]
            if (
                isinstance(raw, bool)
                or not isinstance(raw, int | float)
                or (kind is int and not isinstance(raw, int))
            ):
                raise self.fail(
                    f"{key}.{name}", f"expected {'a whole number' if kind is int else 'a number'}"
                )
            if raw < low:
                raise self.fail(f"{key}.{name}", f"must be at least {low}")
            changes[attribute] = kind(raw)
        return replace(base, **changes)

    def host(self, name: str, value: object, defaults: Limits) -> HostConfig:
        key = f'registries."{name}"'
        if not name or "/" in name or name != name.strip():
            raise self.fail(key, "expected a registry host, such as ghcr.io or registry.local:5000")
        table = self.table(value, key, set(_HOST_KEYS) | set(_LIMIT_KEYS))
        limits = self.limits(
            {k: v for k, v in table.items() if k in _LIMIT_KEYS}, key, defaults, set()
        )
        insecure = self.boolean(table.get("insecure", False), f"{key}.insecure")
        endpoint = None
        if "endpoint" in table:
            scheme, host = self.url(table["endpoint"], f"{key}.endpoint")
            if scheme == "http" and not insecure:
                raise self.fail(f"{key}.endpoint", "plain http needs insecure = true")
            endpoint = f"{scheme}://{host}"
        mirrors = tuple(
            self.mirror(item, f"{key}.mirrors[{index}]")
            for index, item in enumerate(self.sequence(table.get("mirrors", []), f"{key}.mirrors"))
        )
        client_cert = self.path(table.get("client_cert"), f"{key}.client_cert")
        client_key = self.path(table.get("client_key"), f"{key}.client_key")
        if (client_cert is None) != (client_key is None):
            raise self.fail(key, "client_cert and client_key go together")
        return HostConfig(
            name=name.lower(),
            endpoint=endpoint,
            mirrors=mirrors,
            insecure=insecure,
            skip_verify=self.boolean(table.get("skip_verify", False), f"{key}.skip_verify"),
            ca_file=self.path(table.get("ca_file"), f"{key}.ca_file"),
            client_cert=client_cert,
            client_key=client_key,
            credentials=self.credentials(table, key),
            limits=limits,
        )

    def mirror(self, value: object, key: str) -> Mirror:
        if isinstance(value, str):
            value = {"url": value}
        table = self.table(value, key, {"url", "capabilities"})
        if "url" not in table:
            raise self.fail(f"{key}.url", "missing")
        scheme, host = self.url(table["url"], f"{key}.url")
        capabilities = self.strings(table.get("capabilities", [PULL]), f"{key}.capabilities")
        for item in capabilities:
            if item not in (PULL, RESOLVE):
                raise self.fail(f"{key}.capabilities", f'{item!r}: use "pull" and "resolve"')
        if PULL not in capabilities:
            raise self.fail(f"{key}.capabilities", 'a mirror must at least "pull"')
        return Mirror(scheme=scheme, host=host, resolve=RESOLVE in capabilities)

    def credentials(self, table: dict[str, Any], key: str) -> Credentials | None:
        username = self.secret(table, "username", key)
        password = self.secret(table, "password", key)
        if username is None and password is None:
            return None
        if not username or password is None:
            raise self.fail(key, "credentials need both a username and a password")
        return Credentials(username, password)

    def secret(self, table: dict[str, Any], name: str, key: str) -> str | None:
        """`name`, `name_env` (an environment variable) or `name_file` (a file's first line)."""
        given = [k for k in (name, f"{name}_env", f"{name}_file") if k in table]
        if len(given) > 1:
            raise self.fail(key, f"give only one of {', '.join(given)}")
        if not given:
            return None
        which = given[0]
        text = self.string(table[which], f"{key}.{which}")
        if which.endswith("_env"):
            if text not in self.env:
                raise self.fail(f"{key}.{which}", f"environment variable {text} is not set")
            return self.env[text]
        if which.endswith("_file"):
            path = self.path(text, f"{key}.{which}")
            assert path is not None
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except (OSError, UnicodeDecodeError) as exc:
                raise self.fail(f"{key}.{which}", f"cannot read {path}") from exc
            return lines[0].strip() if lines else ""
        return text  # never echoed in an error: only key names are

    def url(self, value: object, key: str) -> tuple[str, str]:
        text = self.string(value, key)
        parts = urlsplit(text)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise self.fail(
                key, f"{text!r}: expected https://HOST[:PORT] (or http:// when insecure)"
            )
        if parts.path.strip("/") or parts.query or parts.username or parts.password:
            raise self.fail(key, f"{text!r}: only a scheme, host and port are allowed")
        return parts.scheme, parts.netloc.lower()

    def path(self, value: object, key: str, *, must_exist: bool = True) -> Path | None:
        if value is None:
            return None
        path = Path(self.string(value, key))
        path = path if path.is_absolute() else self.base / path
        if must_exist and not path.is_file():
            raise self.fail(key, f"{path}: no such file")
        return path

    def string(self, value: object, key: str) -> str:
        if not isinstance(value, str) or not value:
            raise self.fail(key, "expected a non-empty string")
        return value

    def sequence(self, value: object, key: str) -> list[object]:
        if not isinstance(value, list):
            raise self.fail(key, "expected a list")
        return value

    def strings(self, value: object, key: str) -> list[str]:
        items = self.sequence(value, key)
        return [self.string(item, f"{key}[{i}]") for i, item in enumerate(items)]

    def boolean(self, value: object, key: str) -> bool:
        if not isinstance(value, bool):
            raise self.fail(key, "expected true or false")
        return value


# TOML key -> (Limits attribute, type, lowest allowed value)
_LIMIT_KEYS: Final[dict[str, tuple[str, type, float]]] = {
    "connect_timeout": ("connect_timeout_s", float, 0.01),
    "read_timeout": ("read_timeout_s", float, 0.01),
    "request_timeout": ("request_timeout_s", float, 0.01),
    "blob_timeout": ("blob_timeout_s", float, 0.01),
    "retries": ("retries", int, 0),
    "retry_backoff": ("backoff_s", float, 0.0),
    "retry_backoff_max": ("backoff_max_s", float, 0.0),
    "max_retry_after": ("max_retry_after_s", float, 0.0),
    "max_concurrency": ("max_concurrency", int, 1),
    "requests_per_second": ("requests_per_second", float, 0.01),
    "burst": ("burst", int, 1),
    "pull_reserve": ("pull_reserve", int, 0),
}
_HOST_KEYS: Final = {
    "endpoint",
    "mirrors",
    "insecure",
    "skip_verify",
    "ca_file",
    "client_cert",
    "client_key",
    "username",
    "username_env",
    "username_file",
    "password",
    "password_env",
    "password_file",
}
