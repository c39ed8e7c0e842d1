"""Talking to registries over the OCI Distribution API."""

from imagepin_server.registry.client import (
    BlobCheck,
    BlobHead,
    BlobSink,
    FetchedBlob,
    FetchedManifest,
    ManifestHead,
    RegistryClient,
)
from imagepin_server.registry.config import RegistriesConfig, RegistryConfigError
from imagepin_server.registry.credentials import Credentials, DockerConfigKeychain, Keychain
from imagepin_server.registry.factory import build_client, load_config
from imagepin_server.registry.hosts import RegistryHosts

__all__ = [
    "BlobCheck",
    "BlobHead",
    "BlobSink",
    "Credentials",
    "DockerConfigKeychain",
    "FetchedBlob",
    "FetchedManifest",
    "Keychain",
    "ManifestHead",
    "RegistriesConfig",
    "RegistryClient",
    "RegistryConfigError",
    "RegistryHosts",
    "build_client",
    "load_config",
]
