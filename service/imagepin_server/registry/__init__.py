"""Talking to registries over the OCI Distribution API."""

from imagepin_server.registry.client import (
    BlobCheck,
    FetchedBlob,
    FetchedManifest,
    ManifestHead,
    RegistryClient,
)
from imagepin_server.registry.credentials import Credentials, DockerConfigKeychain, Keychain
from imagepin_server.registry.hosts import RegistryHosts

__all__ = [
    "BlobCheck",
    "Credentials",
    "DockerConfigKeychain",
    "FetchedBlob",
    "FetchedManifest",
    "Keychain",
    "ManifestHead",
    "RegistryClient",
    "RegistryHosts",
]
