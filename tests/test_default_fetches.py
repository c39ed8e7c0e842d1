"""What a server in its default configuration (background indexing off) asks a registry, as
the registry's own access log shows: one HEAD for a cold tag, an index included, and nothing
more for the layer index, which platform checks and VerifyDigest feed with what they read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from imagepin.v1 import resolver_pb2 as pb

from tests.support.counted_registry import CountedRegistry
from tests.support.image_fixtures import (
    PushedImage,
    build_small_image,
    build_small_index,
    push_layout,
)
from tests.support.server_fixtures import RunningServer, start_server, stop_server


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """imagepin-server as a user starts it: background layer indexing is off."""
    running = start_server(tmp_path_factory.mktemp("feeding-server"))
    yield running
    stop_server(running)


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("feeding-layouts")


def images_with(server: RunningServer, digest: str, expected: int) -> list[pb.ImageWithLayer]:
    """ListImagesWithLayer until it lists `expected` images (the record is written off the
    request path), for at most 10 s."""
    deadline = time.monotonic() + 10
    while True:
        answer = server.stub.ListImagesWithLayer(
            pb.ListImagesWithLayerRequest(digest=digest), timeout=10
        )
        if len(answer.images) >= expected or time.monotonic() > deadline:
            return list(answer.images)
        time.sleep(0.05)


def requests_to(counted: CountedRegistry, repository: str) -> int:
    return counted.count("(GET|HEAD)", f"{repository}/.*")


def test_a_cold_index_tag_is_one_head_and_its_children_one_get_when_asked(
    default_server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    index = push_layout(
        counted.registry, build_small_index(layouts / "cold", "cold"), "feed/cold", "1"
    )
    heads = lambda: counted.count("HEAD", "feed/cold/manifests/.*")  # noqa: E731
    gets = lambda: counted.count("GET", "feed/cold/manifests/.*")  # noqa: E731
    head_before, get_before = heads(), gets()
    plain = default_server.stub.ResolveReference(
        pb.ResolveReferenceRequest(reference=index.reference), timeout=10
    )
    assert plain.resolved_digest == index.digest
    assert list(plain.manifests) == []
    assert (heads() - head_before, gets() - get_before) == (1, 0)

    listed = default_server.stub.ResolveReference(
        pb.ResolveReferenceRequest(reference=index.reference, include_children=True), timeout=10
    )
    assert [m.digest for m in listed.manifests] == [c.digest for c in index.children]
    assert (heads() - head_before, gets() - get_before) == (1, 1)  # the answer from memory
    again = default_server.stub.ResolveReference(
        pb.ResolveReferenceRequest(reference=index.reference, include_children=True), timeout=10
    )
    assert list(again.manifests) == list(listed.manifests)
    assert (heads() - head_before, gets() - get_before) == (1, 1)  # the index is kept


def test_a_platform_check_records_the_image_it_read_and_asks_nothing_more(
    default_server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    image = push_layout(
        counted.registry, build_small_image(layouts / "single", "single"), "feed/single", "1"
    )
    assert image.platform is not None
    before = requests_to(counted, "feed/single")
    request = pb.ResolveReferenceRequest(
        reference=image.reference,
        platform=pb.Platform(os=image.platform.os, architecture=image.platform.architecture),
    )
    default_server.stub.ResolveReference(request, timeout=10)
    asked = requests_to(counted, "feed/single") - before  # HEAD, manifest GET, config GET

    found = images_with(default_server, image.layers[0].digest, expected=1)
    assert [(i.repository, i.manifest_digest) for i in found] == [("feed/single", image.digest)]
    assert found[0].diff_id == image.layers[0].diff_id  # the config was read: diff_ids known
    assert requests_to(counted, "feed/single") - before == asked


def test_verify_digest_records_an_index_s_images_and_later_their_diff_ids(
    default_server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    index = push_layout(
        counted.registry, build_small_index(layouts / "multi", "multi"), "feed/multi", "1"
    )
    children: tuple[PushedImage, ...] = index.children
    layer, shared = children[0].layers[0], children[0].layers[-1]  # its own; every child's
    assert images_with(default_server, layer.digest, expected=0) == []

    before = requests_to(counted, "feed/multi")
    verified = default_server.stub.VerifyDigest(
        pb.VerifyDigestRequest(
            reference=index.pinned_reference,
            expected_digest=index.digest,
            mode=pb.VERIFY_MODE_BLOBS,
        ),
        timeout=30,
    )
    assert verified.verified
    asked = requests_to(counted, "feed/multi") - before

    found = images_with(default_server, layer.digest, expected=1)
    assert [i.manifest_digest for i in found] == [children[0].digest]
    assert list(found[0].index_digests) == [index.digest]
    assert found[0].platform.architecture == children[0].platform.architecture
    everyone = images_with(default_server, shared.digest, expected=len(children))
    assert sorted(i.manifest_digest for i in everyone) == sorted(c.digest for c in children)
    # BLOBS hashes the configs but does not read them: no diff_id yet, so none to search by.
    assert found[0].diff_id == ""
    assert images_with(default_server, layer.diff_id, expected=0) == []
    assert requests_to(counted, "feed/multi") - before == asked

    default_server.stub.VerifyDigest(
        pb.VerifyDigestRequest(
            reference=index.pinned_reference,
            expected_digest=index.digest,
            mode=pb.VERIFY_MODE_CONTENT,
        ),
        timeout=30,
    )
    by_diff_id = images_with(default_server, layer.diff_id, expected=1)
    assert [i.manifest_digest for i in by_diff_id] == [children[0].digest]
    assert by_diff_id[0].diff_id == layer.diff_id
