"""The service's memory: tag answers reused within bounds, single flight, stale answers when a
registry fails, batches, tag history and the layer index, against a real registry whose access
log tells how many requests imagepin really sent."""

from __future__ import annotations

import dataclasses
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from imagepin.v1 import resolver_pb2 as pb

from tests.support.counted_registry import CountedRegistry
from tests.support.image_fixtures import (
    ImageCatalog,
    PushedImage,
    build_small_image,
    build_small_index,
    push_layout,
)
from tests.support.oci_layouts import OciLayout, RuntimeConfig, small_image_spec
from tests.support.registries import launch_registry
from tests.support.server_fixtures import RunningServer, start_server, stop_server


@pytest.fixture(scope="module")
def layouts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("memory-layouts")


def push_small(
    counted: CountedRegistry, layouts: Path, name: str, repository: str, tag: str
) -> PushedImage:
    built = build_small_image(layouts / name, name)
    return push_layout(counted.registry, built, repository, tag)


def resolve(
    server: RunningServer,
    reference: str,
    *,
    max_staleness: float | None = None,
    stale_if_error: float | None = None,
    timeout: float = 20,
) -> pb.ResolveReferenceResponse:
    request = pb.ResolveReferenceRequest(reference=reference)
    if max_staleness is not None:
        request.max_staleness.FromNanoseconds(int(max_staleness * 1e9))
    if stale_if_error is not None:
        request.stale_if_error.FromNanoseconds(int(stale_if_error * 1e9))
    answer: pb.ResolveReferenceResponse = server.stub.ResolveReference(request, timeout=timeout)
    return answer


# --- reuse within max_staleness ---------------------------------------------------------------


