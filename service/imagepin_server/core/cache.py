"""Bounded in-memory caches: what a tag pointed at recently, and content by digest.

Tags move, so a tag's answer carries when it was observed and callers decide how old is too old.
Content addressed by digest never changes, so it is kept until evicted for room.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, Generic, TypeVar

from imagepin_server.digests import Digest

TAG_CACHE_ENTRIES: Final = 50_000
CONTENT_CACHE_BYTES: Final = 64 * 1024 * 1024

K = TypeVar("K")
V = TypeVar("V")

TagKey = tuple[str, str, str]  # (registry, repository, tag)
# (registry, repository, digest, kind): content is served only for a repository it was seen in,
# and a config is never served as a manifest (or the other way round).
ContentKey = tuple[str, str, str, str]


@dataclass(frozen=True, slots=True)
class TagAnswer:
    """What a tag pointed at when the registry (or the store) last said so."""

    digest: Digest
    media_type: str
    size: int
    observed_at: datetime  # wall clock, UTC: for responses and the store
    observed_monotonic: float  # for ages, immune to wall-clock jumps

    def age(self, now_monotonic: float) -> timedelta:
        """How old the answer is at `now_monotonic` (the Dependencies' monotonic clock)."""
        return timedelta(seconds=max(0.0, now_monotonic - self.observed_monotonic))


class LruCache(Generic[K, V]):
    """A least-recently-used map bounded by entry count and by total weight."""

    def __init__(self, *, max_entries: int, max_weight: int | None = None) -> None:
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._max_entries = max_entries
        self._max_weight = max_weight
        self._weight = 0

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: K, value: V, weight: int = 1) -> None:
        if self._max_weight is not None and weight > self._max_weight:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self._weight -= old[1]
        self._entries[key] = (value, weight)
        self._weight += weight
        while len(self._entries) > self._max_entries or (
            self._max_weight is not None and self._weight > self._max_weight
        ):
            _, (_, evicted_weight) = self._entries.popitem(last=False)
            self._weight -= evicted_weight

    def discard(self, key: K) -> None:
        """Forget `key` (a hint said it changed); nothing happens when it is not there."""
        old = self._entries.pop(key, None)
        if old is not None:
            self._weight -= old[1]

    def __len__(self) -> int:
        return len(self._entries)


@dataclass(frozen=True, slots=True)
class CachedContent:
    media_type: str
    raw: bytes


class Caches:
    """The process's caches, shared by every request."""

    def __init__(
        self,
        *,
        tag_entries: int = TAG_CACHE_ENTRIES,
        content_bytes: int = CONTENT_CACHE_BYTES,
    ) -> None:
        self.tags: LruCache[TagKey, TagAnswer] = LruCache(max_entries=tag_entries)
        self.contents: LruCache[ContentKey, CachedContent] = LruCache(
            max_entries=100_000, max_weight=content_bytes
        )
