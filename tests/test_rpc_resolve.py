"""ResolveReference against real registries: every answer is checked against what skopeo read."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb
from imagepin_server.store import Database, TagMapping, TagMappingRecord, tag_history
from sqlalchemy import func, select

from tests.support.image_fixtures import (
    ImageCatalog,
    PushedImage,
    build_small_image,
    push_layout,
)
from tests.support.registries import RunningRegistry
from tests.support.rpc import error_info, platform_text
from tests.support.secure_registry_fixtures import PRIVATE_REPOSITORY, PUBLIC_REPOSITORY
from tests.support.server_fixtures import RunningServer
from tests.support.token_server import TokenServer

ENTRIES = ("single", "schema2", "index", "manifest_list", "app_a", "app_b", "zstd", "deep")
INDEXES = ("index", "manifest_list")


def _resolve(
    server: RunningServer,
    reference: str,
    platform: pb.Platform | None = None,
    *,
    fresh: bool = False,
) -> pb.ResolveReferenceResponse:
    """Call ResolveReference with a short deadline, listing an index's children; `fresh`
    forbids an answer from memory."""
    request = pb.ResolveReferenceRequest(
        reference=reference, platform=platform, include_children=True
    )
    if fresh:
        request.max_staleness.FromSeconds(0)
    answer: pb.ResolveReferenceResponse = server.stub.ResolveReference(request, timeout=10)
    return answer


async def _history(url: str, image: PushedImage, tag: str | None = None) -> list[TagMappingRecord]:
    """Every row the server's database holds for the image's tag."""
    database = Database(url)
    try:
        async with database.session() as session:
            return await tag_history(
                session, image.registry, image.repository, tag or image.tag or ""
            )
    finally:
        await database.close()


async def _rows_for_repository(url: str, registry: str, repository: str) -> int:
    """How many rows the server's database holds for a repository, any tag."""
    database = Database(url)
    try:
        async with database.session() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(TagMapping)
                .where(TagMapping.registry_name == registry, TagMapping.repository == repository)
            )
            return int(count or 0)
    finally:
        await database.close()


