"""Choosing the child of an index for a platform, spelled the way people spell platforms.

Normalisation follows containerd's platforms package: `x86_64` is `amd64`, `aarch64` is `arm64`,
`arm` without a variant means `v7`, and arm64's `v8` is its default variant.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from imagepin_server.core.images import Descriptor, Platform
from imagepin_server.errors import BadPlatform, PlatformNotFound

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


def choose(wanted: Platform, children: Sequence[Descriptor], *, reference: str) -> Descriptor:
    """The first child of an index that matches `wanted`, as Docker picks it.

    When no variant is asked for, an exact default-variant match (arm -> v7) is preferred over
    any other variant of the same architecture.
    """
    candidates = [c for c in children if c.platform is not None and matches(wanted, c.platform)]
    if not candidates:
        offered = ", ".join(str(c.platform) for c in children if c.platform is not None)
        raise PlatformNotFound(
            f"{reference} has no image for platform {wanted} (it has: {offered or 'none'})",
            reference=reference,
        )
    want = normalize(wanted)
    for child in candidates:
        assert child.platform is not None
        if normalize(child.platform).variant == want.variant:
            return child
    return candidates[0]


def _show(platform: Platform) -> str:
    return "/".join(p for p in (platform.os, platform.architecture, platform.variant) if p)
