"""The bounded LRUs behind the tag and content caches (cachetools)."""

from __future__ import annotations

from datetime import UTC, datetime

from imagepin_server.core.cache import CachedContent, Caches, ContentCache, TagAnswer
from imagepin_server.digests import Digest


def _content(data: bytes) -> CachedContent:
    return CachedContent("text/plain", data)


def _answer(data: bytes) -> TagAnswer:
    return TagAnswer(Digest.of(data), "text/plain", len(data), datetime.now(UTC), 0.0)


def test_least_recently_used_entries_go_first_when_full() -> None:
    cache = Caches(tag_entries=2).tags
    one, two, three = (_answer(data) for data in (b"1", b"2", b"3"))
    cache[("r", "a", "1")] = one
    cache[("r", "b", "1")] = two
    assert cache.get(("r", "a", "1")) is one  # "a" is now the most recent
    cache[("r", "c", "1")] = three
    assert cache.get(("r", "b", "1")) is None
    assert (cache.get(("r", "a", "1")), cache.get(("r", "c", "1"))) == (one, three)


def test_weight_bound_evicts_until_it_fits_and_refuses_what_never_fits() -> None:
    cache = Caches(content_bytes=10).contents
    cache[("r", "x", "a", "config")] = _content(b"x" * 6)
    cache[("r", "x", "b", "config")] = _content(b"y" * 6)
    assert cache.get(("r", "x", "a", "config")) is None
    assert cache.get(("r", "x", "b", "config")) == _content(b"y" * 6)
    cache[("r", "x", "huge", "config")] = _content(b"z" * 11)
    assert cache.get(("r", "x", "huge", "config")) is None
    assert len(cache) == 1


def test_content_is_bounded_by_entries_too() -> None:
    cache = ContentCache(max_bytes=1000, max_entries=2)
    for name in "abc":
        cache[("r", "x", name, "config")] = _content(b"{}")
    assert cache.get(("r", "x", "a", "config")) is None
    assert len(cache) == 2
