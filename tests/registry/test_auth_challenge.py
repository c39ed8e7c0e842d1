"""Parsing `WWW-Authenticate` challenges as real registries send them, and token cache expiry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from imagepin_server.registry.auth import TOKEN_EXPIRY_MARGIN_S, TokenCache, parse_challenge


@pytest.mark.parametrize(
    ("header", "scheme", "params"),
    [
        pytest.param(
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/alpine:pull"',
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:library/alpine:pull",
            },
            id="docker-hub",
        ),
        pytest.param(
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:samalba/my-app:pull,push",error="insufficient_scope"',
            "bearer",
            {
                "realm": "https://auth.docker.io/token",
                "service": "registry.docker.io",
                "scope": "repository:samalba/my-app:pull,push",
                "error": "insufficient_scope",
            },
            id="docker-hub-insufficient-scope",
        ),
        pytest.param(
            'Bearer realm="https://ghcr.io/token",service="ghcr.io",'
            'scope="repository:user/image:pull"',
            "bearer",
            {
                "realm": "https://ghcr.io/token",
                "service": "ghcr.io",
                "scope": "repository:user/image:pull",
            },
            id="ghcr",
        ),
        pytest.param(
            'Bearer realm="https://r.example/token", service="r.example", '
            'scope="repository:a/b:pull repository:c/d:pull,push"',
            "bearer",
            {
                "realm": "https://r.example/token",
                "service": "r.example",
                "scope": "repository:a/b:pull repository:c/d:pull,push",
            },
            id="spaces-and-two-scopes",
        ),
        pytest.param(
            "bearer realm=https://r.example/token,service=r.example",
            "bearer",
            {"realm": "https://r.example/token", "service": "r.example"},
            id="lowercase-unquoted",
        ),
        pytest.param(
            'Basic realm="Registry Realm"',
            "basic",
            {"realm": "Registry Realm"},
            id="basic",
        ),
        pytest.param(
            'Basic realm="say \\"hi\\", then log in"',
            "basic",
            {"realm": 'say "hi", then log in'},
            id="escaped-quotes",
        ),
        pytest.param(
            'Bearer Realm="https://r.example/token"',
            "bearer",
            {"realm": "https://r.example/token"},
            id="parameter-names-are-case-insensitive",
        ),
    ],
)
def test_parse_challenge(header: str, scheme: str, params: dict[str, str]) -> None:
    challenge = parse_challenge(header)
    assert challenge is not None
    assert challenge.scheme == scheme
    assert challenge.params == params


@pytest.mark.parametrize("header", ["", "   "])
def test_parse_empty_challenge(header: str) -> None:
    assert parse_challenge(header) is None


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_token_cache_expires_a_margin_before_the_token_does() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.put("r.example", "repository:a:pull", "tok", 300)
    assert cache.get("r.example", "repository:a:pull") == "tok"
    clock.now += 300 - TOKEN_EXPIRY_MARGIN_S - 0.001
    assert cache.get("r.example", "repository:a:pull") == "tok"
    clock.now += 0.001
    assert cache.get("r.example", "repository:a:pull") is None


def test_token_cache_keys_by_registry_and_scope() -> None:
    cache = TokenCache(clock=FakeClock())
    cache.put("r.example", "repository:a:pull", "tok-a", 300)
    assert cache.get("r.example", "repository:b:pull") is None
    assert cache.get("other.example", "repository:a:pull") is None


def test_token_cache_short_lived_tokens_still_live_a_second() -> None:
    clock = FakeClock()
    cache = TokenCache(clock=clock)
    cache.put("r.example", "repository:a:pull", "tok", 5)  # shorter than the margin
    assert cache.get("r.example", "repository:a:pull") == "tok"
    clock.now += 1.0
    assert cache.get("r.example", "repository:a:pull") is None


async def test_token_cache_one_fetch_per_key() -> None:
    cache = TokenCache(clock=FakeClock())
    release = asyncio.Event()
    fetched: list[str] = []

    def fetcher(scope: str) -> Callable[[], Coroutine[Any, Any, str]]:
        async def fetch() -> str:
            fetched.append(scope)
            await release.wait()
            return f"tok-{scope}"

        return fetch

    waiters = [
        asyncio.create_task(cache.flights.run(("r", scope), fetcher(scope)))
        for scope in ("s", "s", "t")
    ]
    release.set()
    assert await asyncio.gather(*waiters) == ["tok-s", "tok-s", "tok-t"]
    assert sorted(fetched) == ["s", "t"]
