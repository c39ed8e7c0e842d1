"""A reference that must name a tag: digests never move, so tag history and watching refuse them."""

from __future__ import annotations

from imagepin_server import errors
from imagepin_server.reference import Reference


def require_tag(ref: Reference, *, purpose: str) -> Reference:
    """`ref` with ":latest" when it names no tag; BadReference when it names a digest."""
    if ref.digest:
        raise errors.BadReference(
            f"{ref} names a digest; {purpose} needs a tag reference such as {ref.name}:latest",
            reference=str(ref),
        )
    return ref.with_default_tag()
