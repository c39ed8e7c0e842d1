"""ResolveReference: which manifest a tag points at now, pinned, and recorded."""

from __future__ import annotations

from dataclasses import dataclass

from imagepin_server import mediatypes
from imagepin_server.core import platforms
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import Descriptor, ImageIndex, Platform, parse_manifest
from imagepin_server.core.requests import parse_reference
from imagepin_server.digests import Digest
from imagepin_server.errors import UnsupportedContent
from imagepin_server.reference import Reference


@dataclass(frozen=True, slots=True)
class Resolution:
    """The answer to "what does this reference point at now"."""

    reference: Reference  # normalised; with ":latest" added when neither tag nor digest was given
    digest: Digest  # what is pinned: the chosen child's when a platform was asked for
    media_type: str
    size: int
    resolved_digest: Digest  # what the reference itself points at (the index, for an index)
    resolved_media_type: str
    children: tuple[Descriptor, ...] = ()
    selected: Descriptor | None = None


async def resolve(deps: Dependencies, text: str, platform: Platform | None) -> Resolution:
    """Resolve a tag with one HEAD (GET and hash only when HEAD cannot be trusted).

    An index costs one more GET, by digest and verified, for its children. A digest reference is
    fetched and verified, never trusted. Tag resolutions are recorded; digest ones are not, since
    no tag was observed.
    """
    wanted = platforms.validate(platform) if platform else None
    ref = parse_reference(text).with_default_tag()
    registry = deps.registry
    raw: bytes | None = None
    if ref.digest:
        expected = Digest.parse(ref.digest)
        fetched = await registry.get_manifest(ref, ref.digest, expected=expected)
        digest, raw, size, served = expected, fetched.raw, len(fetched.raw), fetched.media_type
    else:
        assert ref.tag is not None
        head = await registry.head_manifest(ref, ref.tag)
        if head is not None:
            digest, size, served = head.digest, head.size, head.media_type
        else:
            fetched = await registry.get_manifest(ref, ref.tag)
            digest, raw, size, served = (
                fetched.digest,
                fetched.raw,
                len(fetched.raw),
                fetched.media_type,
            )

    media_type = served
    if raw is not None:
        media_type = parse_manifest(raw, served).media_type
    elif not mediatypes.is_manifest(served):
        raise UnsupportedContent(f"{ref} has unsupported media type {served!r}", reference=str(ref))

    children: tuple[Descriptor, ...] = ()
    if mediatypes.is_index(media_type):
        if raw is None:
            raw = (await registry.get_manifest(ref, str(digest), expected=digest)).raw
        index = parse_manifest(raw, media_type)
        assert isinstance(index, ImageIndex)
        children = index.manifests

    if ref.tag and not ref.digest:
        await deps.record_tag(ref, digest, media_type)

    selected = (
        platforms.choose(wanted, children, reference=str(ref)) if wanted and children else None
    )
    return Resolution(
        reference=ref,
        digest=selected.digest if selected else digest,
        media_type=selected.media_type if selected else media_type,
        size=selected.size if selected else size,
        resolved_digest=digest,
        resolved_media_type=media_type,
        children=children,
        selected=selected,
    )
