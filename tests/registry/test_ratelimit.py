"""Rate-limit headers, pulls counted, the pull reserve, and Docker Hub's kinds of 429.

Against the scripted server: a real docker-registry sends no rate-limit headers and never
answers 429. The headers and bodies are Docker Hub's, as its documentation shows them.
"""

from __future__ import annotations

import json

import pytest
from imagepin_server import errors
from imagepin_server.registry.config import DOCKER_HUB_REQUESTS_PER_SECOND, RegistriesConfig
from imagepin_server.registry.errors import error_for_status
from imagepin_server.registry.ratelimit import Quota, kind_of_429, parse
from prometheus_client import REGISTRY

from tests.registry.helpers import DIGEST, HEADERS, MANIFEST, ref, registry_client
from tests.support.hostile_registry import HostileRegistry, reply

REPOSITORY = "limits/app"
# Docker Hub's pull-limit answer (docs.docker.com, "Docker Hub usage and limits").
PULL_LIMIT_BODY = json.dumps(
    {
        "errors": [
            {
                "code": "TOOMANYREQUESTS",
                "message": "You have reached your pull rate limit. You may increase the limit "
                "by authenticating and upgrading: https://www.docker.com/increase-rate-limits",
            }
        ]
    }
).encode()


def limited(remaining: int, limit: int = 100) -> dict[str, str]:
    return {
        **HEADERS,
        "ratelimit-limit": f"{limit};w=21600",
        "ratelimit-remaining": f"{remaining};w=21600",
    }


def path(target: str) -> str:
    return f"/v2/{REPOSITORY}/manifests/{target}"


def sample(name: str, registry: str) -> float:
    return REGISTRY.get_sample_value(name, {"registry": registry}) or 0.0


@pytest.mark.parametrize(
    ("text", "quota"),
    [
        ("100;w=21600", Quota(100, 21600)),
        ("76", Quota(76, None)),
        (" 5 ; w = 60 ", Quota(5, 60)),
        ("7;w=3600;comment=x", Quota(7, 3600)),
        ("", None),
        ("lots", None),
        ("-1;w=60", None),
    ],
)
def test_header_values_are_parsed_with_their_window(text: str, quota: Quota | None) -> None:
    assert parse(text) == quota


async def test_headers_are_read_from_a_head_and_pulls_count_gets_only(
    hostile: HostileRegistry,
) -> None:
    hostile.script("HEAD", path("1"), reply(200, MANIFEST, limited(76)))
    hostile.script("GET", path("1"), reply(200, MANIFEST, limited(75)))
    pulls = sample("imagepin_registry_pulls_total", hostile.host)
    async with registry_client() as client:
        await client.head_manifest(ref(hostile.host, REPOSITORY), "1")
        assert client.pulls.remaining(hostile.host) == 76
        assert sample("imagepin_registry_ratelimit_remaining", hostile.host) == 76
        assert sample("imagepin_registry_ratelimit_limit", hostile.host) == 100
        assert sample("imagepin_registry_ratelimit_window_seconds", hostile.host) == 21600
        assert sample("imagepin_registry_pulls_total", hostile.host) == pulls  # HEAD is free
        await client.get_manifest(ref(hostile.host, REPOSITORY), "1")
        assert client.pulls.remaining(hostile.host) == 75
    assert sample("imagepin_registry_pulls_total", hostile.host) == pulls + 1


async def test_at_the_pull_reserve_no_get_is_sent(hostile: HostileRegistry) -> None:
    hostile.script("HEAD", path("1"), reply(200, MANIFEST, limited(10)))
    hostile.script("GET", path("1"), reply(200, MANIFEST, limited(9)))
    async with registry_client(pull_reserve=10) as client:
        await client.head_manifest(ref(hostile.host, REPOSITORY), "1")
        assert client.pull_budget_low(hostile.host)
        with pytest.raises(errors.PullReserveReached) as refused:
            await client.get_manifest(ref(hostile.host, REPOSITORY), "1")
        # A HEAD costs no pull: it is still sent.
        assert await client.head_manifest(ref(hostile.host, REPOSITORY), "1") is not None
    assert "pull_reserve of 10" in refused.value.message
    assert refused.value.reason == "PULL_RESERVE_REACHED"
    assert [r.method for r in hostile.requests] == ["HEAD", "HEAD"]


async def test_above_the_reserve_the_get_is_made_and_half_a_budget_is_low(
    hostile: HostileRegistry,
) -> None:
    hostile.script("HEAD", path("1"), reply(200, MANIFEST, limited(50)))
    hostile.script("GET", path("1"), reply(200, MANIFEST, limited(49)))
    async with registry_client(pull_reserve=10) as client:
        assert not client.pull_budget_low(hostile.host)  # never told: not low
        await client.head_manifest(ref(hostile.host, REPOSITORY), "1")
        assert client.pull_budget_low(hostile.host)  # 50 of 100 left: background work waits
        fetched = await client.get_manifest(ref(hostile.host, REPOSITORY), "1")
    assert fetched.digest == DIGEST


async def test_a_pull_limit_429_is_told_apart(hostile: HostileRegistry) -> None:
    hostile.script("GET", path("1"), reply(429, PULL_LIMIT_BODY, limited(0)))
    async with registry_client() as client:
        with pytest.raises(errors.PullLimited) as refused:
            await client.get_manifest(ref(hostile.host, REPOSITORY), "1")
        assert client.pulls.remaining(hostile.host) == 0
    assert refused.value.reason == "REGISTRY_PULL_LIMITED"
    assert "pull limit" in refused.value.message


def test_docker_hubs_bare_429_is_its_abuse_limit_and_other_429s_are_plain() -> None:
    bare = error_for_status(
        429, b"Too Many Requests\n", registry="docker.io", reference="redis:7", subject="manifest"
    )
    assert isinstance(bare, errors.AbuseLimited)
    assert bare.reason == "REGISTRY_ABUSE_LIMITED"
    coded = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]})
    for registry, body in (("docker.io", coded.encode()), ("ghcr.io", b"Too Many Requests")):
        other = error_for_status(429, body, registry=registry, reference="x", subject="manifest")
        assert type(other) is errors.RateLimited, registry
    assert kind_of_429(PULL_LIMIT_BODY, docker_hub=False) == "pull"


def test_docker_hub_unconfigured_gets_a_rate_within_its_documented_limits() -> None:
    config = RegistriesConfig()
    assert config.host("docker.io").limits.requests_per_second == DOCKER_HUB_REQUESTS_PER_SECOND
    assert config.host("ghcr.io").limits.requests_per_second == config.defaults.requests_per_second
