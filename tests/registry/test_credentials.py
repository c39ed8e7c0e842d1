"""DockerConfigKeychain reads a Docker `config.json` the way `docker login` writes it."""

from __future__ import annotations

import base64
import json
import logging
import os
from pathlib import Path
from typing import Any

import pytest
from imagepin_server.registry import Credentials, DockerConfigKeychain


def write_config(path: Path, auths: dict[str, Any]) -> Path:
    """Write a Docker config with these `auths` entries."""
    path.write_text(json.dumps({"auths": auths}))
    return path


def encoded(user: str, password: str) -> str:
    """The `auth` field: base64 of `user:password`."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_auth_field(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.json", {"registry.example": {"auth": encoded("u", "p")}})
    assert await DockerConfigKeychain(path).credentials_for("registry.example") == Credentials(
        "u", "p"
    )


async def test_auth_field_password_may_contain_colons(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "config.json", {"registry.example": {"auth": encoded("u", "a:b:c")}}
    )
    creds = await DockerConfigKeychain(path).credentials_for("registry.example")
    assert creds == Credentials("u", "a:b:c")


async def test_username_and_password_fields(tmp_path: Path) -> None:
    path = write_config(
        tmp_path / "config.json",
        {"registry.example": {"username": "robot", "password": "s3cret"}},
    )
    creds = await DockerConfigKeychain(path).credentials_for("registry.example")
    assert creds == Credentials("robot", "s3cret")


@pytest.mark.parametrize(
    "entry",
    [
        {"auth": "!!not base64!!"},
        {"auth": base64.b64encode(b"no-colon").decode()},
        {"auth": ""},
        {"identitytoken": "opaque"},
        "not an object",
    ],
)
async def test_unusable_entries_are_skipped(tmp_path: Path, entry: object) -> None:
    path = write_config(
        tmp_path / "config.json",
        {"bad.example": entry, "good.example": {"auth": encoded("u", "p")}},
    )
    keychain = DockerConfigKeychain(path)
    assert await keychain.credentials_for("bad.example") is None
    assert await keychain.credentials_for("good.example") == Credentials("u", "p")


@pytest.mark.parametrize(
    "key",
    ["https://index.docker.io/v1/", "index.docker.io", "registry-1.docker.io", "docker.io"],
)
async def test_docker_hub_keys_map_to_docker_io(tmp_path: Path, key: str) -> None:
    path = write_config(tmp_path / "config.json", {key: {"auth": encoded("hubuser", "p")}})
    creds = await DockerConfigKeychain(path).credentials_for("docker.io")
    assert creds == Credentials("hubuser", "p")


@pytest.mark.parametrize(
    "key",
    [
        "https://host.example:5000/v2/",
        "http://host.example:5000",
        "HOST.example:5000",
        "host.example:5000/",
    ],
)
async def test_url_keys_are_normalised_to_host_and_port(tmp_path: Path, key: str) -> None:
    path = write_config(tmp_path / "config.json", {key: {"auth": encoded("u", "p")}})
    keychain = DockerConfigKeychain(path)
    assert await keychain.credentials_for("host.example:5000") == Credentials("u", "p")
    assert await keychain.credentials_for("host.example") is None  # the port is part of the name


async def test_missing_file_is_anonymous(tmp_path: Path) -> None:
    assert await DockerConfigKeychain(tmp_path / "absent.json").credentials_for("docker.io") is None


async def test_malformed_json_is_anonymous_and_logged_without_content(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"auths": {"registry.example": {"password": "leaky-secret-123"')
    with caplog.at_level(logging.WARNING, logger="imagepin_server.registry.credentials"):
        assert await DockerConfigKeychain(path).credentials_for("registry.example") is None
    assert [r.levelno for r in caplog.records] == [logging.WARNING]
    assert str(path) in caplog.text
    assert "leaky-secret-123" not in caplog.text


async def test_reloads_when_the_file_changes(tmp_path: Path) -> None:
    path = write_config(tmp_path / "config.json", {"registry.example": {"auth": encoded("u", "1")}})
    keychain = DockerConfigKeychain(path)
    assert await keychain.credentials_for("registry.example") == Credentials("u", "1")

    write_config(path, {"registry.example": {"auth": encoded("u", "2")}})
    mtime = path.stat().st_mtime + 5  # a distinct mtime however coarse the filesystem clock
    os.utime(path, (mtime, mtime))
    assert await keychain.credentials_for("registry.example") == Credentials("u", "2")

    path.unlink()
    assert await keychain.credentials_for("registry.example") is None


def test_credentials_repr_hides_the_password() -> None:
    creds = Credentials("someone", "hunter2-password")
    assert "hunter2-password" not in repr(creds)
    assert "hunter2-password" not in str(creds)
    assert "someone" in repr(creds)


async def test_json_nested_too_deep_is_anonymous(tmp_path: Path) -> None:
    """json.loads raises RecursionError, not ValueError, for deep nesting: still unreadable."""
    path = tmp_path / "config.json"
    path.write_text('{"auths": ' + "[" * 100_000)
    assert await DockerConfigKeychain(path).credentials_for("registry.example") is None
