"""Credentials for registries, and keychains that find them.

For now the one keychain reads a Docker `config.json` (`DOCKER_CONFIG` or `~/.docker/config.json`,
`auths` entries with `auth` or `username`/`password`), as `docker login` writes it.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

# Docker writes Docker Hub logins under its v1 index URL; all of these name the same registry.
_DOCKER_HUB_KEYS = (
    "https://index.docker.io/v1/",
    "index.docker.io",
    "docker.io",
    "registry-1.docker.io",
)
CONFIG_FILE_LIMIT = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Credentials:
    """A username and password (or token) for one registry; the password never prints."""

    username: str
    password: str = field(repr=False)


class Keychain(Protocol):
    """Finds the credentials for a registry name, or None to go anonymous."""

    def credentials_for(self, registry: str) -> Credentials | None: ...


class AnonymousKeychain:
    """A keychain with no credentials at all."""

    def credentials_for(self, registry: str) -> Credentials | None:
        return None


def default_docker_config_path() -> Path:
    """`$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`, as the Docker CLI does."""
    directory = os.environ.get("DOCKER_CONFIG")
    base = Path(directory) if directory else Path.home() / ".docker"
    return base / "config.json"


def _normalise_key(key: str) -> str:
    """`https://host:5000/v2/` -> `host:5000`, the form registry names take in references."""
    key = key.strip()
    for prefix in ("https://", "http://"):
        if key.startswith(prefix):
            key = key[len(prefix) :]
    return key.split("/", 1)[0].lower()


class DockerConfigKeychain:
    """Reads credentials from a Docker `config.json`, re-reading it when it changes on disk."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_docker_config_path()
        self._mtime: float | None = None
        self._entries: dict[str, Credentials] = {}

    def credentials_for(self, registry: str) -> Credentials | None:
        self._reload_if_changed()
        keys = ("docker.io",) if registry == "docker.io" else (registry.lower(),)
        for key in keys:
            if key in self._entries:
                return self._entries[key]
        return None

    def _reload_if_changed(self) -> None:
        try:
            stat = self.path.stat()
        except OSError:
            self._entries, self._mtime = {}, None
            return
        if stat.st_mtime == self._mtime:
            return
        self._mtime = stat.st_mtime
        self._entries = self._parse()

    def _parse(self) -> dict[str, Credentials]:
        try:
            if self.path.stat().st_size > CONFIG_FILE_LIMIT:
                raise ValueError(f"larger than {CONFIG_FILE_LIMIT} bytes")
            document = json.loads(self.path.read_text(encoding="utf-8"))
            auths = document.get("auths", {}) if isinstance(document, dict) else {}
        except (OSError, ValueError) as exc:
            # Never log the content: it holds secrets.
            log.warning("ignoring unreadable docker config %s: %s", self.path, type(exc).__name__)
            return {}
        entries: dict[str, Credentials] = {}
        for key, entry in auths.items() if isinstance(auths, dict) else ():
            creds = _entry_credentials(entry)
            if creds is None:
                continue
            name = _normalise_key(key)
            entries[
                "docker.io" if name in _DOCKER_HUB_KEYS or key in _DOCKER_HUB_KEYS else name
            ] = creds
        return entries


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
