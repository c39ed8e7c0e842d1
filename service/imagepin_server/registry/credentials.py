"""Credentials for registries, and keychains that find them.

Sources, first match wins (see `ChainKeychain`): static credentials from the registries file
(literal, an environment variable or a file), Kubernetes pull secrets mounted as files
(`kubernetes.io/dockerconfigjson`), and a Docker `config.json` with its `credHelpers`,
`credsStore` and `auths`, as `docker login` writes it. Files are re-read when they change;
credential helpers (`docker-credential-<name> get`, how ECR, GCR and ACR logins work) are run
as Docker runs them, and their answers cached for a while. Lookups are by exact registry host:
credentials for one host are never offered to another.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol

from cachetools import TTLCache

from imagepin_server.filewatch import WatchedFile
from imagepin_server.reference import DEFAULT_REGISTRY, DOCKER_HUB_NAMES, LEGACY_REGISTRY
from imagepin_server.singleflight import SingleFlight

log = logging.getLogger(__name__)

# Docker writes Docker Hub logins under its v1 index URL; it and Hub's names are one registry.
DOCKER_HUB_SERVER: Final = f"https://{LEGACY_REGISTRY}/v1/"
CONFIG_FILE_LIMIT: Final = 1024 * 1024
HELPER_TIMEOUT_S: Final = 10.0  # a helper that hangs (an interactive prompt) must not hang us
HELPER_OUTPUT_LIMIT: Final = 64 * 1024
HELPER_CACHE_S: Final = 300.0  # ECR tokens live 12 h, gcloud's 1 h: five minutes is safe
HELPER_NOT_FOUND: Final = "credentials not found in native keychain"
# Answers kept, per (helper, registry): with a credsStore every registry a caller names asks it.
HELPER_CACHE_LIMIT: Final = 4096


@dataclass(frozen=True, slots=True)
class Credentials:
    """A username and password (or token) for one registry; the password never prints."""

    username: str
    password: str = field(repr=False)


class Keychain(Protocol):
    """Finds the credentials for a registry host, or None to go anonymous."""

    async def credentials_for(self, registry: str) -> Credentials | None: ...


class AnonymousKeychain:
    """A keychain with no credentials at all."""

    async def credentials_for(self, registry: str) -> Credentials | None:
        return None


class StaticKeychain:
    """Credentials given in configuration, per exact registry host."""

    def __init__(self, entries: Mapping[str, Credentials]) -> None:
        self._entries = {key.lower(): value for key, value in entries.items()}

    async def credentials_for(self, registry: str) -> Credentials | None:
        return self._entries.get(registry.lower())


class ChainKeychain:
    """Asks each keychain in turn; the first that knows the registry answers."""

    def __init__(self, keychains: Sequence[Keychain]) -> None:
        self._keychains = tuple(keychains)

    async def credentials_for(self, registry: str) -> Credentials | None:
        for keychain in self._keychains:
            found = await keychain.credentials_for(registry)
            if found is not None:
                return found
        return None


def default_docker_config_path() -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as the Docker CLI does."""
    directory = os.environ.get("DOCKER_CONFIG")
    base = Path(directory) if directory else Path.home() / ".docker"
    return base / "config.json"


def registry_key(key: str) -> str:
    """`https://host:5000/v2/` -> `host:5000`; Docker Hub's many names -> `docker.io`."""
    key = key.strip()
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    name = key.split("/", 1)[0].lower()
    return DEFAULT_REGISTRY if name in DOCKER_HUB_NAMES else name


@dataclass(frozen=True, slots=True)
class DockerConfig:
    """What one Docker config file says: inline credentials and which helpers to ask."""

    auths: Mapping[str, Credentials] = field(default_factory=dict)
    helpers: Mapping[str, str] = field(default_factory=dict)  # registry -> helper name
    store: str | None = None  # credsStore: the helper for every registry


def watched_docker_config(path: Path) -> WatchedFile[DockerConfig]:
    """A Docker config file (or a mounted pull secret), parsed again whenever it changes.

    Unreadable at first, it says nothing; unreadable later, it says what it said before;
    removed, it says nothing.
    """
    return WatchedFile(
        path,
        parse_docker_config,
        initial=DockerConfig(),
        limit=CONFIG_FILE_LIMIT,
        log=log,
        what="docker config",
        absent=DockerConfig,
    )


def parse_docker_config(data: bytes) -> DockerConfig:
    """`auths`, `credHelpers` and `credsStore` of a config.json; ValueError if it is not one."""
    document = json.loads(data.decode("utf-8"))
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    auths: dict[str, Credentials] = {}
    entries = document.get("auths", {})
    for key, entry in entries.items() if isinstance(entries, dict) else ():
        creds = _entry_credentials(entry)
        if creds is not None:
            auths[registry_key(key)] = creds
    helpers = document.get("credHelpers", {})
    store = document.get("credsStore")
    return DockerConfig(
        auths=auths,
        helpers={
            registry_key(key): name
            for key, name in (helpers.items() if isinstance(helpers, dict) else ())
            if isinstance(name, str) and _helper_name_ok(name)
        },
        store=store if isinstance(store, str) and _helper_name_ok(store) else None,
    )


