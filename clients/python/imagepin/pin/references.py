"""Image strings as written in manifests: pinned or not, and how to pin one keeping its tag.

The reference is kept exactly as written (no normalisation) so a pinned line reads like the line
it replaced with `@sha256:…` appended; the service does the real parsing.
"""

from __future__ import annotations


def split_digest(image: str) -> tuple[str, str]:
    """(`name[:tag]`, `digest`); the digest is empty for an unpinned image."""
    name, _, digest = image.partition("@")
    return name, digest


def is_pinned(image: str) -> bool:
    return "@" in image


def has_tag(name: str) -> bool:
    """A tag is a colon in the last path component (`host:5000/app` has none)."""
    return ":" in name.rsplit("/", 1)[-1]


def pin_reference(image: str, digest: str) -> str:
    """`name:tag@digest`; an image written without a tag gets the `:latest` it resolved."""
    name, _ = split_digest(image)
    if not has_tag(name):
        name = f"{name}:latest"
    return f"{name}@{digest}"


def tag_reference(image: str) -> str | None:
    """What to resolve to check a pinned image: its `name:tag`, or None without a tag."""
    name, _ = split_digest(image)
    return name if has_tag(name) else None
