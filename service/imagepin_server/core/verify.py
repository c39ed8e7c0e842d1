"""VerifyDigest: does the registry's content hash to what the caller expects?

A mismatch is an answer (`verified=False` with both digests), not an error. With layers, every
blob is streamed through a hasher, a few at a time, and never held whole in memory.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Final, Literal

from imagepin_server import mediatypes
from imagepin_server.core import platforms, selection
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import (
    Descriptor,
    ImageIndex,
    ImageManifest,
    Manifest,
    Platform,
    parse_manifest,
)
from imagepin_server.digests import Digest
from imagepin_server.errors import (
    ImagepinError,
    NotFound,
    TooLarge,
    UnsupportedContent,
    schema1_refused,
)
from imagepin_server.reference import Reference

CONCURRENT_BLOB_CHECKS: Final = 4
MAX_BLOBS_CHECKED: Final = 2000  # an index of indexes cannot make one call check forever

BlobKind = Literal["manifest", "config", "layer"]


@dataclass(frozen=True, slots=True)
class BlobResult:
    """The outcome of checking one manifest or blob."""

    kind: BlobKind
    descriptor: Descriptor
    actual: Digest | None = None
    actual_size: int = 0
    error: str = ""
    skipped: bool = False

    @property
    def verified(self) -> bool:
        return (
            not self.error
            and self.actual == self.descriptor.digest
            and self.actual_size == self.descriptor.size
        )


@dataclass(frozen=True, slots=True)
class Verification:
    reference: Reference
    expected: Digest
    actual: Digest
    media_type: str
    blobs: tuple[BlobResult, ...] = ()

    @property
    def verified(self) -> bool:
        return self.actual == self.expected and all(
            blob.verified for blob in self.blobs if not blob.skipped
        )


async def verify(
    deps: Dependencies,
    reference: Reference,
    expected: Digest,
    *,
    include_layers: bool,
    platform: Platform | None,
) -> Verification:
    """Fetch the reference's manifest, hash it, and compare; optionally every blob below it."""
    wanted = platforms.validate(platform) if platform else None
    ref = reference.with_default_tag()
    target = ref.target
    assert target is not None
    fetched = await deps.registry.fetch_manifest(ref, target, algorithm=expected.algorithm)
    if mediatypes.is_schema1_manifest(fetched.media_type, fetched.raw):
        # Signed schema 1 is named by its JWS payload, not its bytes: a hash of them is no answer.
        raise schema1_refused(f"the manifest of {ref}", reference=str(ref), registry=ref.registry)
    media_type = mediatypes.base(fetched.media_type)
    blobs: tuple[BlobResult, ...] = ()
    manifest: Manifest | None = None
    try:
        manifest = parse_manifest(fetched.raw, fetched.media_type)
        media_type = manifest.media_type
    except UnsupportedContent:
        if include_layers:
            raise
    if wanted is not None and isinstance(manifest, ImageManifest):
        await selection.check_image(deps, ref, manifest, wanted)
    elif wanted is not None and isinstance(manifest, ImageIndex) and not include_layers:
        await selection.select(deps, ref, fetched.digest, manifest, wanted)  # the platform exists
    if include_layers and manifest is not None:
        blobs = await _BlobVerifier(deps, ref).verify_below(manifest, wanted)
    return Verification(
        reference=ref,
        expected=expected,
        actual=fetched.digest,
        media_type=media_type,
        blobs=blobs,
    )


class _BlobVerifier:
    """Walks a manifest's tree and checks every piece of content it names."""

    def __init__(self, deps: Dependencies, ref: Reference) -> None:
        self._deps = deps
        self._ref = ref
        self._limit = asyncio.Semaphore(CONCURRENT_BLOB_CHECKS)
        self._count = 0

    async def verify_below(
        self, manifest: Manifest, wanted: Platform | None
    ) -> tuple[BlobResult, ...]:
        if isinstance(manifest, ImageManifest):
            return await self._image_blobs(manifest)
        children = manifest.manifests
        if wanted is not None:
            children = (platforms.choose(wanted, children, reference=str(self._ref)),)
        results: list[BlobResult] = []
        for child in children:
            results.extend(await self._child(child, wanted))
        return tuple(results)

    async def _child(self, child: Descriptor, wanted: Platform | None) -> list[BlobResult]:
        """One child of an index: absent (a one-platform copy leaves the others out) or schema 1
        is this child's result, as a missing layer is; it does not fail the call."""
        self._count_one()
        try:
            fetched = await self._deps.registry.fetch_manifest(
                self._ref, child.digest, algorithm=child.digest.algorithm
            )
        except NotFound as exc:
            return [BlobResult("manifest", child, error=exc.message)]
        if mediatypes.is_schema1_manifest(fetched.media_type, fetched.raw):
            refused = schema1_refused(f"the manifest {child.digest}")
            return [BlobResult("manifest", child, error=refused.message)]
        result = BlobResult("manifest", child, fetched.digest, len(fetched.raw))
        if not result.verified:
            return [result]
        try:
            manifest = parse_manifest(fetched.raw, child.media_type)
        except UnsupportedContent as exc:
            return [BlobResult("manifest", child, fetched.digest, len(fetched.raw), exc.message)]
        return [result, *await self.verify_below(manifest, wanted)]

    async def _image_blobs(self, manifest: ImageManifest) -> tuple[BlobResult, ...]:
        """Check the config and layers; if one check fails the call, stop the others too."""
        checks: list[tuple[BlobKind, Descriptor]] = [("config", manifest.config)]
        checks.extend(("layer", layer) for layer in manifest.layers)
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._check(kind, d)) for kind, d in checks]
        except* ImagepinError as failed:
            raise failed.exceptions[0] from None
        return tuple(task.result() for task in tasks)

    async def _check(self, kind: BlobKind, descriptor: Descriptor) -> BlobResult:
        self._count_one()
        if kind == "layer" and mediatypes.is_foreign_layer(descriptor.media_type):
            return BlobResult(
                kind, descriptor, error="foreign layer: registries do not serve it", skipped=True
            )
        async with self._limit:
            try:
                check = await self._deps.registry.check_blob(
                    self._ref, descriptor.digest, size=descriptor.size
                )
            except NotFound as exc:
                return BlobResult(kind, descriptor, error=exc.message)
        error = check.error or ""
        if not error and check.actual != descriptor.digest:
            error = f"content hashes to {check.actual}"
        elif not error and check.actual_size != descriptor.size:
            error = f"content is {check.actual_size} bytes, the manifest says {descriptor.size}"
        return BlobResult(kind, descriptor, check.actual, check.actual_size, error)

    def _count_one(self) -> None:
        self._count += 1
        if self._count > MAX_BLOBS_CHECKED:
            raise TooLarge(
                f"{self._ref} names more than {MAX_BLOBS_CHECKED} pieces of content to verify",
                reference=str(self._ref),
            )
