"""The bounded LRU behind the tag and content caches."""

from __future__ import annotations

from imagepin_server.core.cache import LruCache


def test_least_recently_used_entries_go_first_when_full() -> None:
    cache: LruCache[str, int] = LruCache(max_entries=2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # "a" is now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c")) == (1, 3)


def test_weight_bound_evicts_until_it_fits_and_refuses_what_never_fits() -> None:
    cache: LruCache[str, bytes] = LruCache(max_entries=100, max_weight=10)
    cache.put("a", b"x" * 6, weight=6)
    cache.put("b", b"y" * 6, weight=6)
    assert cache.get("a") is None
    assert cache.get("b") == b"y" * 6
    cache.put("huge", b"z" * 11, weight=11)
    assert cache.get("huge") is None
    assert len(cache) == 1