@pytest.fixture(scope="module")
def digest_only_image(
    plain_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> PushedImage:
    """An image in a repository of its own that no test ever resolves by tag."""
    built = build_small_image(tmp_path_factory.mktemp("digest-only"), "rpc-digest-only")
    return push_layout(plain_registry, built, "rpc-tests/digest-only", "1.0")


# --- every catalog entry ------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ENTRIES)
def test_resolve_matches_skopeo(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _resolve(server, image.reference)

    assert answer.digest == image.digest
    assert answer.normalized_reference == image.reference
    assert answer.pinned_reference == image.pinned_reference
    assert answer.pinned_reference_with_tag == (
        f"{image.registry}/{image.repository}:{image.tag}@{image.digest}"
    )
    assert answer.media_type == image.media_type
    assert answer.size == len(image.raw_manifest)
    assert answer.resolved_digest == image.digest
    assert answer.resolved_media_type == image.media_type
    # Not on docker.io, so Docker's short form is the full name.
    assert answer.familiar_reference == image.reference
    assert not answer.HasField("selected")
    if not image.is_index:
        assert list(answer.manifests) == []


@pytest.mark.parametrize("entry", INDEXES)
def test_resolve_index_lists_children_with_platforms(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _resolve(server, image.reference)

    assert answer.digest == image.digest
    listed = [(m.digest, m.media_type, m.size, platform_text(m.platform)) for m in answer.manifests]
    expected = [
        (c.digest, c.media_type, len(c.raw_manifest), str(c.platform)) for c in image.children
    ]
    assert listed == expected


@pytest.mark.parametrize("entry", INDEXES)
@pytest.mark.parametrize(
    ("platform", "child_platform"),
    [
        pytest.param(pb.Platform(os="linux", architecture="arm64"), "linux/arm64/v8", id="arm64"),
        pytest.param(
            pb.Platform(os="linux", architecture="aarch64"), "linux/arm64/v8", id="aarch64"
        ),
        pytest.param(pb.Platform(os="linux", architecture="arm"), "linux/arm/v7", id="arm"),
        pytest.param(pb.Platform(os="linux", architecture="amd64"), "linux/amd64", id="amd64"),
    ],
)
def test_resolve_index_with_platform_pins_child(
    server: RunningServer,
    pushed_images: ImageCatalog,
    entry: str,
    platform: pb.Platform,
    child_platform: str,
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    child = image.child(child_platform)
    answer = _resolve(server, image.reference, platform)

    assert answer.digest == child.digest
    assert answer.media_type == child.media_type
    assert answer.size == len(child.raw_manifest)
    assert answer.pinned_reference == f"{image.registry}/{image.repository}@{child.digest}"
    assert answer.resolved_digest == image.digest
    assert answer.resolved_media_type == image.media_type
    assert answer.HasField("selected")
    assert answer.selected.digest == child.digest
    assert platform_text(answer.selected.platform) == child_platform
    assert len(answer.manifests) == len(image.children)


def test_resolve_index_missing_platform_is_not_found(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.index
    with pytest.raises(grpc.RpcError) as caught:
        _resolve(server, image.reference, pb.Platform(os="linux", architecture="s390x"))

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    message = caught.value.details() or ""
    assert "s390x" in message
    for child in image.children:
        assert str(child.platform) in message
    info = error_info(caught.value)
    assert (info.reason, info.domain) == ("PLATFORM_NOT_FOUND", "imagepin.dev")


def test_resolve_its_platform_on_single_image_keeps_its_digest(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    answer = _resolve(server, image.reference, pb.Platform(os="linux", architecture="amd64"))
    assert answer.digest == image.digest
    assert not answer.HasField("selected")


# --- digest references and the default tag -----------------------------------------------------


@pytest.mark.parametrize("entry", ["single", "index"])
def test_resolve_digest_reference(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _resolve(server, image.pinned_reference)

    assert answer.digest == image.digest
    assert answer.normalized_reference == image.pinned_reference
    assert answer.pinned_reference == image.pinned_reference
    assert answer.pinned_reference_with_tag == image.pinned_reference
    assert answer.media_type == image.media_type
    assert answer.size == len(image.raw_manifest)


def test_resolve_tag_and_digest_reference(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    text = f"{image.reference}@{image.digest}"
    answer = _resolve(server, text)

    assert answer.digest == image.digest
    assert answer.normalized_reference == text
    assert answer.pinned_reference == image.pinned_reference
    assert answer.pinned_reference_with_tag == text


def test_resolve_index_child_by_digest(server: RunningServer, pushed_images: ImageCatalog) -> None:
    child = pushed_images.index.child("linux/arm/v7")
    answer = _resolve(server, child.reference)
    assert answer.digest == child.digest
    assert answer.media_type == child.media_type


def test_resolve_without_tag_uses_latest(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.index  # pushed as library/multi:latest
    assert image.tag == "latest"
    answer = _resolve(server, f"{image.registry}/{image.repository}")

    assert answer.digest == image.digest
    assert answer.normalized_reference == image.reference
    assert answer.pinned_reference_with_tag == f"{image.reference}@{image.digest}"


def test_resolve_without_tag_and_no_latest_is_not_found(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single  # library/alpine has only 3.19
    with pytest.raises(grpc.RpcError) as caught:
        _resolve(server, f"{image.registry}/{image.repository}")

    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    message = caught.value.details() or ""
    assert "MANIFEST_UNKNOWN" in message
    assert f"{image.repository}:latest" in message
    info = error_info(caught.value)
    assert info.reason == "MANIFEST_NOT_FOUND"
    assert info.metadata["registry_code"] == "MANIFEST_UNKNOWN"


# --- recording ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "server_fixture",
    ["server", pytest.param("postgres_server", marks=pytest.mark.postgres)],
)
async def test_resolution_is_recorded_once_and_last_seen_advances(
    request: pytest.FixtureRequest, pushed_images: ImageCatalog, server_fixture: str
) -> None:
    running: RunningServer = request.getfixturevalue(server_fixture)
    image = pushed_images.app_a
    _resolve(running, image.reference)

    first = await _history(running.database_url, image)
    assert len(first) == 1
    row = first[0]
    assert (row.registry, row.repository, row.tag) == (image.registry, image.repository, image.tag)
    assert row.digest == image.digest
    assert row.media_type == image.media_type
    assert row.first_seen <= row.last_seen

    _resolve(running, image.reference, fresh=True)
    second = await _history(running.database_url, image)
    assert len(second) == 1
    assert second[0].digest == image.digest
    assert second[0].first_seen == row.first_seen
    assert second[0].last_seen > row.last_seen


async def test_index_resolution_records_the_index_digest(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.manifest_list
    answer = _resolve(server, image.reference, pb.Platform(os="linux", architecture="arm64"))
    assert answer.digest != image.digest

    rows = await _history(server.database_url, image)
    assert [(r.digest, r.media_type) for r in rows] == [(image.digest, image.media_type)]


async def test_digest_reference_records_nothing(
    server: RunningServer, digest_only_image: PushedImage
) -> None:
    image = digest_only_image
    _resolve(server, image.pinned_reference)
    _resolve(server, f"{image.reference}@{image.digest}")

    assert await _rows_for_repository(server.database_url, image.registry, image.repository) == 0


# --- authenticated registries -------------------------------------------------------------------


def test_resolve_over_tls_with_basic_auth(
    server: RunningServer, tls_registry: RunningRegistry
) -> None:
    image: PushedImage = tls_registry.extra["images"][f"{PRIVATE_REPOSITORY}:1.0"]
    answer = _resolve(server, image.reference)

    assert answer.digest == image.digest
    assert answer.media_type == image.media_type
    assert answer.pinned_reference == image.pinned_reference


@pytest.mark.parametrize("repository", [PRIVATE_REPOSITORY, PUBLIC_REPOSITORY])
def test_resolve_over_token_auth(
    server: RunningServer, token_registry: RunningRegistry, repository: str
) -> None:
    image: PushedImage = token_registry.extra["images"][f"{repository}:1.0"]
    answer = _resolve(server, image.reference)

    assert answer.digest == image.digest
    assert answer.pinned_reference == image.pinned_reference


def test_token_is_fetched_once_and_reused(
    server: RunningServer, token_registry: RunningRegistry, tmp_path: Path
) -> None:
    # A repository of its own, so no earlier test can have put its token in the server's cache.
    repository = "private/token-cache"
    built = build_small_image(tmp_path, "rpc-token-cache")
    image = push_layout(token_registry, built, repository, "1.0")
    token_server: TokenServer = token_registry.extra["token_server"]
    token_server.reset()

    for _ in range(5):
        assert _resolve(server, image.reference).digest == image.digest

    requests = token_server.snapshot()
    assert token_server.request_count == 1, requests
    assert token_server.tokens_issued == 1, requests
    assert requests[0].status == 200
    assert [(s.type, s.name) for s in requests[0].scopes] == [("repository", repository)]
    assert requests[0].username == token_registry.username
