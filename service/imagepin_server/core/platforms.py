"""Platforms, spelled the way people spell them: what an index child is, and which one to run.

Normalisation follows containerd's platforms package: `x86_64` is `amd64`, `aarch64` is `arm64`,
`arm` without a variant means `v7`, and arm64's `v8` is its default variant. Only image children
are ever chosen: attestations (BuildKit's provenance and SBOM manifests, unknown/unknown) and
other artifacts are listed, classified, and never offered as a platform.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from typing import Final

from imagepin_server import mediatypes
from imagepin_server.core.images import Descriptor, ImageConfig, Platform
from imagepin_server.errors import BadPlatform, PlatformNotFound

# BuildKit marks its attestation manifests in the index with this annotation (and unknown/unknown).
REFERENCE_TYPE_ANNOTATION: Final = "vnd.docker.reference.type"
ATTESTATION_MANIFEST: Final = "attestation-manifest"
UNKNOWN: Final = "unknown"


class ManifestKind(enum.Enum):
    """What a child of an index is, as a client deciding what to run needs to know."""

    IMAGE = "image"
    INDEX = "index"
    ATTESTATION = "attestation"
    ARTIFACT = "artifact"


_FIELD: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ARCH_ALIASES: Final = {
    "x86_64": "amd64",
    "x86-64": "amd64",
    "aarch64": "arm64",
    "armhf": "arm",
    "armel": "arm",
    "i386": "386",
    "i686": "386",
}
_DEFAULT_VARIANT: Final = {"arm": "v7", "arm64": "v8"}


def validate(platform: Platform) -> Platform:
    """Check a requested platform's fields; default the os to linux as Docker does."""
    fields = {"os": platform.os, "architecture": platform.architecture}
    if platform.variant:
        fields["variant"] = platform.variant
    if platform.os_version:
        fields["os_version"] = platform.os_version
    if not platform.architecture:
        raise BadPlatform(f"platform {_show(platform)!r} has no architecture (e.g. amd64, arm64)")
    for name, value in fields.items():
        if value and not _FIELD.fullmatch(value):
            raise BadPlatform(
                f"platform {name} {value[:80]!r} is not valid: use letters, digits, '.', '_', '-'"
            )
    return Platform(
        os=platform.os or "linux",
        architecture=platform.architecture,
        variant=platform.variant,
        os_version=platform.os_version,
        os_features=platform.os_features,
    )


def normalize(platform: Platform) -> Platform:
    """The canonical spelling of a platform, for comparison."""
    arch = platform.architecture.lower()
    variant = platform.variant.lower()
    if arch in ("armhf",) and not variant:
        variant = "v7"
    if arch == "armel" and not variant:
        variant = "v6"
    arch = _ARCH_ALIASES.get(arch, arch)
    if arch == "arm64" and variant == "8":
        variant = "v8"
    variant = variant or _DEFAULT_VARIANT.get(arch, "")
    return Platform(
        os=platform.os.lower(),
        architecture=arch,
        variant=variant,
        os_version=platform.os_version,
        os_features=platform.os_features,
    )


def matches(wanted: Platform, offered: Platform) -> bool:
    """True when an index child built for `offered` serves a request for `wanted`."""
    want, have = normalize(wanted), normalize(offered)
    if (want.os, want.architecture) != (have.os, have.architecture):
        return False
    if wanted.variant and want.variant != have.variant:
        return False
    return not want.os_version or want.os_version == have.os_version


def classify(child: Descriptor) -> ManifestKind:
    """What an index child is, from its descriptor alone (no fetch)."""
    if child.annotations.get(REFERENCE_TYPE_ANNOTATION) == ATTESTATION_MANIFEST:
        return ManifestKind.ATTESTATION
    if child.artifact_type:
        return ManifestKind.ARTIFACT
    if mediatypes.is_index(child.media_type):
        return ManifestKind.INDEX
    platform = child.platform
    if platform is not None and (platform.os, platform.architecture) == (UNKNOWN, UNKNOWN):
        return ManifestKind.ATTESTATION
    if mediatypes.is_image(child.media_type):
        return ManifestKind.IMAGE
    return ManifestKind.ARTIFACT


def offered(children: Sequence[Descriptor]) -> list[Platform]:
    """The platforms an index has images for: what an error may offer a caller instead."""
    return [
        c.platform for c in children if c.platform is not None and classify(c) is ManifestKind.IMAGE
    ]


def candidates(wanted: Platform, children: Sequence[Descriptor]) -> list[Descriptor]:
    """The children that may serve `wanted`, best first: matching images, then nested indexes.

    Among images, when no variant is asked for, an exact default-variant match (arm -> v7) comes
    before any other variant of the same architecture; otherwise index order, as Docker picks.
    A nested index is a candidate unless its descriptor names a platform that does not match.
    """
    want = normalize(wanted)
    images = [
        c
        for c in children
        if classify(c) is ManifestKind.IMAGE
        and c.platform is not None
        and matches(wanted, c.platform)
    ]
    images.sort(key=lambda c: c.platform is None or normalize(c.platform).variant != want.variant)
    indexes = [
        c
        for c in children
        if classify(c) is ManifestKind.INDEX and (c.platform is None or matches(wanted, c.platform))
    ]
    return images + indexes


def choose(wanted: Platform, children: Sequence[Descriptor], *, reference: str) -> Descriptor:
    """The best child of one index for `wanted` (an image, or a nested index to descend into)."""
    found = candidates(wanted, children)
    if not found:
        raise not_found(reference, wanted, offered(children), empty=not children)
    return found[0]


def not_found(
    reference: str, wanted: Platform, available: Sequence[Platform], *, empty: bool
) -> PlatformNotFound:
    """The error for an index without an image for `wanted`, offering only real platforms."""
    if empty:
        message = f"{reference} is an empty index: it has no image for any platform, so none for"
        return PlatformNotFound(f"{message} {wanted}", reference=reference)
    listed = ", ".join(dict.fromkeys(str(p) for p in available)) or "none"
    return PlatformNotFound(
        f"{reference} has no image for platform {wanted} (it has: {listed})", reference=reference
    )


def config_platform(config: ImageConfig) -> Platform:
    """The platform an image config says the image was built for."""
    return Platform(
        os=config.os,
        architecture=config.architecture,
        variant=config.variant,
        os_version=config.os_version,
    )


def check_image(wanted: Platform, config: ImageConfig, *, reference: str) -> None:
    """Refuse a single-platform image whose config names another platform than `wanted`.

    A config that names no architecture says nothing to check against, and is let through.
    """
    built_for = config_platform(config)
    if not built_for.architecture:
        return
    if not built_for.os:
        built_for = Platform("linux", built_for.architecture, built_for.variant)
    if not matches(wanted, built_for):
        raise PlatformNotFound(
            f"{reference} is a single-platform image for {built_for}, not {wanted}",
            reference=reference,
        )


def check_not_artifact(wanted: Platform, config_media_type: str, *, reference: str) -> None:
    """Refuse a platform for a manifest whose config is not an image config (an artifact)."""
    if not mediatypes.is_image_config(config_media_type):
        raise PlatformNotFound(
            f"{reference} is not an image but an artifact (its config is "
            f"{config_media_type[:100]!r}), so it has nothing for platform {wanted}",
            reference=reference,
        )


def _show(platform: Platform) -> str:
    return "/".join(p for p in (platform.os, platform.architecture, platform.variant) if p)
