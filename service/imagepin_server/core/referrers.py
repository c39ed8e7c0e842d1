"""ListReferrers: everything that refers to an image, from every place it can be kept.

Four sources, asked in this order for each subject digest: the OCI 1.1 referrers API (every
`Link` page), or, when the registry has none (404, remembered per repository), the spec's
fallback tag `sha256-<hex>` holding an index of referrers; cosign's `sha256-<hex>.sig`, `.att`
and `.sbom` tags; and, for an index, BuildKit's attestation manifests listed in it. A subject's
sources are asked once while cold (concurrent callers share the work) and the answer is kept
for a bounded time. Pages, entries and children are bounded, and the answer says when a bound
cut it short.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final

from imagepin_server import mediatypes
from imagepin_server.core import content
from imagepin_server.core.attachments import (
    Referrer,
    ReferrerSource,
    SubjectKey,
    SubjectReferrers,
)
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import Descriptor, ImageIndex, parse_manifest
from imagepin_server.core.platforms import ATTESTATION_MANIFEST, REFERENCE_TYPE_ANNOTATION
from imagepin_server.core.resolve import pin
from imagepin_server.digests import Digest, InvalidDigest
from imagepin_server.errors import (
    BadRegistryResponse,
    ManifestNotFound,
    RepositoryNotFound,
    UnsupportedContent,
)
from imagepin_server.reference import Reference, Tag

MAX_PAGES: Final = 16  # referrers API pages followed per subject
MAX_REFERRERS: Final = 512  # referrers kept per subject, all sources together
MAX_CHILDREN: Final = 64  # index children whose referrers include_children lists
CONCURRENT_SUBJECTS: Final = 4
REFERENCE_DIGEST_ANNOTATION: Final = "vnd.docker.reference.digest"
COSIGN_TAGS: Final = (
    ("sig", mediatypes.COSIGN_SIGNATURE_ARTIFACT),
    ("att", mediatypes.COSIGN_ATTESTATION_ARTIFACT),
    ("sbom", mediatypes.COSIGN_SBOM_ARTIFACT),
)


@dataclass(frozen=True, slots=True)
class ReferrerListing:
    reference: Reference
    digest: Digest  # the subject the reference names
    referrers: tuple[Referrer, ...]
    truncated: bool


async def list_referrers(
    deps: Dependencies,
    reference: Reference,
    *,
    artifact_type: str = "",
    include_children: bool = False,
) -> ReferrerListing:
    """What refers to the image `reference` names (and, for an index, optionally its children)."""
    ref = reference.with_default_tag()
    answer, _ = await pin(deps, ref)
    subjects = [answer.digest]
    truncated = False
    attestations: list[Referrer] = []
    if mediatypes.is_index(answer.media_type):
        found = await content.manifest(deps, ref, answer.digest)
        index = parse_manifest(found.raw, found.media_type)
        if isinstance(index, ImageIndex):
            attestations = index_attestations(index)
            if include_children:
                attested = {r.descriptor.digest for r in attestations}
                children = list(
                    dict.fromkeys(c.digest for c in index.manifests if c.digest not in attested)
                )
                truncated = len(children) > MAX_CHILDREN
                subjects += children[:MAX_CHILDREN]
    gate = asyncio.Semaphore(CONCURRENT_SUBJECTS)

    async def one(subject: Digest) -> SubjectReferrers:
        async with gate:
            return await referrers_of(deps, ref, subject)

    listings = await asyncio.gather(*(one(subject) for subject in subjects))
    seen: set[tuple[Digest, Digest]] = set()
    referrers: list[Referrer] = []
    for referrer in [r for listing in listings for r in listing.referrers] + attestations:
        key = (referrer.subject, referrer.descriptor.digest)
        if key in seen:
            continue
        seen.add(key)
        if not artifact_type or referrer.descriptor.artifact_type == artifact_type:
            referrers.append(referrer)
    return ReferrerListing(
        reference=ref,
        digest=answer.digest,
        referrers=tuple(referrers),
        truncated=truncated or any(listing.truncated for listing in listings),
    )


async def referrers_of(deps: Dependencies, ref: Reference, subject: Digest) -> SubjectReferrers:
    """The referrers the registry keeps for one subject, from memory within the bounded time."""
    key: SubjectKey = (ref.registry, ref.repository, str(subject))
    state = deps.attachments
    remembered = state.listings.get(key, deps.monotonic())
    if remembered is not None:
        return remembered

    async def ask() -> SubjectReferrers:
        listing = await _gather(deps, ref, subject)
        state.listings.put(key, listing, deps.monotonic())
        return listing

    return await state.flights.run(key, ask)


def index_attestations(index: ImageIndex) -> list[Referrer]:
    """BuildKit's attestation manifests in an index, each a referrer of the image it names."""
    found = []
    for child in index.manifests:
        if child.annotations.get(REFERENCE_TYPE_ANNOTATION) != ATTESTATION_MANIFEST:
            continue
        try:
            subject = Digest.parse(child.annotations.get(REFERENCE_DIGEST_ANNOTATION, ""))
        except InvalidDigest:
            continue  # an attestation that names no image refers to nothing we can say
        found.append(Referrer(child, subject, ReferrerSource.INDEX_ATTESTATION))
    return found


