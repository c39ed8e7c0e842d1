"""Per-host state a caller can make grow is bounded: tokens, their locks, remembered schemes,
registries known to want Basic, credential-helper answers."""

from __future__ import annotations

import pytest
from imagepin_server.registry import RegistryHosts
from imagepin_server.registry.auth import TOKEN_EXPIRY_MARGIN_S, TokenCache
from imagepin_server.registry.hosts import Endpoint
from imagepin_server.registry.lru import LruDict, LruSet

from tests.registry.test_auth_challenge import FakeClock


def test_lru_dict_forgets_the_least_recently_used() -> None:
    lru: LruDict[str, int] = LruDict(3)
    for index, key in enumerate("abc"):
        lru[key] = index
    assert lru.get("a") == 0  # read: now the newest
    lru["d"] = 3
    assert "b" not in lru
    assert [key for key, _ in lru.items()] == ["c", "a", "d"]
    assert len(lru) == 3
    assert lru.get("b", -1) == -1
    with pytest.raises(ValueError, match="at least 1"):
        LruDict(0)


def test_lru_set_is_bounded() -> None:
    members: LruSet[str] = LruSet(2)
    members.add("a")
    members.add("b")
    assert "a" in members  # found: now the newest
    members.add("c")
    assert "b" not in members
    assert "a" in members
    assert "c" in members
    assert len(members) == 2


def test_token_cache_keeps_at_most_its_limit_least_recently_used_first() -> None:
    cache = TokenCache(clock=FakeClock(), limit=3)
    for index in range(3):
        cache.put("r.example", f"s{index}", f"t{index}", 300)
    assert cache.get("r.example", "s0") == "t0"
    cache.put("r.example", "s3", "t3", 300)
    assert len(cache) == 3
    assert cache.get("r.example", "s1") is None
    assert [cache.get("r.example", s) for s in ("s0", "s2", "s3")] == ["t0", "t2", "t3"]


def test_expired_tokens_and_their_idle_locks_go_before_live_ones() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock, limit=2)
    cache.put("r.example", "old", "t-old", 20)
    old_lock = cache.lock("r.example", "old")
    clock.now += 5
    cache.put("r.example", "live", "t-live", 300)
    clock.now += 20 - TOKEN_EXPIRY_MARGIN_S  # "old" has expired, "live" has not
    cache.put("r.example", "new", "t-new", 300)  # full: the expired one goes, not the LRU
    assert cache.get("r.example", "live") == "t-live"
    assert cache.get("r.example", "new") == "t-new"
    assert cache.lock("r.example", "old") is not old_lock  # its idle lock went with it


async def test_token_locks_are_bounded_but_a_held_one_is_kept() -> None:
    cache = TokenCache(clock=FakeClock(), limit=2)
    held = cache.lock("r.example", "a")
    idle = cache.lock("r.example", "b")
    async with held:
        cache.lock("r.example", "c")  # full: idle locks are dropped, the held one kept
        assert cache.lock("r.example", "a") is held
        assert cache.lock("r.example", "b") is not idle


def test_remembered_schemes_are_bounded() -> None:
    hosts = RegistryHosts(scheme_memory=2)
    plain = [f"127.0.0.1:{port}" for port in (5001, 5002, 5003)]
    for host in plain:
        hosts.confirm(Endpoint(registry=host, host=host, scheme="http"))
    assert [hosts.endpoint(host).scheme for host in plain] == ["https", "http", "http"]


def test_schemes_are_remembered_only_for_hosts_that_may_use_http() -> None:
    hosts = RegistryHosts(scheme_memory=1)
    hosts.confirm(Endpoint(registry="127.0.0.1:5001", host="127.0.0.1:5001", scheme="http"))
    hosts.confirm(Endpoint(registry="ghcr.io", host="ghcr.io", scheme="https"))  # nothing kept
    assert hosts.endpoint("127.0.0.1:5001").scheme == "http"
