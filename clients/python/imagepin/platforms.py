"""Platforms as people write them ("linux/arm64/v8") and as the contract carries them."""

from __future__ import annotations

from imagepin.v1 import resolver_pb2


def parse_platform(text: str) -> resolver_pb2.Platform:
    """`os/architecture[/variant]`; the service normalises spellings such as `aarch64`."""
    parts = text.strip().split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError(f"platform {text!r} is not os/architecture[/variant], e.g. linux/amd64")
    variant = parts[2] if len(parts) == 3 else ""
    return resolver_pb2.Platform(os=parts[0], architecture=parts[1], variant=variant)


def format_platform(platform: resolver_pb2.Platform) -> str:
    """The `os/architecture[/variant]` form, empty for an unset platform."""
    parts = [platform.os, platform.architecture, platform.variant]
    return "/".join(part for part in parts if part)