async def _gather(deps: Dependencies, ref: Reference, subject: Digest) -> SubjectReferrers:
    listed, truncated = await _listed(deps, ref, subject)
    tagged = await _cosign_tags(deps, ref, subject)
    referrers: dict[Digest, Referrer] = {}
    for referrer in listed + tagged:
        referrers.setdefault(referrer.descriptor.digest, referrer)
    kept = list(referrers.values())
    return SubjectReferrers(
        referrers=tuple(kept[:MAX_REFERRERS]), truncated=truncated or len(kept) > MAX_REFERRERS
    )


async def _listed(
    deps: Dependencies, ref: Reference, subject: Digest
) -> tuple[list[Referrer], bool]:
    """The referrers API's listing or, where the registry has no such API, the fallback tag."""
    repository = (ref.registry, ref.repository)
    if deps.attachments.no_api.get(repository, deps.monotonic()) is None:
        found = await _from_api(deps, ref, subject)
        if found is not None:
            return found
        deps.attachments.no_api.put(repository, True, deps.monotonic())
    return await _from_fallback_tag(deps, ref, subject), False


async def _from_api(
    deps: Dependencies, ref: Reference, subject: Digest
) -> tuple[list[Referrer], bool] | None:
    found: list[Referrer] = []
    query: str | None = None
    for _ in range(MAX_PAGES):
        page = await deps.registry.get_referrers(ref, subject, query=query)
        if page is None:
            return None if query is None else (found, True)  # a later page gone: cut short
        found += _descriptors(
            page.raw, page.media_type, subject, ReferrerSource.REFERRERS_API, strict=True
        )
        if len(found) > MAX_REFERRERS:
            return found[:MAX_REFERRERS], True
        query = page.next_query
        if query is None:
            return found, page.next_refused
    return found, True


async def _from_fallback_tag(deps: Dependencies, ref: Reference, subject: Digest) -> list[Referrer]:
    """The index kept under `<alg>-<hex>` (OCI 1.1, "referrers tag schema")."""
    try:
        fetched = await deps.registry.get_manifest(ref, Tag(f"{subject.algorithm}-{subject.hex}"))
    except (ManifestNotFound, RepositoryNotFound):
        return []
    return _descriptors(fetched.raw, fetched.media_type, subject, ReferrerSource.FALLBACK_TAG)


async def _cosign_tags(deps: Dependencies, ref: Reference, subject: Digest) -> list[Referrer]:
    """cosign's `<alg>-<hex>.sig/.att/.sbom` tags; each found is kept as content by digest."""

    async def one(suffix: str, artifact_type: str) -> Referrer | None:
        try:
            fetched = await deps.registry.get_manifest(
                ref, Tag(f"{subject.algorithm}-{subject.hex}.{suffix}")
            )
        except (ManifestNotFound, RepositoryNotFound):
            return None
        manifest = parse_manifest(fetched.raw, fetched.media_type)
        await content.remember(
            deps, ref, fetched.digest, "manifest", fetched.media_type, fetched.raw
        )
        descriptor = Descriptor(
            media_type=manifest.media_type,
            digest=fetched.digest,
            size=len(fetched.raw),
            annotations=manifest.annotations,
            artifact_type=manifest.artifact_type or artifact_type,
        )
        return Referrer(descriptor, subject, ReferrerSource.COSIGN_TAG)

    found = await asyncio.gather(*(one(suffix, kind) for suffix, kind in COSIGN_TAGS))
    return [referrer for referrer in found if referrer is not None]


def _descriptors(
    raw: bytes, media_type: str, subject: Digest, source: ReferrerSource, *, strict: bool = False
) -> list[Referrer]:
    """The descriptors of an index of referrers.

    The API must answer an index (`strict`: anything else is the registry's fault); a fallback
    tag holding something else is someone else's tag, and refers to nothing.
    """
    try:
        index = parse_manifest(raw, media_type)
    except UnsupportedContent as exc:
        if strict:
            raise BadRegistryResponse(f"the referrers listing of {subject}: {exc.message}") from exc
        return []
    if not isinstance(index, ImageIndex):
        if strict:
            raise BadRegistryResponse(f"the referrers listing of {subject} is not an index")
        return []
    return [Referrer(child, subject, source) for child in index.manifests]
