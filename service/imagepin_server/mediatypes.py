"""The media types imagepin understands, and predicates over them.

Pure: no I/O and no imports of ours. Every media-type string in the project lives here.
"""

from __future__ import annotations

import enum
from typing import Final

OCI_INDEX: Final = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG: Final = "application/vnd.oci.image.config.v1+json"
OCI_LAYER: Final = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP: Final = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD: Final = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_NONDISTRIBUTABLE: Final = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDISTRIBUTABLE_GZIP: Final = (
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
)
OCI_LAYER_NONDISTRIBUTABLE_ZSTD: Final = (
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
)

DOCKER_MANIFEST_LIST: Final = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG: Final = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP: Final = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_LAYER_FOREIGN_GZIP: Final = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
DOCKER_SCHEMA1_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFEST_TYPES: Final = INDEX_TYPES | IMAGE_TYPES
IMAGE_CONFIG_TYPES: Final = frozenset({OCI_CONFIG, DOCKER_CONFIG})

# Sent on every manifest request. Leaving a type out makes registries convert or pick another
# representation, and then the digest they answer with is not the one a client pulling
# the image would see.
MANIFEST_ACCEPT: Final = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST))


class Compression(enum.Enum):
    """How a layer blob is compressed."""

    UNKNOWN = "unknown"
    NONE = "none"
    GZIP = "gzip"
    ZSTD = "zstd"


_LAYER_COMPRESSION: Final = {
    OCI_LAYER: Compression.NONE,
    OCI_LAYER_GZIP: Compression.GZIP,
    OCI_LAYER_ZSTD: Compression.ZSTD,
    OCI_LAYER_NONDISTRIBUTABLE: Compression.NONE,
    OCI_LAYER_NONDISTRIBUTABLE_GZIP: Compression.GZIP,
    OCI_LAYER_NONDISTRIBUTABLE_ZSTD: Compression.ZSTD,
    DOCKER_LAYER_GZIP: Compression.GZIP,
    DOCKER_LAYER_FOREIGN_GZIP: Compression.GZIP,
}

_FOREIGN_LAYERS: Final = frozenset(
    {
        OCI_LAYER_NONDISTRIBUTABLE,
        OCI_LAYER_NONDISTRIBUTABLE_GZIP,
        OCI_LAYER_NONDISTRIBUTABLE_ZSTD,
        DOCKER_LAYER_FOREIGN_GZIP,
    }
)


def base(media_type: str) -> str:
    """The media type without parameters or surrounding space (`a/b; charset=x` -> `a/b`)."""
    return media_type.split(";", 1)[0].strip().lower()


def is_index(media_type: str) -> bool:
    """True for a multi-platform index (OCI image index or Docker manifest list)."""
    return base(media_type) in INDEX_TYPES


def is_image(media_type: str) -> bool:
    """True for a single-platform image manifest (OCI or Docker schema2)."""
    return base(media_type) in IMAGE_TYPES


def is_image_config(media_type: str) -> bool:
    """True for the config of a runnable image (OCI or Docker), not an artifact's config."""
    return base(media_type) in IMAGE_CONFIG_TYPES


def is_manifest(media_type: str) -> bool:
    """True for any manifest type imagepin can parse."""
    return base(media_type) in MANIFEST_TYPES


def is_schema1(media_type: str) -> bool:
    """True for the long-deprecated Docker schema1 manifests, which imagepin refuses."""
    return base(media_type) in {DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED_MANIFEST}


def layer_compression(media_type: str) -> Compression:
    """The compression a layer media type declares; UNKNOWN for types we do not recognise."""
    return _LAYER_COMPRESSION.get(base(media_type), Compression.UNKNOWN)


def is_foreign_layer(media_type: str) -> bool:
    """True for non-distributable (foreign) layers that registries need not serve."""
    return base(media_type) in _FOREIGN_LAYERS
