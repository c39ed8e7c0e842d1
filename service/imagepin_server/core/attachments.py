"""What the referrers and signature use cases remember: bounded, and for a bounded time.

Referrers change as artifacts are pushed, so a subject's listing is kept for `ttl_s` only; a
repository whose registry has no referrers API is remembered as such for `no_api_ttl_s`, so the
API is not asked again for every subject. Signature verdicts are keyed by everything they depend
on (image, trusted keys, signature manifests), so they never go stale and are kept until evicted.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final, Generic, TypeVar

from cachetools import LRUCache

from imagepin_server.core.images import Descriptor
from imagepin_server.core.trust import TrustPolicies
from imagepin_server.digests import Digest
from imagepin_server.singleflight import SingleFlight

REFERRERS_TTL_S: Final = 60.0
NO_API_TTL_S: Final = 3600.0
SUBJECTS_REMEMBERED: Final = 10_000
VERDICTS_REMEMBERED: Final = 10_000

V = TypeVar("V")
SubjectKey = tuple[str, str, str]  # (registry, repository, subject digest)
RepositoryKey = tuple[str, str]  # (registry, repository)


class ReferrerSource(enum.Enum):
    """Where a referrer was found."""

    REFERRERS_API = "referrers-api"
    FALLBACK_TAG = "fallback-tag"
    COSIGN_TAG = "cosign-tag"
    INDEX_ATTESTATION = "index-attestation"


@dataclass(frozen=True, slots=True)
class Referrer:
    """A manifest that refers to `subject`, as its source described it."""

    descriptor: Descriptor
    subject: Digest
    source: ReferrerSource


@dataclass(frozen=True, slots=True)
class SubjectReferrers:
    """What the registry holds for one subject digest (before any filter)."""

    referrers: tuple[Referrer, ...]
    truncated: bool


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome of checking one signature (one simple-signing layer)."""

    signature_digest: Digest  # the manifest carrying it
    source: ReferrerSource
    key_id: str = ""
    verified: bool = False
    error: str = ""


VerdictKey = tuple[str, str, str, tuple[str, ...], tuple[str, ...]]


class _Expiring(Generic[V]):
    """An LRU whose entries are good for a fixed time; `now` is the caller's monotonic clock
    (the Dependencies'), so core reads no clock of its own."""

    def __init__(self, entries: int, ttl_s: float) -> None:
        self._cache: LRUCache[object, tuple[float, V]] = LRUCache(maxsize=entries)
        self._ttl_s = ttl_s

    def get(self, key: object, now: float) -> V | None:
        entry = self._cache.get(key)
        if entry is None or entry[0] <= now:
            return None
        return entry[1]

    def put(self, key: object, value: V, now: float) -> None:
        self._cache[key] = (now + self._ttl_s, value)


@dataclass(slots=True)
class Attachments:
    """One per process, in core.Dependencies."""

    trust: TrustPolicies = field(default_factory=TrustPolicies)
    ttl_s: float = REFERRERS_TTL_S
    no_api_ttl_s: float = NO_API_TTL_S
    listings: _Expiring[SubjectReferrers] = field(init=False)
    no_api: _Expiring[bool] = field(init=False)
    flights: SingleFlight[SubjectKey, SubjectReferrers] = field(default_factory=SingleFlight)
    verdicts: LRUCache[VerdictKey, tuple[SignatureCheck, ...]] = field(init=False)

    def __post_init__(self) -> None:
        self.listings = _Expiring(SUBJECTS_REMEMBERED, self.ttl_s)
        self.no_api = _Expiring(SUBJECTS_REMEMBERED, self.no_api_ttl_s)
        self.verdicts = LRUCache(maxsize=VERDICTS_REMEMBERED)
