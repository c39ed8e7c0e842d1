"""Per-host state a caller can make grow is bounded: tokens, token fetches, remembered schemes,
registries known to want Basic, credential-helper answers."""

from __future__ import annotations

import httpx
from cachetools import LRUCache
from imagepin_server.registry import RegistryHosts
from imagepin_server.registry.auth import TOKEN_EXPIRY_MARGIN_S, RegistryAuth, TokenCache
from imagepin_server.registry.credentials import Credentials, StaticKeychain
from imagepin_server.registry.hosts import Endpoint

from tests.registry.test_auth_challenge import FakeClock


def test_remembered_schemes_forget_the_least_recently_read() -> None:
    hosts = RegistryHosts(scheme_memory=3)
    plain = [f"127.0.0.1:{port}" for port in (5001, 5002, 5003, 5004)]
    for host in plain[:3]:
        hosts.confirm(Endpoint(registry=host, host=host, scheme="http"))
    assert hosts.endpoint(plain[0]).scheme == "http"  # read: now the newest
    hosts.confirm(Endpoint(registry=plain[3], host=plain[3], scheme="http"))
    assert [hosts.endpoint(host).scheme for host in plain] == ["http", "https", "http", "http"]


async def test_registries_known_to_want_basic_are_bounded() -> None:
    basic: LRUCache[str, bool] = LRUCache(maxsize=2)
    keychain = StaticKeychain({name: Credentials("u", "p") for name in ("a", "b", "c")})

    async def authorized(registry: str) -> bool:
        async with httpx.AsyncClient() as client:
            return await _sends_basic_up_front(registry, client)

    async def _sends_basic_up_front(registry: str, client: httpx.AsyncClient) -> bool:
        auth = RegistryAuth(
            registry=registry,
            scope="repository:x:pull",
            keychain=keychain,
            tokens=TokenCache(clock=FakeClock()),
            basic_hosts=basic,
            token_client=client,
            insecure=False,
        )
        request = httpx.Request("GET", f"https://{registry}/v2/")
        flow = auth.async_auth_flow(request)
        sent = await flow.__anext__()
        await flow.aclose()
        return "Authorization" in sent.headers

    basic["a"] = True
    basic["b"] = True
    assert await authorized("a")  # sent Basic up front, and "a" is now the newest
    basic["c"] = True
    assert not await authorized("b")
    assert await authorized("a")
    assert await authorized("c")
    assert len(basic) == 2


def test_token_cache_keeps_at_most_its_limit_least_recently_used_first() -> None:
    cache = TokenCache(clock=FakeClock(), limit=3)
    for index in range(3):
        cache.put("r.example", f"s{index}", f"t{index}", 300)
    assert cache.get("r.example", "s0") == "t0"
    cache.put("r.example", "s3", "t3", 300)
    assert len(cache) == 3
    assert cache.get("r.example", "s1") is None
    assert [cache.get("r.example", s) for s in ("s0", "s2", "s3")] == ["t0", "t2", "t3"]


def test_expired_tokens_go_before_live_ones() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock, limit=2)
    cache.put("r.example", "old", "t-old", 20)
    clock.now += 5
    cache.put("r.example", "live", "t-live", 300)
    clock.now += 20 - TOKEN_EXPIRY_MARGIN_S  # "old" has expired, "live" has not
    cache.put("r.example", "new", "t-new", 300)  # full: the expired one goes, not the LRU
    assert cache.get("r.example", "live") == "t-live"
    assert cache.get("r.example", "new") == "t-new"


async def test_token_fetches_are_kept_only_while_in_flight() -> None:
    cache = TokenCache(clock=FakeClock(), limit=2)

    async def fetch() -> str:
        return "token"

    for scope in ("a", "b", "c"):
        assert await cache.flights.run(("r.example", scope), fetch) == "token"
    assert len(cache.flights) == 0  # done: nothing kept per key, whatever callers name


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
