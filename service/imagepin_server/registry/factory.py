"""Assemble the process's registry client from the registries file and the older settings."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from imagepin_server.registry.client import RegistryClient
from imagepin_server.registry.config import RegistriesConfig, load
from imagepin_server.registry.credentials import (
    ChainKeychain,
    DockerConfigKeychain,
    Keychain,
    PullSecretsKeychain,
    StaticKeychain,
)
from imagepin_server.registry.hosts import RegistryHosts


def load_config(path: Path | None) -> RegistriesConfig:
    """The registries file, or the defaults without one; RegistryConfigError when unusable."""
    return RegistriesConfig() if path is None else load(path)


def keychain_for(config: RegistriesConfig, docker_config: Path | None) -> Keychain:
    """Static credentials first, then pull secrets, then the Docker config (and its helpers)."""
    static = {name: host.credentials for name, host in config.hosts.items() if host.credentials}
    return ChainKeychain(
        [
            StaticKeychain(static),
            PullSecretsKeychain(config.pull_secrets),
            DockerConfigKeychain(config.docker_config or docker_config),
        ]
    )


def build_client(
    config: RegistriesConfig,
    *,
    insecure: Iterable[str] = (),
    extra_ca: Path | None = None,
    docker_config: Path | None = None,
) -> RegistryClient:
    """`insecure`, `extra_ca` and `docker_config` are the IMAGEPIN_* settings that predate the
    registries file; they still apply, beside it."""
    return RegistryClient(
        RegistryHosts(insecure, config),
        keychain_for(config, docker_config),
        extra_ca=extra_ca,
    )
