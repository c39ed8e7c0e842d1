"""VerifyDigest: does the registry's content hash to what the caller expects?

A mismatch is an answer (`verified=False` with both digests), not an error. How deep the check
goes is the mode: the manifests alone, every blob's existence (HEAD), every blob hashed, or every
layer also decompressed and its content digest compared with the config's diff_ids. Blobs are
streamed a few at a time, never held whole in memory.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass, replace
from typing import Final, Literal

from imagepin_server import mediatypes
from imagepin_server.core import content, platforms, selection
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import (
    Descriptor,
    ImageIndex,
    ImageManifest,
    Manifest,
    Platform,
    parse_manifest,
)
from imagepin_server.core.layer_content import LayerContent, inflate_limit
from imagepin_server.digests import Digest, InvalidDigest
from imagepin_server.errors import (
    ImagepinError,
    IntegrityError,
    InvalidArgument,
    NotFound,
    TooLarge,
    UnsupportedContent,
    schema1_refused,
)
from imagepin_server.reference import Reference
from imagepin_server.registry import BlobCheck

CONCURRENT_BLOB_CHECKS: Final = 4
MAX_BLOBS_CHECKED: Final = 2000  # an index of indexes cannot make one call check forever

BlobKind = Literal["manifest", "config", "layer"]


class VerifyMode(enum.Enum):
    """How deep a verification goes; each mode does what the one before does, and more."""

    MANIFEST = "manifest"  # the manifest and an index's children hash to their digests
    EXISTENCE = "existence"  # and every config and layer exists with its size (HEAD only)
    BLOBS = "blobs"  # and every config and layer is fetched and hashed
    CONTENT = "content"  # and every layer's uncompressed content hashes to its diff_id


@dataclass(frozen=True, slots=True)
class BlobResult:
    """The outcome of checking one manifest or blob."""

    kind: BlobKind
    descriptor: Descriptor
    actual: Digest | None = None
    actual_size: int = 0
    error: str = ""
    skipped: bool = False
    head_only: bool = False  # asked for by HEAD: it exists with actual_size; nothing hashed
    diff_id: str = ""  # CONTENT: what the config's rootfs.diff_ids lists for this layer
    actual_diff_id: Digest | None = None  # CONTENT: what the uncompressed content hashed to

    @property
    def verified(self) -> bool:
        if self.error:
            return False
        if self.head_only:
            return self.actual_size == self.descriptor.size
        return (
            self.actual == self.descriptor.digest
            and self.actual_size == self.descriptor.size
            and (not self.diff_id or str(self.actual_diff_id) == self.diff_id)
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
    mode: VerifyMode | None = None,
) -> Verification:
    """Fetch the reference's manifest, hash it, and compare; with a mode, what is below it too.

    No mode keeps the old meaning: `include_layers` is BLOBS, otherwise the manifest alone.
    """
    if mode in (VerifyMode.MANIFEST, VerifyMode.EXISTENCE) and include_layers:
        raise InvalidArgument(
            f"include_layers downloads every blob, which mode {mode.value} does not: "
            "give one of them (include_layers is the same as mode blobs)"
        )
    if mode is None and include_layers:
        mode = VerifyMode.BLOBS
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
        if mode is not None:
            raise
    if manifest is not None:  # hashed as fetched: kept, for reads and the layer index
        await _hold(deps, ref, fetched.digest, fetched.media_type, fetched.raw)
    if wanted is not None and isinstance(manifest, ImageManifest):
        await selection.check_image(deps, ref, manifest, wanted)
    elif wanted is not None and isinstance(manifest, ImageIndex) and mode is None:
        await selection.select(deps, ref, fetched.digest, manifest, wanted)  # the platform exists
    if mode is not None and manifest is not None:
        blobs = await _BlobVerifier(deps, ref, mode).verify_below(manifest, wanted)
    if manifest is not None and deps.on_read is not None:
        deps.on_read(ref, fetched.digest)  # the layer index records what was read
    return Verification(
        reference=ref,
        expected=expected,
        actual=fetched.digest,
        media_type=media_type,
        blobs=blobs,
    )


async def _hold(
    deps: Dependencies, ref: Reference, digest: Digest, media_type: str, raw: bytes
) -> None:
    """Keep a verified manifest as any content fetched is kept: later reads need no request,
    and the layer index knows which repository holds it."""
    await content.remember(deps, ref, digest, "manifest", media_type, raw)


class _BlobVerifier:
    """Walks a manifest's tree and checks every piece of content it names."""

    def __init__(self, deps: Dependencies, ref: Reference, mode: VerifyMode) -> None:
        self._deps = deps
        self._ref = ref
        self._mode = mode
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
            if self._mode is VerifyMode.EXISTENCE:
                raw, media_type, actual = await self._child_by_head(child)
            else:
                fetched = await self._deps.registry.fetch_manifest(
                    self._ref, child.digest, algorithm=child.digest.algorithm
                )
                raw, media_type, actual = fetched.raw, fetched.media_type, fetched.digest
        except (NotFound, IntegrityError) as exc:
            return [BlobResult("manifest", child, error=exc.message)]
        if mediatypes.is_schema1_manifest(media_type, raw):
            refused = schema1_refused(f"the manifest {child.digest}")
            return [BlobResult("manifest", child, error=refused.message)]
        result = BlobResult("manifest", child, actual, len(raw))
        if not result.verified:
            return [result]
        try:
            manifest = parse_manifest(raw, child.media_type)
        except UnsupportedContent as exc:
            return [BlobResult("manifest", child, actual, len(raw), exc.message)]
        await _hold(self._deps, self._ref, actual, media_type, raw)
        return [result, *await self.verify_below(manifest, wanted)]

    async def _child_by_head(self, child: Descriptor) -> tuple[bytes, str, Digest]:
        """EXISTENCE: a HEAD says the child is there; its bytes (to walk it) then come from
        imagepin's content cache, fetched and hashed once. A HEAD that cannot be trusted for a
        digest (or a 404, which head_manifest does not tell apart) is followed by a GET."""
        registry = self._deps.registry
        head = await registry.head_manifest(self._ref, child.digest)
        cached = None
        if head is not None and head.digest == child.digest:
            try:
                cached = await content.manifest(self._deps, self._ref, child.digest)
            except UnsupportedContent:  # schema 1: fetched as it is, and answered as in BLOBS
                cached = None
        if head is None or cached is None:
            fetched = await registry.fetch_manifest(
                self._ref, child.digest, algorithm=child.digest.algorithm
            )
            return fetched.raw, fetched.media_type, fetched.digest
        # Hashed to the digest, so its length is the true size, compared with the descriptor's.
        return cached.raw, cached.media_type or head.media_type, child.digest

    async def _image_blobs(self, manifest: ImageManifest) -> tuple[BlobResult, ...]:
        """Check the config and layers; if one check fails the call, stop the others too."""
        if self._mode is VerifyMode.MANIFEST:
            return ()
        diff_ids: _DiffIds | None = None
        if self._mode is VerifyMode.CONTENT:
            diff_ids = await self._diff_ids(manifest)
        checks: list[tuple[BlobKind, Descriptor, str | None]] = [("config", manifest.config, None)]
        for number, layer in enumerate(manifest.layers):
            checks.append(("layer", layer, diff_ids.expected(number) if diff_ids else None))
        try:
            async with asyncio.TaskGroup() as group:
                tasks = [group.create_task(self._check(kind, d, diff)) for kind, d, diff in checks]
        except* ImagepinError as failed:
            raise failed.exceptions[0] from None
        results = [task.result() for task in tasks]
        if diff_ids is not None:
            if diff_ids.problem and not results[0].error:
                results[0] = replace(results[0], error=diff_ids.problem)
            for number, (_, _, diff_id) in enumerate(checks):
                if diff_id == "" and not results[number].error and not results[number].skipped:
                    results[number] = replace(results[number], error=diff_ids.missing())
        return tuple(results)

    async def _diff_ids(self, manifest: ImageManifest) -> _DiffIds:
        """What the config says each layer's content hashes to, or why it cannot say."""
        try:
            config, _ = await content.image_config(self._deps, self._ref, manifest.config)
        except (NotFound, IntegrityError, UnsupportedContent) as exc:
            return _DiffIds(None, "", f"no diff_id to compare, the config is unusable: {exc}")
        if config is None:  # an artifact: its blobs are hashed, no diff_ids apply
            return _DiffIds(None, "", "")
        listed, layers = len(config.diff_ids), len(manifest.layers)
        problem = ""
        if listed != layers:
            problem = f"the config lists {listed} diff_ids for the manifest's {layers} layers"
        return _DiffIds(config.diff_ids, problem, "")

    async def _check(
        self, kind: BlobKind, descriptor: Descriptor, diff_id: str | None = None
    ) -> BlobResult:
        """One config or layer; `diff_id` (CONTENT, layers) is what its content must hash to:
        "" when the config names none for it, None when no content check applies."""
        self._count_one()
        if kind == "layer" and mediatypes.is_foreign_layer(descriptor.media_type):
            return BlobResult(
                kind, descriptor, error="foreign layer: registries do not serve it", skipped=True
            )
        if self._mode is VerifyMode.EXISTENCE:
            return await self._exists(kind, descriptor)
        inflate = _Inflate(self._deps, self._ref, descriptor, diff_id) if diff_id else None
        async with self._limit:
            try:
                check = await self._deps.registry.check_blob(
                    self._ref,
                    descriptor.digest,
                    size=descriptor.size,
                    sink=inflate.sink if inflate and not inflate.passthrough else None,
                )
            except NotFound as exc:
                return BlobResult(kind, descriptor, error=exc.message, diff_id=diff_id or "")
        error = check.error or ""
        if not error and check.actual != descriptor.digest:
            error = f"content hashes to {check.actual}"
        elif not error and check.actual_size != descriptor.size:
            error = f"content is {check.actual_size} bytes, the manifest says {descriptor.size}"
        result = BlobResult(kind, descriptor, check.actual, check.actual_size, error)
        return inflate.result(result, check, diff_id) if inflate and diff_id else result

    async def _exists(self, kind: BlobKind, descriptor: Descriptor) -> BlobResult:
        """EXISTENCE: one HEAD; the registry's word for the size, nothing downloaded."""
        async with self._limit:
            try:
                head = await self._deps.registry.head_blob(self._ref, descriptor.digest)
            except NotFound as exc:
                return BlobResult(kind, descriptor, error=exc.message, head_only=True)
        error = ""
        if head.claimed is not None and head.claimed != descriptor.digest:
            error = f"the registry names it {head.claimed}"
        elif head.size != descriptor.size:
            error = f"the registry has {head.size} bytes, the manifest says {descriptor.size}"
        return BlobResult(kind, descriptor, None, head.size, error, head_only=True)

    def _count_one(self) -> None:
        self._count += 1
        if self._count > MAX_BLOBS_CHECKED:
            raise TooLarge(
                f"{self._ref} names more than {MAX_BLOBS_CHECKED} pieces of content to verify",
                reference=str(self._ref),
            )


