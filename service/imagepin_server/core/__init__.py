"""The use cases: resolve, get a manifest, list layers, verify."""

from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import Platform
from imagepin_server.core.inspect import LayerListing, ManifestView, get_manifest, list_layers
from imagepin_server.core.resolve import Resolution, resolve
from imagepin_server.core.verify import Verification, verify

__all__ = [
    "Dependencies",
    "LayerListing",
    "ManifestView",
    "Platform",
    "Resolution",
    "Verification",
    "get_manifest",
    "list_layers",
    "resolve",
    "verify",
]
