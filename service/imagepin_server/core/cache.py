"""Bounded in-memory caches: what a tag pointed at recently, and content by digest.

Tags move, so a tag's answer carries when it was observed and callers decide how old is too old.
Content addressed by digest never changes, so it is kept until evicted for room.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Final, TypeVar

from cachetools import LRUCache

from imagepin_server.digests import Digest

K = TypeVar("K")
V = TypeVar("V")

TAG_CACHE_ENTRIES: Final = 50_000
CONTENT_CACHE_BYTES: Final = 64 * 1024 * 1024

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


@dataclass(frozen=True, slots=True)
class CachedContent:
    media_type: str
    raw: bytes


CONTENT_CACHE_ENTRIES: Final = 100_000


class WeightedLRU(LRUCache[K, V]):
    """Least recently used first out, bounded by the entries' total weight and by their count.

    An entry heavier than the whole weight bound is not kept (no error: it is fetched again).
    """

    def __init__(self, *, max_weight: int, max_entries: int, weigh: Callable[[V], int]) -> None:
        super().__init__(maxsize=max_weight, getsizeof=weigh)
        self._max_entries = max_entries

    def __setitem__(self, key: K, value: V) -> None:
        if self.getsizeof(value) > self.maxsize:
            return
        super().__setitem__(key, value)
        while len(self) > self._max_entries:
            self.popitem()


class ContentCache(WeightedLRU[ContentKey, CachedContent]):
    """Content by digest, bounded by its bytes and its entries."""

    def __init__(self, *, max_bytes: int, max_entries: int = CONTENT_CACHE_ENTRIES) -> None:
        super().__init__(max_weight=max_bytes, max_entries=max_entries, weigh=_content_size)


def _content_size(content: CachedContent) -> int:
    return len(content.raw)


class TagCache(LRUCache[TagKey, TagAnswer]):
    """What tags pointed at recently, telling listeners of every key whose answer is
    replaced or dropped (evicted, forgotten), so that copies made from an answer (the
    serialised warm answers) go with it."""

    def __init__(self, *, maxsize: int) -> None:
        super().__init__(maxsize=maxsize)
        self._listeners: list[Callable[[TagKey], None]] = []

    def on_change(self, listener: Callable[[TagKey], None]) -> None:
        self._listeners.append(listener)

    def __setitem__(self, key: TagKey, value: TagAnswer) -> None:
        super().__setitem__(key, value)
        for listener in self._listeners:
            listener(key)

    def __delitem__(self, key: TagKey) -> None:
        super().__delitem__(key)  # eviction and pop come through here too
        for listener in self._listeners:
            listener(key)


class Caches:
    """The process's caches, shared by every request."""

    def __init__(
        self,
        *,
        tag_entries: int = TAG_CACHE_ENTRIES,
        content_bytes: int = CONTENT_CACHE_BYTES,
    ) -> None:
        self.tags = TagCache(maxsize=tag_entries)
        self.contents = ContentCache(max_bytes=content_bytes)