@dataclass(frozen=True, slots=True)
class _DiffIds:
    """The config's diff_ids, or None when there are none to compare; `problem` fails the
    config's result, `unreadable` (the config could not be read) each layer's."""

    listed: tuple[str, ...] | None
    problem: str
    unreadable: str

    def expected(self, number: int) -> str | None:
        """Layer `number`'s diff_id; "" when the config lists none for it; None when no
        content check applies (an artifact, whose config is no image config)."""
        if self.listed is None:
            return "" if self.unreadable else None
        return self.listed[number] if number < len(self.listed) else ""

    def missing(self) -> str:
        """Why a layer has no diff_id to compare with."""
        return self.unreadable or "the config lists no diff_id for this layer"


class _Inflate:
    """CONTENT for one layer: a fresh decompressing sink for each attempt at streaming it."""

    def __init__(
        self, deps: Dependencies, ref: Reference, descriptor: Descriptor, diff_id: str
    ) -> None:
        self._descriptor = descriptor
        self._ref = ref
        self.algorithm = "sha256"
        self.problem = ""
        try:
            self.algorithm = Digest.parse(diff_id).algorithm
        except InvalidDigest as exc:
            self.problem = f"the config's diff_id is not a digest: {exc}"
        self._limit = inflate_limit(
            descriptor.size,
            max_ratio=deps.policy.content_max_ratio,
            max_bytes=deps.policy.content_max_bytes,
        )
        # Uncompressed content is the blob itself: its digest is the blob's, hashed once.
        self.passthrough = (
            mediatypes.layer_compression(descriptor.media_type) is mediatypes.Compression.NONE
            and self.algorithm == descriptor.digest.algorithm
        )

    def sink(self) -> _InThread:
        return _InThread(
            LayerContent(
                self._descriptor.media_type,
                algorithm=self.algorithm,
                limit=self._limit,
                what=f"layer {self._descriptor.digest} of {self._ref}",
            )
        )

    def result(self, result: BlobResult, check: BlobCheck, diff_id: str) -> BlobResult:
        """The layer's result with its content digest compared to the config's diff_id."""
        actual: Digest | None = None
        problem = self.problem
        if self.passthrough:
            actual = check.actual
        elif isinstance(check.sink, _InThread):
            found = check.sink.content.finish()
            actual, problem = found.digest, problem or found.error
        if not problem and actual is not None and str(actual) != diff_id:
            problem = f"uncompressed content hashes to {actual}, not the diff_id {diff_id}"
        error = result.error or problem
        return replace(result, diff_id=diff_id, actual_diff_id=actual, error=error)


class _InThread:
    """Feeds a layer's decompressor off the event loop: one chunk of zeros may inflate to the
    whole bound, and other calls must not wait for it (hashing and inflating release the GIL)."""

    def __init__(self, content: LayerContent) -> None:
        self.content = content

    async def update(self, chunk: bytes) -> None:
        await asyncio.to_thread(self.content.update, chunk)
