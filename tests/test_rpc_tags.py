"""ListTags and SelectTag against the real server and the real registry (distribution 2.8).

distribution 2.8 ignores `n` and `last` and sends every tag at once, unsorted, without `Link`:
imagepin's own paging and sorting are what is tested here. One small image is pushed with
skopeo, a second for the highest versions, and the same manifests are then PUT under a few
hundred tags through the registry's own API.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import grpc
import httpx
import pytest
from imagepin.v1 import resolver_pb2 as pb

from tests.support.image_fixtures import PushedImage, build_small_image, push_layout
from tests.support.oci_layouts import OciLayout, write_multi_platform_index
from tests.support.registries import RunningRegistry
from tests.support.registry_api import put_manifest
from tests.support.rpc import error_info
from tests.support.server_fixtures import RunningServer

REPOSITORY = "tags-tests/many"
COSIGN = "sha256-" + "c" * 64 + ".sig"
SEMVER = [f"1.{minor}.{patch}" for minor in range(12) for patch in range(20)]  # 240
BUILDS = ["build-1", "build-2", "build-9", "build-10", "build-100"]
MAIN = ["main-4f2a9c1-1709640000", "main-0b7e3d2-1709726400", "main-a9c0ffe-998"]
OTHERS = ["2.0.0-rc.1", "2.0.0-rc.2", "latest", COSIGN]
ON_B = {"1.11.19", "2.0.0-rc.2", "build-100", "main-0b7e3d2-1709726400"}  # the newest, on image B


@dataclass(frozen=True)
class TaggedRepository:
    registry: RunningRegistry
    name: str  # host/repository
    tags: frozenset[str]
    a: PushedImage
    b: PushedImage

    def digest_of(self, tag: str) -> str:
        return self.b.digest if tag in ON_B else self.a.digest


@pytest.fixture(scope="module")
def tagged(
    plain_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> TaggedRepository:
    a = push_layout(
        plain_registry,
        build_small_image(tmp_path_factory.mktemp("tags-a"), "tags-a"),
        REPOSITORY,
        "seed",
    )
    b = push_layout(
        plain_registry,
        build_small_image(tmp_path_factory.mktemp("tags-b"), "tags-b"),
        REPOSITORY,
        "seed-b",
    )
    assert a.digest != b.digest
    tags = {"seed", "seed-b", *SEMVER, *BUILDS, *MAIN, *OTHERS}
    # In a shuffled order: whatever order the registry's storage lists them in, not sorted.
    for tag in random.Random(11).sample(sorted(tags - {"seed", "seed-b"}), len(tags) - 2):
        image = b if tag in ON_B else a
        put_manifest(plain_registry, REPOSITORY, tag, image.raw_manifest, image.media_type)
    return TaggedRepository(
        plain_registry, f"{plain_registry.host}/{REPOSITORY}", frozenset(tags), a, b
    )


def registry_tags(registry: RunningRegistry, repository: str) -> list[str]:
    """What the registry itself lists, in its own order."""
    answer = httpx.get(f"{registry.url}/v2/{repository}/tags/list", timeout=10)
    answer.raise_for_status()
    return list(answer.json()["tags"])


def list_tags(server: RunningServer, **fields: object) -> pb.ListTagsResponse:
    answer: pb.ListTagsResponse = server.stub.ListTags(pb.ListTagsRequest(**fields), timeout=10)
    return answer


def select(server: RunningServer, reference: str, **fields: object) -> pb.SelectTagResponse:
    answer: pb.SelectTagResponse = server.stub.SelectTag(
        pb.SelectTagRequest(reference=reference, **fields), timeout=10
    )
    return answer


# --- ListTags -----------------------------------------------------------------------------------
def test_pages_through_every_tag_sorted(server: RunningServer, tagged: TaggedRepository) -> None:
    served = registry_tags(tagged.registry, REPOSITORY)
    assert set(served) == tagged.tags
    assert served != sorted(served)  # distribution 2.8 does not sort (so imagepin must)
    collected: list[str] = []
    token = ""
    pages = 0
    while True:
        page = list_tags(server, reference=tagged.name, page_size=37, page_token=token)
        assert list(page.tags) == sorted(page.tags)
        assert len(page.tags) <= 37
        assert page.total_tags == len(tagged.tags)
        assert page.bound == pb.TAG_LIST_BOUND_UNSPECIFIED
        assert page.normalized_repository == tagged.name
        collected += page.tags
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert collected == sorted(served)
    assert pages == -(-len(tagged.tags) // 37)


def test_default_page_and_filter(server: RunningServer, tagged: TaggedRepository) -> None:
    first = list_tags(server, reference=tagged.name)
    assert len(first.tags) == 100
    assert first.next_page_token
    builds = list_tags(server, reference=tagged.name, filter="build-[0-9]+")
    assert list(builds.tags) == sorted(BUILDS)
    assert builds.total_tags == 5
    assert not builds.next_page_token
    # The filter matches in full: "1\.3" is no tag, though many tags begin with it.
    assert list(list_tags(server, reference=tagged.name, filter=r"1\.3").tags) == []
    minor = list_tags(server, reference=tagged.name, filter=r"1\.3\..*", page_size=15)
    rest = list_tags(
        server,
        reference=tagged.name,
        filter=r"1\.3\..*",
        page_size=15,
        page_token=minor.next_page_token,
    )
    assert [*minor.tags, *rest.tags] == sorted(f"1.3.{patch}" for patch in range(20))


def test_lists_are_kept_for_a_bounded_time(
    server: RunningServer, plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    repository = "tags-tests/kept"
    image = push_layout(plain_registry, build_small_image(tmp_path, "tags-kept"), repository, "one")
    name = f"{plain_registry.host}/{repository}"
    assert list(list_tags(server, reference=name).tags) == ["one"]
    put_manifest(plain_registry, repository, "two", image.raw_manifest, image.media_type)
    assert list(list_tags(server, reference=name).tags) == ["one"]  # within the default 60 s
    fresh = pb.ListTagsRequest(reference=name)
    fresh.max_staleness.FromSeconds(0)
    assert list(server.stub.ListTags(fresh, timeout=10).tags) == ["one", "two"]


@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        ({"reference": "{host}/tags-tests/many:1.0.0"}, "INVALID_ARGUMENT", "INVALID_REFERENCE"),
        (
            {"reference": "{host}/tags-tests/many", "page_token": "nope"},
            "INVALID_ARGUMENT",
            "INVALID_PAGE_TOKEN",
        ),
        (
            {"reference": "{host}/tags-tests/many", "filter": "(a"},
            "INVALID_ARGUMENT",
            "INVALID_PATTERN",
        ),
        (
            {"reference": "{host}/tags-tests/many", "page_size": 5000},
            "INVALID_ARGUMENT",
            "INVALID_ARGUMENT",
        ),
        ({"reference": "{host}/tags-tests/absent"}, "NOT_FOUND", "REPOSITORY_NOT_FOUND"),
    ],
)
def test_list_errors(
    server: RunningServer,
    tagged: TaggedRepository,
    fields: dict[str, object],
    code: str,
    reason: str,
) -> None:
    request = {
        key: value.format(host=tagged.registry.host) if isinstance(value, str) else value
        for key, value in fields.items()
    }
    with pytest.raises(grpc.RpcError) as failure:
        list_tags(server, **request)
    assert failure.value.code() == getattr(grpc.StatusCode, code)
    assert error_info(failure.value).reason == reason


# --- SelectTag ----------------------------------------------------------------------------------
def test_semver_choice_is_pinned(server: RunningServer, tagged: TaggedRepository) -> None:
    answer = select(server, tagged.name, semver=pb.SemverPolicy(range="^1"))
    assert answer.tag == "1.11.19"
    assert answer.resolution.digest == tagged.b.digest == tagged.digest_of("1.11.19")
    assert answer.resolution.pinned_reference_with_tag == f"{tagged.name}:1.11.19@{tagged.b.digest}"
    assert answer.tags_considered == 240  # the release versions; pre-releases are not asked for
    assert answer.tags_listed == len(tagged.tags)
    narrow = select(server, tagged.name, semver=pb.SemverPolicy(range=">=1.3 <1.4"))
    assert narrow.tag == "1.3.19"
    assert narrow.resolution.digest == tagged.a.digest


def test_semver_prereleases(server: RunningServer, tagged: TaggedRepository) -> None:
    answer = select(
        server, tagged.name, semver=pb.SemverPolicy(range=">=1.11 <3", include_prereleases=True)
    )
    assert answer.tag == "2.0.0-rc.2"
    assert answer.resolution.digest == tagged.b.digest


def test_numerical_with_pattern_and_extract(
    server: RunningServer, tagged: TaggedRepository
) -> None:
    answer = select(
        server,
        tagged.name,
        numerical=pb.NumericalPolicy(order=pb.SORT_ORDER_ASCENDING),
        pattern="^build-(?P<n>[0-9]+)$",
        extract="$n",
    )
    assert answer.tag == "build-100"
    assert answer.tags_considered == 5
    assert answer.resolution.digest == tagged.b.digest
    flux = select(
        server,
        tagged.name,
        numerical=pb.NumericalPolicy(),
        pattern="^main-[a-f0-9]+-(?P<ts>[0-9]+)",
        extract="$ts",
    )
    assert flux.tag == "main-0b7e3d2-1709726400"
    lowest = select(
        server,
        tagged.name,
        numerical=pb.NumericalPolicy(order=pb.SORT_ORDER_DESCENDING),
        pattern="^build-(?P<n>[0-9]+)$",
        extract="${n}",
    )
    assert lowest.tag == "build-1"
    assert lowest.resolution.digest == tagged.a.digest


def test_cosign_tags_are_never_chosen(server: RunningServer, tagged: TaggedRepository) -> None:
    answer = select(server, tagged.name, alphabetical=pb.AlphabeticalPolicy())
    assert max(tagged.tags) == COSIGN  # the highest by bytes…
    assert answer.tag == "seed-b"  # …is not a candidate
    assert answer.tags_considered == len(tagged.tags) - 1


def test_select_for_a_platform(
    server: RunningServer, plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    repository = "tags-tests/multi"
    built = write_multi_platform_index(OciLayout(tmp_path), "tags-multi", "2.1.0")
    index = push_layout(plain_registry, built, repository, "2.1.0")
    put_manifest(plain_registry, repository, "2.0.0", index.raw_manifest, index.media_type)
    answer = select(
        server,
        f"{plain_registry.host}/{repository}",
        semver=pb.SemverPolicy(range="~2"),
        platform=pb.Platform(os="linux", architecture="arm64"),
    )
    assert answer.tag == "2.1.0"
    assert answer.resolution.resolved_digest == index.digest
    assert answer.resolution.selected.platform.architecture == "arm64"
    arm64 = [child for child in index.children if child.inspect["Architecture"] == "arm64"]
    assert answer.resolution.digest == arm64[0].digest != index.digest


@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        ({"semver": pb.SemverPolicy(range="^9")}, "NOT_FOUND", "NO_MATCHING_TAG"),
        ({}, "INVALID_ARGUMENT", "INVALID_TAG_POLICY"),
        ({"semver": pb.SemverPolicy(range="banana")}, "INVALID_ARGUMENT", "INVALID_TAG_POLICY"),
        (
            {"alphabetical": pb.AlphabeticalPolicy(), "pattern": "("},
            "INVALID_ARGUMENT",
            "INVALID_PATTERN",
        ),
        ({"numerical": pb.NumericalPolicy(order=7)}, "INVALID_ARGUMENT", "INVALID_TAG_POLICY"),
        (
            {"alphabetical": pb.AlphabeticalPolicy(), "platform": pb.Platform(os="linux")},
            "INVALID_ARGUMENT",
            "INVALID_PLATFORM",
        ),
    ],
)
def test_select_errors(
    server: RunningServer,
    tagged: TaggedRepository,
    fields: dict[str, object],
    code: str,
    reason: str,
) -> None:
    with pytest.raises(grpc.RpcError) as failure:
        select(server, tagged.name, **fields)
    assert failure.value.code() == getattr(grpc.StatusCode, code)
    assert error_info(failure.value).reason == reason
