"""What the use cases need of a registry: exactly the calls they make, as a Protocol.

Core depends on this, not on the concrete RegistryClient, so the one place that chooses the
client (app.py) can change it, and what core asks of a registry is written down in one place.
The value types these calls return (heads, fetched manifests and blobs, blob checks) are the
registry package's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from imagepin_server.digests import Digest
from imagepin_server.reference import Reference, Target
from imagepin_server.registry import (
    BlobCheck,
    BlobHead,
    BlobSink,
    FetchedBlob,
    FetchedManifest,
    ManifestHead,
)
from imagepin_server.registry.referrers import ReferrersPage


class Registry(Protocol):
    """The OCI Distribution calls the use cases make (implemented by registry.RegistryClient)."""

    def pull_budget_low(self, registry: str) -> bool:
        """Whether background work should leave `registry` alone (its pull budget is low)."""
        ...

    def max_concurrency(self, registry: str) -> int:
        """How many requests `registry`'s host takes at once (its configured politeness)."""
        ...

    async def head_manifest(self, ref: Reference, target: Target) -> ManifestHead | None:
        """HEAD by tag or digest; None when the answer cannot be trusted (GET and hash then)."""
        ...

    async def get_manifest(
        self, ref: Reference, target: Target, *, expected: Digest | None = None
    ) -> FetchedManifest:
        """GET a manifest, refused unless its bytes hash to the digest they should (the target's,
        when it is a digest)."""
        ...

    async def fetch_manifest(
        self, ref: Reference, target: Target, *, algorithm: str = "sha256"
    ) -> FetchedManifest:
        """GET and hash a manifest, checking only its size (a mismatch is VerifyDigest's answer)."""
        ...

    async def get_blob(self, ref: Reference, digest: Digest, *, limit: int) -> FetchedBlob:
        """GET a small blob (an image config) whole, refused unless it hashes to `digest`."""
        ...

    async def head_blob(self, ref: Reference, digest: Digest) -> BlobHead:
        """HEAD a blob: its size as the registry says, nothing downloaded (BlobNotFound)."""
        ...

    async def check_blob(
        self,
        ref: Reference,
        digest: Digest,
        *,
        size: int | None,
        sink: Callable[[], BlobSink] | None = None,
    ) -> BlobCheck:
        """Stream a blob through a hasher and say what it hashed to, never holding it; a fresh
        `sink()` per attempt also sees the bytes (CONTENT mode's decompressor)."""
        ...

    async def get_listing(
        self, ref: Reference, path: str, *, limit: int
    ) -> tuple[bytes, str | None]:
        """GET one page of `ref`'s tag list (`tags/list?…`): at most `limit` bytes, and its Link."""
        ...

    async def get_referrers(
        self, ref: Reference, digest: Digest, *, query: str | None = None
    ) -> ReferrersPage | None:
        """One page of the OCI 1.1 referrers listing of `digest`; None without a referrers API."""
        ...
