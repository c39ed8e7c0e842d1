"""`imagepin tags REPO [--policy …]` and the clients' list_tags / select_tag, against the real
service and the real registry."""

from __future__ import annotations

import json

import httpx
import pytest
from click.testing import CliRunner, Result
from imagepin import AsyncResolverClient, ResolverClient
from imagepin.cli import cli
from imagepin.errors import InvalidArgument

from tests.support.image_fixtures import PushedImage, build_small_image, push_layout
from tests.support.registries import RunningRegistry
from tests.support.registry_api import put_manifest
from tests.support.server_fixtures import RunningServer

REPOSITORY = "cli-tags/app"
TAGS = ["1.2.0", "1.2.7", "1.10.1", "2.0.0", "build-9", "build-12", "latest"]


@pytest.fixture(scope="module")
def repository(
    plain_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, PushedImage]:
    image = push_layout(
        plain_registry, build_small_image(tmp_path_factory.mktemp("cli-tags"), "cli-tags"),
        REPOSITORY, "seed",
    )  # fmt: skip
    for tag in TAGS:
        put_manifest(plain_registry, REPOSITORY, tag, image.raw_manifest, image.media_type)
    return f"{plain_registry.host}/{REPOSITORY}", image


def run(service: RunningServer, *args: str) -> Result:
    result = CliRunner().invoke(cli, ["tags", "--server", service.target, *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_lists_every_tag_sorted(
    service: RunningServer, plain_registry: RunningRegistry, repository: tuple[str, PushedImage]
) -> None:
    name, _ = repository
    listed = httpx.get(f"{plain_registry.url}/v2/{REPOSITORY}/tags/list", timeout=10).json()
    result = run(service, name)
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == sorted(listed["tags"])
    filtered = run(service, name, "--filter", "build-[0-9]+", "-o", "json")
    assert json.loads(filtered.stdout) == {"tags": ["build-12", "build-9"], "bound": "unspecified"}


def test_policy_chooses_and_pins(
    service: RunningServer, repository: tuple[str, PushedImage]
) -> None:
    name, image = repository
    result = run(service, name, "--policy", "semver:^1.2", "-o", "json")
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["tag"] == "1.10.1"
    assert answer["resolution"]["pinned_reference_with_tag"] == f"{name}:1.10.1@{image.digest}"
    table = run(service, name, "--policy", "numerical:asc", "--pattern", "^build-(?P<n>[0-9]+)$",
                "--extract", "$n")  # fmt: skip
    header, row = table.stdout.splitlines()
    assert header.split() == ["TAG", "DIGEST", "PINNED", "CONSIDERED"]
    assert row.split() == ["build-12", image.digest, f"{name}:build-12@{image.digest}", "2", "of",
                           str(len(TAGS) + 1)]  # fmt: skip
    assert run(service, name, "--policy", "alphabetical:desc").stdout.split()[4] == "1.10.1"


def test_exit_codes(service: RunningServer, repository: tuple[str, PushedImage]) -> None:
    name, _ = repository
    none = run(service, name, "--policy", "semver:^9")
    assert none.exit_code == 3
    assert "NO_MATCHING_TAG" in none.stderr
    assert run(service, name, "--policy", "newest").exit_code == 4
    assert run(service, name, "--policy", "semver:not-a-range").exit_code == 4
    assert run(service, name, "--pattern", "x").exit_code == 4
    assert run(service, name, "--platform", "linux/arm64").exit_code == 4
    assert run(service, name, "--policy", "alphabetical:asc", "--filter", "x").exit_code == 4
    assert run(service, f"{name}:1.2.0").exit_code == 4


def test_blocking_client(service: RunningServer, repository: tuple[str, PushedImage]) -> None:
    name, image = repository
    with ResolverClient(service.target) as client:
        page = client.list_tags(name, page_size=3)
        assert list(page.tags) == ["1.10.1", "1.2.0", "1.2.7"]
        rest = client.list_tags(name, page_size=100, page_token=page.next_page_token)
        assert list(rest.tags) == sorted({*TAGS, "seed"})[3:]
        chosen = client.select_tag(name, "semver:>=1.2 <2", max_staleness=0)
        assert (chosen.tag, chosen.resolution.digest) == ("1.10.1", image.digest)
        with pytest.raises(ValueError, match="not a policy"):
            client.select_tag(name, "numerical:sideways")


async def test_async_client(service: RunningServer, repository: tuple[str, PushedImage]) -> None:
    name, image = repository
    async with AsyncResolverClient(service.target) as client:
        page = await client.list_tags(name, filter="1\\..*")
        assert list(page.tags) == ["1.10.1", "1.2.0", "1.2.7"]
        chosen = await client.select_tag(name, "semver:~1.2", include_prereleases=True)
        assert (chosen.tag, chosen.resolution.digest) == ("1.2.7", image.digest)
        with pytest.raises(InvalidArgument):
            await client.select_tag(name, "semver:^1", pattern="(")
