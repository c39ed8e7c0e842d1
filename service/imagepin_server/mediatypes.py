"""The media types imagepin understands, and predicates over them.

Pure: no I/O and no imports of ours. Every media-type string in the project lives here.
"""

from __future__ import annotations

import enum
import json
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
OCTET_STREAM: Final = "application/octet-stream"
JSON: Final = "application/json"
# The envelope the CNCF distribution registry POSTs its notifications in.
DISTRIBUTION_EVENTS: Final = "application/vnd.docker.distribution.events.v1+json"
DOCKER_SCHEMA1_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v1+json"
DOCKER_SCHEMA1_SIGNED_MANIFEST: Final = "application/vnd.docker.distribution.manifest.v1+prettyjws"

INDEX_TYPES: Final = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
IMAGE_CONFIG_TYPES: Final = frozenset({OCI_CONFIG, DOCKER_CONFIG})
IMAGE_TYPES: Final = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
MANIFEST_TYPES: Final = INDEX_TYPES | IMAGE_TYPES

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


def is_manifest(media_type: str) -> bool:
    """True for any manifest type imagepin can parse."""
    return base(media_type) in MANIFEST_TYPES


def is_schema1(media_type: str) -> bool:
    """True for the long-deprecated Docker schema1 manifests, which imagepin refuses."""
    return base(media_type) in {DOCKER_SCHEMA1_MANIFEST, DOCKER_SCHEMA1_SIGNED_MANIFEST}


def is_image_config(media_type: str) -> bool:
    """True for a config descriptor that declares an image config (OCI or Docker)."""
    return base(media_type) in IMAGE_CONFIG_TYPES


def may_be_image_config(media_type: str) -> bool:
    """True for a config descriptor of octet-stream, which old pushes gave image configs: such a
    blob is an image config only if its content says so."""
    return base(media_type) == OCTET_STREAM


def is_schema1_document(document: object) -> bool:
    """True for a parsed manifest that says it is schema 1 (`schemaVersion: 1`, or its type)."""
    if not isinstance(document, dict):
        return False
    declared = document.get("mediaType")
    version = document.get("schemaVersion")
    return (type(version) is int and version == 1) or (
        isinstance(declared, str) and is_schema1(declared)
    )


def is_schema1_manifest(served_media_type: str, raw: bytes) -> bool:
    """True for manifest bytes that are schema 1 by the type they were served as or by their body.

    Asked before any digest check: registries name a signed schema 1 manifest by the digest of
    its JWS payload (the bytes without `signatures`), so its bytes never hash to its name, and
    that is schema 1, not a registry serving the wrong content.
    """
    if is_schema1(served_media_type):
        return True
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return False
    return is_schema1_document(document)


def layer_compression(media_type: str) -> Compression:
    """The compression a layer media type declares; UNKNOWN for types we do not recognise."""
    return _LAYER_COMPRESSION.get(base(media_type), Compression.UNKNOWN)


def is_foreign_layer(media_type: str) -> bool:
    """True for non-distributable (foreign) layers that registries need not serve."""
    return base(media_type) in _FOREIGN_LAYERS


# --- what is attached to images: signatures, attestations, SBOMs ------------------------------
# cosign's simple-signing payload, one per signature layer of a `.sig` manifest.
COSIGN_SIMPLE_SIGNING: Final = "application/vnd.dev.cosign.simplesigning.v1+json"
# The artifact types cosign gives its OCI 1.1 referrers; imagepin gives them to what it finds
# under cosign's `.sig`, `.att` and `.sbom` tags too, so one filter finds both.
COSIGN_SIGNATURE_ARTIFACT: Final = "application/vnd.dev.cosign.artifact.sig.v1+json"
COSIGN_ATTESTATION_ARTIFACT: Final = "application/vnd.dev.cosign.artifact.att.v1+json"
COSIGN_SBOM_ARTIFACT: Final = "application/vnd.dev.cosign.artifact.sbom.v1+json"
# A Sigstore bundle (keyless: Fulcio certificate and transparency-log entry) as a referrer.
SIGSTORE_BUNDLE_PREFIX: Final = "application/vnd.dev.sigstore.bundle"


def is_sigstore_bundle(media_type: str) -> bool:
    """True for any version of the Sigstore bundle media type (`…bundle.v0.3+json`, …)."""
    return base(media_type).startswith(SIGSTORE_BUNDLE_PREFIX)