class DockerConfigKeychain:
    """Credentials from a Docker `config.json`: `credHelpers`, then `credsStore`, then `auths`."""

    def __init__(
        self, path: Path | None = None, *, helpers: CredentialHelpers | None = None
    ) -> None:
        self.path = path or default_docker_config_path()
        self._file = watched_docker_config(self.path)
        self._helpers = helpers or CredentialHelpers()

    async def credentials_for(self, registry: str) -> Credentials | None:
        config = self._file.current()
        key = registry_key(registry)
        helper = config.helpers.get(key)
        if helper is not None:
            return await self._helpers.get(helper, key)
        if config.store is not None:
            found = await self._helpers.get(config.store, key)
            if found is not None:
                return found
        return config.auths.get(key)


class PullSecretsKeychain:
    """Kubernetes `kubernetes.io/dockerconfigjson` secrets mounted as files (inline auths only)."""

    def __init__(self, paths: Sequence[Path]) -> None:
        self._files = [watched_docker_config(path) for path in paths]

    async def credentials_for(self, registry: str) -> Credentials | None:
        key = registry_key(registry)
        for watched in self._files:
            found = watched.current().auths.get(key)
            if found is not None:
                return found
        return None


class CredentialHelpers:
    """Runs `docker-credential-<name> get` the way Docker does, caching answers per registry.

    One run serves everyone asking at once; when all of them give up, the run is cancelled and
    the helper killed and reaped (its own bound is HELPER_TIMEOUT_S, inside `_run`).
    """

    def __init__(
        self, *, search_path: str | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._search_path = search_path  # None: $PATH
        self._answers: TTLCache[tuple[str, str], Credentials | None] = TTLCache(
            maxsize=HELPER_CACHE_LIMIT, ttl=HELPER_CACHE_S, timer=clock
        )
        self._flights: SingleFlight[tuple[str, str], Credentials | None] = SingleFlight(
            cancel_when_abandoned=True
        )

    async def get(self, helper: str, registry: str) -> Credentials | None:
        key = (helper, registry)
        try:
            return self._answers[key]  # None is an answer too: the helper knows nothing
        except KeyError:
            pass

        async def ask() -> Credentials | None:
            found = await self._run(helper, registry)
            self._answers[key] = found
            return found

        return await self._flights.run(key, ask)

    async def _run(self, helper: str, registry: str) -> Credentials | None:
        program = shutil.which(f"docker-credential-{helper}", path=self._search_path)
        if program is None:
            log.warning("credential helper docker-credential-%s is not installed", helper)
            return None
        server = DOCKER_HUB_SERVER if registry == DEFAULT_REGISTRY else registry
        try:
            process = await asyncio.create_subprocess_exec(
                program,
                "get",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.DEVNULL,
            )
        except OSError as exc:
            log.warning("credential helper %s could not run: %s", helper, type(exc).__name__)
            return None
        try:
            async with asyncio.timeout(HELPER_TIMEOUT_S):
                output, _ = await process.communicate(server.encode())
        except TimeoutError:
            await _kill(process)
            log.warning("credential helper %s took over %gs", helper, HELPER_TIMEOUT_S)
            return None
        except BaseException:
            await _kill(process)  # the caller gave up (its deadline, a cancellation): so do we
            raise
        if process.returncode != 0:
            if HELPER_NOT_FOUND not in output[:HELPER_OUTPUT_LIMIT].decode(errors="replace"):
                # Its output may hold a secret: say only that it failed.
                log.warning("credential helper %s failed (exit %s)", helper, process.returncode)
            return None
        return _helper_credentials(output[:HELPER_OUTPUT_LIMIT], helper)


async def _kill(process: asyncio.subprocess.Process) -> None:
    """Kill a helper still running and reap it, even if we are cancelled again meanwhile."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
    await asyncio.shield(process.wait())


def _helper_credentials(output: bytes, helper: str) -> Credentials | None:
    try:
        document = json.loads(output)
    except (ValueError, RecursionError):
        log.warning("credential helper %s answered something that is not JSON", helper)
        return None
    username = document.get("Username") if isinstance(document, dict) else None
    secret = document.get("Secret") if isinstance(document, dict) else None
    if not isinstance(username, str) or not isinstance(secret, str) or not secret:
        return None
    if username == "<token>":
        log.warning("credential helper %s gave an identity token; not supported", helper)
        return None
    return Credentials(username, secret)


def _helper_name_ok(name: str) -> bool:
    """A helper name is a program-name suffix: it must not be a path."""
    return bool(name) and all(ch.isalnum() or ch in "-_." for ch in name) and ".." not in name


def _entry_credentials(entry: object) -> Credentials | None:
    if not isinstance(entry, dict):
        return None
    username, password = entry.get("username"), entry.get("password")
    if isinstance(username, str) and isinstance(password, str) and username:
        return Credentials(username, password)
    encoded = entry.get("auth")
    if not isinstance(encoded, str) or not encoded:
        return None
    try:
        decoded = base64.b64decode(encoded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, secret = decoded.partition(":")
    return Credentials(user, secret) if sep and user else None
