"""Retries, Retry-After within the caller's deadline, and redirects that must not carry credentials.

Against the scripted server: a real registry never answers 503 on cue or resets mid-body.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from imagepin_server import deadlines, errors
from imagepin_server.digests import Digest
from imagepin_server.reference import Tag
from imagepin_server.registry import Credentials
from imagepin_server.registry.config import Limits
from imagepin_server.registry.politeness import HostBudgets, retry_delay

from tests.registry.helpers import DIGEST, HEADERS, MANIFEST, StaticKeychain, ref, registry_client
from tests.support.hostile_registry import (
    HostileHandler,
    HostileRegistry,
    in_turn,
    launch_hostile_registry,
    reply,
    reset_mid_body,
)

REPOSITORY = "retry/app"
FAST = {"retries": 3, "backoff_s": 0.01, "backoff_max_s": 0.02}


def path(target: str) -> str:
    return f"/v2/{REPOSITORY}/manifests/{target}"


async def test_503_twice_then_200_is_answered(hostile: HostileRegistry) -> None:
    ok = reply(200, MANIFEST, HEADERS)
    hostile.script("GET", path("1"), in_turn(reply(503, b""), reply(503, b""), ok))
    async with registry_client(**FAST) as client:
        fetched = await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert fetched.digest == DIGEST
    assert len(hostile.requests) == 3


async def test_retries_stop_at_the_configured_number(hostile: HostileRegistry) -> None:
    hostile.script("GET", path("1"), reply(503, b""))
    async with registry_client(**FAST) as client:
        with pytest.raises(errors.RegistryUnavailable):
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert len(hostile.requests) == 4  # one try and three retries


async def test_429_waits_its_retry_after_then_answers(hostile: HostileRegistry) -> None:
    limited = reply(429, b"", {"Retry-After": "1"})
    hostile.script("GET", path("1"), in_turn(limited, reply(200, MANIFEST, HEADERS)))
    started = time.monotonic()
    async with registry_client(**FAST) as client:
        fetched = await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert fetched.digest == DIGEST
    assert time.monotonic() - started >= 0.95


async def test_retry_after_past_the_callers_deadline_is_not_waited_for(
    hostile: HostileRegistry,
) -> None:
    hostile.script("GET", path("1"), reply(429, b"", {"Retry-After": "5"}))
    token = deadlines.set_remaining(2.0)
    started = time.monotonic()
    try:
        async with registry_client(**FAST) as client:
            with pytest.raises(errors.RateLimited) as caught:
                await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    finally:
        deadlines.reset(token)
    assert time.monotonic() - started < 1.0
    assert "retry after 5s" in caught.value.message
    assert len(hostile.requests) == 1


async def test_connection_reset_mid_body_is_fetched_again(hostile: HostileRegistry) -> None:
    broken = reset_mid_body(200, MANIFEST, HEADERS)
    hostile.script("GET", path("1"), in_turn(broken, reply(200, MANIFEST, HEADERS)))
    async with registry_client(**FAST) as client:
        fetched = await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert fetched.raw == MANIFEST


async def test_connection_reset_every_time_is_unavailable(hostile: HostileRegistry) -> None:
    hostile.script("GET", path("1"), reset_mid_body(200, MANIFEST, HEADERS))
    async with registry_client(**FAST) as client:
        with pytest.raises(errors.RegistryUnavailable) as caught:
            await client.get_manifest(ref(hostile.host, REPOSITORY), Tag("1"))
    assert f"{hostile.host}/{REPOSITORY}:1" in caught.value.message


async def test_a_blob_redirect_to_another_host_carries_no_credentials(
    hostile: HostileRegistry,
) -> None:
    config = b'{"architecture":"amd64"}'
    digest = Digest.of(config)
    with launch_hostile_registry() as storage:
        storage.script("GET", "/blob", reply(200, config))

        def registry(handler: HostileHandler) -> None:
            if not handler.headers.get("Authorization"):
                reply(401, b"", {"WWW-Authenticate": 'Basic realm="hostile"'})(handler)
            else:
                reply(307, b"", {"Location": f"http://{storage.host}/blob"})(handler)

        hostile.script("GET", f"/v2/{REPOSITORY}/blobs/{digest}", registry)
        keychain = StaticKeychain({hostile.host: Credentials("user", "secret-password")})
        async with registry_client(keychain) as client:
            blob = await client.get_blob(ref(hostile.host, REPOSITORY), digest, limit=1024)
        assert blob.data == config
        assert [r.headers.get("Authorization") for r in hostile.requests][-1] is not None
        assert [r.path for r in storage.requests] == ["/blob"]
        assert "Authorization" not in storage.requests[0].headers


def test_backoff_grows_with_jitter_and_respects_bounds() -> None:
    limits = Limits(retries=3, backoff_s=0.1, backoff_max_s=0.3)
    for attempt, bound in enumerate([0.1, 0.2, 0.3]):
        delay = retry_delay(attempt, limits)
        assert delay is not None
        assert 0 <= delay <= bound
    assert retry_delay(3, limits) is None  # out of retries
    assert retry_delay(0, limits, "31") is None  # longer than max_retry_after
    assert retry_delay(0, limits, "2") == 2.0


async def test_host_budget_caps_concurrency_and_rate() -> None:
    budgets = HostBudgets()
    limits = Limits(max_concurrency=2, requests_per_second=20, burst=1)
    in_flight, peak = 0, 0

    async def one() -> None:
        nonlocal in_flight, peak
        async with budgets.slot("registry.example", limits):
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.02)
            in_flight -= 1

    started = time.monotonic()
    await asyncio.gather(*(one() for _ in range(6)))
    assert peak <= 2
    assert time.monotonic() - started >= 0.2  # 6 requests at 20/s with a bucket of 1
