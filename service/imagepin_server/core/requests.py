"""Turning what a caller typed into checked values, with errors a person can act on."""

from __future__ import annotations

from typing import Final

from imagepin_server import reference as references
from imagepin_server.digests import Digest, InvalidDigest
from imagepin_server.errors import BadDigest, BadReference, ConflictingDigests
from imagepin_server.reference import Reference

# Longer than any valid reference (255-char name, 128-char tag, sha512 digest), so the grammar
# is never run over megabytes of input.
REFERENCE_INPUT_LIMIT: Final = 1024


def _shown(text: str) -> str:
    return repr(text[:80] + "…") if len(text) > 80 else repr(text)


def parse_reference(text: str) -> Reference:
    """Parse a caller's reference, raising BadReference with the parser's explanation."""
    if not text:
        raise BadReference("reference is required, e.g. 'redis:7' or 'ghcr.io/org/app:1.0'")
    if len(text) > REFERENCE_INPUT_LIMIT:
        raise BadReference(
            f"reference {_shown(text)} is {len(text)} characters; "
            f"no valid reference is longer than {REFERENCE_INPUT_LIMIT}"
        )
    try:
        return references.parse(text)
    except references.InvalidReference as exc:
        raise BadReference(str(exc), reference=text[:REFERENCE_INPUT_LIMIT]) from exc


def parse_tag_reference(text: str, *, purpose: str) -> Reference:
    """A caller's reference that must name a tag (":latest" when none is given): digests never
    move, so `purpose` (tag history, watching) has nothing to do with one."""
    ref = parse_reference(text)
    if ref.digest:
        raise BadReference(
            f"{ref} names a digest; {purpose} needs a tag reference such as {ref.name}:latest",
            reference=text,
        )
    return ref.with_default_tag()


def parse_digest(text: str, *, field: str = "digest") -> Digest:
    """Parse a caller's digest, raising BadDigest naming the field."""
    try:
        return Digest.parse(text)
    except InvalidDigest as exc:
        raise BadDigest(f"{field}: {exc}") from exc


def expected_digest(ref: Reference, expected_text: str) -> Digest:
    """The digest a VerifyDigest call expects: the field, or the reference's own digest."""
    expected = parse_digest(expected_text, field="expected_digest") if expected_text else None
    pinned = Digest.parse(ref.digest) if ref.digest else None
    if expected and pinned and expected != pinned:
        raise ConflictingDigests(
            f"reference {ref} pins {pinned} but expected_digest is {expected}; give one, "
            "or make them agree",
            reference=str(ref),
        )
    chosen = expected or pinned
    if chosen is None:
        raise BadDigest(
            f"expected_digest is required unless the reference is pinned (name@sha256:…): {ref}",
            reference=str(ref),
        )
    return chosen