def test_a_tag_is_answered_from_memory_within_max_staleness(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    image = push_small(counted, layouts, "warm", "memory/warm", "1")
    heads = lambda: counted.count("HEAD", "memory/warm/manifests/1")  # noqa: E731

    first = resolve(server, image.reference, max_staleness=0)
    assert first.source == pb.ANSWER_SOURCE_REGISTRY
    assert first.age.ToTimedelta().total_seconds() == 0
    assert heads() == 1

    time.sleep(0.05)
    second = resolve(server, image.reference, max_staleness=60)
    assert second.source == pb.ANSWER_SOURCE_CACHE
    assert second.digest == image.digest
    assert second.age.ToTimedelta().total_seconds() > 0
    assert second.observed_at == first.observed_at
    assert heads() == 1, "an answer from memory must not ask the registry"

    third = resolve(server, image.reference, max_staleness=0)
    assert third.source == pb.ANSWER_SOURCE_REGISTRY
    assert heads() == 2


def test_a_moved_tag_is_seen_once_the_memory_is_too_old(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    before = push_small(counted, layouts, "move-a", "memory/moving", "stable")
    assert resolve(server, before.reference, max_staleness=0).digest == before.digest
    after = push_small(counted, layouts, "move-b", "memory/moving", "stable")
    assert after.digest != before.digest

    remembered = resolve(server, after.reference, max_staleness=3600)
    assert remembered.digest == before.digest  # within the bound the caller allowed
    assert remembered.source == pb.ANSWER_SOURCE_CACHE
    fresh = resolve(server, after.reference, max_staleness=0)
    assert fresh.digest == after.digest
    assert fresh.source == pb.ANSWER_SOURCE_REGISTRY


def test_concurrent_resolutions_of_a_cold_tag_cost_one_head(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    image = push_small(counted, layouts, "herd", "memory/herd", "1")
    heads = counted.count("HEAD", "memory/herd/manifests/1")
    gets = counted.count("GET", "memory/herd/manifests/1")  # skopeo's own read-back
    start = threading.Barrier(200)

    def call(_: int) -> str:
        start.wait()
        return resolve(server, image.reference, timeout=30).digest

    with ThreadPoolExecutor(max_workers=200) as pool:
        digests = list(pool.map(call, range(200)))
    assert set(digests) == {image.digest}
    assert counted.count("HEAD", "memory/herd/manifests/1") - heads == 1
    assert counted.count("GET", "memory/herd/manifests/1") - gets == 0


def test_content_is_fetched_once_by_digest_then_served_from_memory(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    image = push_small(counted, layouts, "content", "memory/content", "1")
    digest_path = f"memory/content/manifests/{re.escape(image.digest)}"
    config_path = f"memory/content/blobs/{re.escape(image.config_digest)}"
    manifests, configs = counted.count("GET", digest_path), counted.count("GET", config_path)
    request = pb.GetManifestRequest(reference=image.pinned_reference)
    first = server.stub.GetManifest(request, timeout=10)
    second = server.stub.GetManifest(request, timeout=10)
    assert first.raw_manifest == second.raw_manifest == image.raw_manifest
    assert counted.count("GET", digest_path) - manifests == 1
    assert counted.count("GET", config_path) - configs == 1


# --- stale answers when the registry fails ----------------------------------------------------


def test_unreachable_registry_answers_stale_within_stale_if_error(
    server: RunningServer, tmp_path: Path, layouts: Path
) -> None:
    with launch_registry(tmp_path / "doomed") as doomed:
        image = push_layout(
            doomed, build_small_image(layouts / "doomed", "doomed"), "stale/app", "1"
        )
        fresh = resolve(server, image.reference, max_staleness=0)
        assert fresh.digest == image.digest
    # The registry is gone now.
    stale = resolve(server, image.reference, max_staleness=0, stale_if_error=3600)
    assert stale.stale
    assert stale.source == pb.ANSWER_SOURCE_STALE
    assert stale.digest == image.digest
    assert stale.observed_at == fresh.observed_at
    assert stale.age.ToTimedelta().total_seconds() > 0

    with pytest.raises(grpc.RpcError) as refused:
        resolve(server, image.reference, max_staleness=0, stale_if_error=0)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


def test_another_replica_answers_stale_from_the_current_stretch_after_a_move_back(
    server: RunningServer, tmp_path: Path, layouts: Path
) -> None:
    """A -> B -> A, then the registry goes: a replica with nothing in memory answers A."""
    with launch_registry(tmp_path / "moving") as moving:
        a = build_small_image(layouts / "stale-a", "stale-a")
        first = push_layout(moving, a, "stale/moves", "1")
        resolve(server, first.reference, max_staleness=0)
        b = build_small_image(layouts / "stale-b", "stale-b")
        moved = push_layout(moving, b, "stale/moves", "1")
        resolve(server, moved.reference, max_staleness=0)
        push_layout(moving, a, "stale/moves", "1")
        last = resolve(server, first.reference, max_staleness=0)
        assert last.digest == first.digest
    history = server.stub.ListTagHistory(pb.ListTagHistoryRequest(reference=first.reference))
    digests = [e.digest for e in history.entries]
    assert digests == [first.digest, moved.digest, first.digest]

    replica = start_server(tmp_path / "replica", database_url=server.database_url)
    try:
        stale = resolve(replica, first.reference, max_staleness=0, stale_if_error=3600)
    finally:
        stop_server(replica)
    assert stale.source == pb.ANSWER_SOURCE_STALE
    assert stale.digest == first.digest
    assert stale.observed_at == history.entries[0].last_seen


def test_not_found_is_never_answered_stale(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    image = push_small(counted, layouts, "deleted", "stale/deleted", "1")
    assert resolve(server, image.reference, max_staleness=0).digest == image.digest
    deleted = counted.registry.url + f"/v2/stale/deleted/manifests/{image.digest}"
    import httpx

    assert httpx.delete(deleted, timeout=10).status_code == 202
    with pytest.raises(grpc.RpcError) as gone:
        resolve(server, image.reference, max_staleness=0, stale_if_error=3600)
    assert gone.value.code() == grpc.StatusCode.NOT_FOUND


# --- batches ----------------------------------------------------------------------------------


def test_batch_keeps_order_and_gives_each_item_its_own_result(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    good = [pushed_images.single, pushed_images.index, pushed_images.deep]
    references = [
        good[0].reference,
        "Not/A/Valid:Reference",
        good[1].reference,
        f"{pushed_images.registry.host}/library/alpine:does-not-exist",
        good[2].reference,
    ]
    request = pb.BatchResolveReferencesRequest(
        requests=[pb.ResolveReferenceRequest(reference=r) for r in references]
    )
    answer = server.stub.BatchResolveReferences(request, timeout=20)
    assert [r.reference for r in answer.results] == references
    ok = [answer.results[i] for i in (0, 2, 4)]
    assert [r.resolution.digest for r in ok] == [image.digest for image in good]
    assert all(r.error.code == code_pb2.OK for r in ok)

    invalid, missing = answer.results[1], answer.results[3]
    assert invalid.error.code == code_pb2.INVALID_ARGUMENT
    assert not invalid.HasField("resolution")
    assert missing.error.code == code_pb2.NOT_FOUND
    info = error_details_pb2.ErrorInfo()
    assert missing.error.details[0].Unpack(info)
    assert info.reason == "MANIFEST_NOT_FOUND"
    assert info.domain == "imagepin.dev"


def test_batch_over_the_limit_is_refused_whole(server: RunningServer) -> None:
    request = pb.BatchResolveReferencesRequest(
        requests=[pb.ResolveReferenceRequest(reference="redis") for _ in range(1001)]
    )
    with pytest.raises(grpc.RpcError) as refused:
        server.stub.BatchResolveReferences(request, timeout=10)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 1000" in (refused.value.details() or "")


# --- history --------------------------------------------------------------------------------


def test_tag_history_lists_each_digest_newest_first_and_answers_as_of(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    old = push_small(counted, layouts, "hist-a", "history/app", "7")
    resolve(server, old.reference, max_staleness=0)
    time.sleep(0.05)
    between = datetime.now(UTC)
    time.sleep(0.05)
    new = push_small(counted, layouts, "hist-b", "history/app", "7")
    resolve(server, new.reference, max_staleness=0)

    history = server.stub.ListTagHistory(pb.ListTagHistoryRequest(reference=new.reference))
    assert history.normalized_reference == new.reference
    assert [e.digest for e in history.entries] == [new.digest, old.digest]
    assert all(e.first_seen.ToDatetime() <= e.last_seen.ToDatetime() for e in history.entries)

    request = pb.ListTagHistoryRequest(reference=new.reference)
    request.as_of.FromDatetime(between)
    then = server.stub.ListTagHistory(request)
    assert [e.digest for e in then.entries] == [old.digest]


@pytest.mark.parametrize(
    "backend", ["server", pytest.param("postgres_server", marks=pytest.mark.postgres)]
)
def test_tag_history_keeps_a_move_back_as_its_own_entry(
    backend: str, request: pytest.FixtureRequest, counted: CountedRegistry, layouts: Path
) -> None:
    """Push A, move the tag to B, then back to A with skopeo: three entries, newest first."""
    server: RunningServer = request.getfixturevalue(backend)
    repository = f"history/moves-{backend}"
    first = push_small(counted, layouts, "moves-a", repository, "live")
    assert resolve(server, first.reference, max_staleness=0).digest == first.digest
    moved = push_small(counted, layouts, "moves-b", repository, "live")
    assert moved.digest != first.digest
    assert resolve(server, moved.reference, max_staleness=0).digest == moved.digest
    back = push_small(counted, layouts, "moves-a", repository, "live")  # the same layout again
    assert back.digest == first.digest
    assert resolve(server, back.reference, max_staleness=0).digest == first.digest
    assert resolve(server, back.reference, max_staleness=0).digest == first.digest

    history = server.stub.ListTagHistory(pb.ListTagHistoryRequest(reference=back.reference))
    entries = [
        (e.digest, e.first_seen.ToDatetime(), e.last_seen.ToDatetime()) for e in history.entries
    ]
    assert [digest for digest, _, _ in entries] == [first.digest, moved.digest, first.digest]
    (_, back_first, back_last), (_, b_first, b_last), (_, a_first, a_last) = entries
    assert (
        a_first == a_last < b_first == b_last < back_first < back_last
    )  # one resolve each, two last

    def as_of(instant: datetime) -> list[tuple[str, datetime, datetime]]:
        asked = pb.ListTagHistoryRequest(reference=back.reference)
        asked.as_of.FromDatetime(instant)
        answer = server.stub.ListTagHistory(asked)
        return [
            (e.digest, e.first_seen.ToDatetime(), e.last_seen.ToDatetime()) for e in answer.entries
        ]

    assert as_of(b_last) == entries[1:]  # while B was current: the move back not yet seen
    assert as_of(back_first) == [(first.digest, back_first, back_first), *entries[1:]]
    assert as_of(a_first) == entries[2:]


def test_tag_history_refuses_a_digest_reference(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        server.stub.ListTagHistory(
            pb.ListTagHistoryRequest(reference=pushed_images.single.pinned_reference)
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# --- the layer index --------------------------------------------------------------------------


def _images_with(server: RunningServer, digest: str, expected: int) -> list[pb.ImageWithLayer]:
    """Poll: resolution indexes layers in the background."""
    deadline = time.monotonic() + 10
    images: list[pb.ImageWithLayer] = []
    while time.monotonic() < deadline:
        answer = server.stub.ListImagesWithLayer(pb.ListImagesWithLayerRequest(digest=digest))
        images = list(answer.images)
        if len(images) >= expected:
            break
        time.sleep(0.1)
    return images


def test_images_sharing_a_base_layer_are_found_by_layer_digest_and_diff_id(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    app_a, app_b = pushed_images.app_a, pushed_images.app_b
    resolve(server, app_a.reference, max_staleness=0)
    resolve(server, app_b.reference, max_staleness=0)
    base = app_a.layers[0]
    assert base.digest == app_b.layers[0].digest

    by_digest = _images_with(server, base.digest, expected=2)
    found = {(i.repository, i.manifest_digest): i for i in by_digest}
    assert (app_a.repository, app_a.digest) in found
    assert (app_b.repository, app_b.digest) in found
    assert found[(app_a.repository, app_a.digest)].tags == [app_a.tag]
    assert found[(app_a.repository, app_a.digest)].layer_index == 0
    assert found[(app_a.repository, app_a.digest)].diff_id == base.diff_id

    by_diff_id = _images_with(server, base.diff_id, expected=2)
    assert {(i.repository, i.manifest_digest) for i in by_diff_id} >= set(found)

    top = app_a.layers[-1]
    only_a = _images_with(server, top.digest, expected=1)
    assert [(i.repository, i.manifest_digest) for i in only_a] == [(app_a.repository, app_a.digest)]


def test_a_child_of_an_index_is_found_with_the_index_and_its_tag(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    index = push_layout(
        counted.registry, build_small_index(layouts / "indexed", "indexed"), "layers/multi", "2"
    )
    resolve(server, index.reference, max_staleness=0)
    child = index.children[0]
    images = _images_with(server, child.layers[0].digest, expected=1)
    assert images, "the child's layer was not indexed"
    found = images[0]
    assert found.manifest_digest == child.digest
    assert list(found.index_digests) == [index.digest]
    assert list(found.tags) == [index.tag]
    assert found.platform.architecture == child.platform.architecture


def test_unknown_layer_finds_nothing_and_a_bad_digest_is_refused(server: RunningServer) -> None:
    answer = server.stub.ListImagesWithLayer(
        pb.ListImagesWithLayerRequest(digest="sha256:" + "0" * 64)
    )
    assert list(answer.images) == []
    with pytest.raises(grpc.RpcError) as refused:
        server.stub.ListImagesWithLayer(pb.ListImagesWithLayerRequest(digest="sha256:nope"))
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT


# --- what review found ------------------------------------------------------------------------


def test_the_same_image_in_a_second_repository_is_found_too(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    built = build_small_image(layouts / "twice", "twice")
    first = push_layout(counted.registry, built, "layers/first", "1")
    second = push_layout(counted.registry, built, "layers/second", "1")
    assert first.digest == second.digest
    resolve(server, first.reference, max_staleness=0)
    assert _images_with(server, first.layers[0].digest, expected=1)
    resolve(server, second.reference, max_staleness=0)
    found = _images_with(server, first.layers[0].digest, expected=2)
    assert {i.repository for i in found} == {"layers/first", "layers/second"}


def test_a_config_digest_is_not_served_as_a_manifest(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    image = push_small(counted, layouts, "kinds", "memory/kinds", "1")
    server.stub.GetManifest(pb.GetManifestRequest(reference=image.reference), timeout=10)
    config_as_manifest = f"{image.registry}/{image.repository}@{image.config_digest}"
    path = f"memory/kinds/manifests/{re.escape(image.config_digest)}"
    asked = counted.count("GET", path)
    with pytest.raises(grpc.RpcError) as refused:
        resolve(server, config_as_manifest)
    # Not answered from the cached config: the registry was asked, and its answer stands
    # (distribution 2.8 fails with 500 on a blob that is not a manifest).
    assert counted.count("GET", path) > asked  # (retried: 500 is retryable)
    assert refused.value.code() in {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.UNAVAILABLE}


def test_a_malformed_item_fails_alone_in_a_batch(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    bad = pb.ResolveReferenceRequest(reference=pushed_images.single.reference)
    bad.max_staleness.seconds = -5
    good = pb.ResolveReferenceRequest(reference=pushed_images.deep.reference)
    answer = server.stub.BatchResolveReferences(
        pb.BatchResolveReferencesRequest(requests=[bad, good]), timeout=20
    )
    assert answer.results[0].error.code == code_pb2.INVALID_ARGUMENT
    assert "max_staleness" in answer.results[0].error.message
    assert answer.results[1].resolution.digest == pushed_images.deep.digest


def test_registry_text_that_cannot_be_encoded_is_replaced_not_fatal(
    server: RunningServer, counted: CountedRegistry, layouts: Path
) -> None:
    """A config label holding a lone surrogate escape ("\\ud800") still gets an answer."""
    layout = OciLayout(layouts / "surrogate")
    spec = small_image_spec("surrogate")
    odd = dataclasses.replace(spec, runtime=RuntimeConfig(labels={"note": "bad \ud800 text"}))
    image = push_layout(counted.registry, layout.write_image(odd, "surrogate"), "odd/label", "1")
    answer = server.stub.GetManifest(pb.GetManifestRequest(reference=image.reference), timeout=10)
    assert answer.digest == image.digest
    assert answer.image_config.labels["note"].startswith("bad ")
    assert answer.image_config.raw == image.config  # the bytes themselves are untouched
