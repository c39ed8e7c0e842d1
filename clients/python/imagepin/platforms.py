"""Platforms as people write them (`arm64`, `linux/arm64`, `aarch64`, `linux/arm/v7`) and as
the contract carries them.

Spellings are read as Docker reads `--platform` (containerd's platforms.Parse): one part is an
architecture on linux, two are os/architecture (or architecture/variant when the first part is
an architecture and no OS), three are os/architecture/variant. Names are then checked and
normalised by the service's rules (imagepin_server.core.platforms, copied here since the client
cannot import the server): fields of letters, digits, `.`, `_` and `-`; `x86_64` is `amd64`,
`aarch64` is `arm64`, `armhf` is `arm/v7`, `armel` is `arm/v6`, arm64's `8` is `v8`. A default
variant is not added: the service prefers it (`arm` finds `arm/v7` first) without demanding it.
"""

from __future__ import annotations

import re
from typing import Final

import grpc

from imagepin.errors import ERROR_DOMAIN, InvalidArgument
from imagepin.v1 import resolver_pb2

INVALID_PLATFORM: Final = "INVALID_PLATFORM"  # the service's ErrorInfo reason for the same fault

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
_ALIAS_VARIANT: Final = {"armhf": "v7", "armel": "v6"}
# Go's GOOS values, as containerd tells an os/arch pair from an arch/variant pair.
_OSES: Final = frozenset(
    {"aix", "android", "darwin", "dragonfly", "freebsd", "illumos", "ios", "js", "linux",
     "netbsd", "openbsd", "plan9", "solaris", "wasip1", "windows"}
)  # fmt: skip
_ARCHES: Final = frozenset(
    {"386", "amd64", "arm", "arm64", "loong64", "mips", "mips64", "mips64le", "mipsle", "ppc64",
     "ppc64le", "riscv64", "s390x", "wasm", *_ARCH_ALIASES}
)  # fmt: skip


def parse_platform(text: str) -> resolver_pb2.Platform:
    """`arm64`, `linux/arm64`, `aarch64`, `linux/arm/v7`… as the service's Platform message.

    Raises InvalidArgument (reason INVALID_PLATFORM, as the service would) for what is no
    platform: empty parts, more than three, characters a platform cannot have, no architecture.
    """
    parts = text.strip().split("/")
    if len(parts) > 3 or not all(parts):
        raise _invalid(text, "is not [os/]architecture[/variant], e.g. linux/amd64 or arm64")
    for part in parts:
        if not _FIELD.fullmatch(part):
            raise _invalid(text, f"has {part[:80]!r}: use letters, digits, '.', '_', '-'")
    lowered = [part.lower() for part in parts]
    if len(lowered) == 1:
        if lowered[0] in _OSES:
            raise _invalid(text, "names no architecture (e.g. linux/amd64, arm64)")
        os, arch, variant = "linux", lowered[0], ""
    elif len(lowered) == 2:
        first, second = lowered
        if first not in _OSES and first in _ARCHES:
            os, arch, variant = "linux", first, second
        else:
            os, arch, variant = first, second, ""
    else:
        os, arch, variant = lowered
    return _normalized(os, arch, variant)


def _normalized(os: str, arch: str, variant: str) -> resolver_pb2.Platform:
    """The service's spelling rules: aliases, and the variant an alias implies."""
    variant = variant or _ALIAS_VARIANT.get(arch, "")
    arch = _ARCH_ALIASES.get(arch, arch)
    if arch == "arm64" and variant == "8":
        variant = "v8"
    return resolver_pb2.Platform(os=os, architecture=arch, variant=variant)


def _invalid(text: str, why: str) -> InvalidArgument:
    return InvalidArgument(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"platform {text[:100]!r} {why}",
        reason=INVALID_PLATFORM,
        domain=ERROR_DOMAIN,
    )


def format_platform(platform: resolver_pb2.Platform) -> str:
    """The `os/architecture[/variant]` form, empty for an unset platform."""
    parts = [platform.os, platform.architecture, platform.variant]
    return "/".join(part for part in parts if part)
