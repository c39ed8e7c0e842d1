"""One digest per rollout, against a real registry and the real server on SQLite and PostgreSQL:
a key keeps the digest its first request got after the tag moves; another key, or none, gets
the new one."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest
from google.rpc import code_pb2, error_details_pb2
from imagepin.v1 import resolver_pb2 as pb

from tests.support.image_fixtures import (
    ImageCatalog,
    PushedImage,
    build_small_image,
    build_small_index,
    push_layout,
)
from tests.support.registries import RunningRegistry
from tests.support.rpc import error_info
from tests.support.server_fixtures import RunningServer, start_server, stop_server

ARM64 = pb.Platform(os="linux", architecture="arm64", variant="v8")
ARM64_TEXT = "linux/arm64/v8"


@pytest.fixture(
    params=[
        pytest.param("server", id="sqlite"),
        pytest.param("postgres_server", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def any_server(request: pytest.FixtureRequest) -> RunningServer:
    chosen: RunningServer = request.getfixturevalue(request.param)
    return chosen


@pytest.fixture
def repository() -> str:
    """A repository of the test's own, so tags moved here move nowhere else."""
    return f"rollout/{uuid.uuid4().hex[:12]}"


def push_small(
    registry: RunningRegistry, workdir: Path, name: str, repository: str, tag: str
) -> PushedImage:
    return push_layout(registry, build_small_image(workdir / name, name), repository, tag)


def resolve(
    server: RunningServer,
    reference: str,
    key: str = "",
    platform: pb.Platform | None = None,
) -> pb.ResolveReferenceResponse:
    # max_staleness zero: every answer that is not the rollout's comes from the registry now.
    request = pb.ResolveReferenceRequest(
        reference=reference, rollout_key=key, platform=platform, include_children=True
    )
    request.max_staleness.FromSeconds(0)
    answer: pb.ResolveReferenceResponse = server.stub.ResolveReference(request, timeout=20)
    return answer


def test_a_rollout_keeps_its_first_digest_after_the_tag_moves(
    any_server: RunningServer, plain_registry: RunningRegistry, tmp_path: Path, repository: str
) -> None:
    first = push_small(plain_registry, tmp_path, "rollout-a", repository, "stable")
    key, other_key = f"rs-{uuid.uuid4()}", f"rs-{uuid.uuid4()}"

    decided = resolve(any_server, first.reference, key)
    assert decided.digest == first.digest
    assert decided.source == pb.ANSWER_SOURCE_REGISTRY

    moved = push_small(plain_registry, tmp_path, "rollout-b", repository, "stable")
    assert moved.digest != first.digest

    again = resolve(any_server, first.reference, key)
    assert again.digest == first.digest
    assert again.resolved_digest == first.digest
    assert again.source == pb.ANSWER_SOURCE_ROLLOUT
    assert again.normalized_reference == first.reference
    assert again.pinned_reference == first.pinned_reference
    assert again.pinned_reference_with_tag == f"{first.reference}@{first.digest}"
    assert again.media_type == first.media_type
    assert again.size == len(first.raw_manifest)
    assert not again.stale
    # observed_at is when the decision was made: not before the first answer, and kept.
    decided_at = again.observed_at.ToDatetime()
    assert decided_at >= decided.observed_at.ToDatetime()
    assert resolve(any_server, first.reference, key).observed_at == again.observed_at

    fresh = resolve(any_server, first.reference, other_key)
    assert (fresh.digest, fresh.source) == (moved.digest, pb.ANSWER_SOURCE_REGISTRY)
    unkeyed = resolve(any_server, first.reference)
    assert (unkeyed.digest, unkeyed.source) == (moved.digest, pb.ANSWER_SOURCE_REGISTRY)
    assert resolve(any_server, first.reference, other_key).source == pb.ANSWER_SOURCE_ROLLOUT

    # The registry was asked for the other key and without one: both digests are in the history.
    history = any_server.stub.ListTagHistory(pb.ListTagHistoryRequest(reference=first.reference))
    assert [entry.digest for entry in history.entries][:2] == [moved.digest, first.digest]


def test_an_index_rollout_keeps_its_index_and_chooses_the_platform_from_it(
    any_server: RunningServer, plain_registry: RunningRegistry, tmp_path: Path, repository: str
) -> None:
    first = push_layout(
        plain_registry, build_small_index(tmp_path / "i1", "rollout-i1"), repository, "1"
    )
    key = f"ds-{uuid.uuid4()}/5d8f7c9b4"
    assert resolve(any_server, first.reference, key, ARM64).digest == first.child(ARM64_TEXT).digest

    moved = push_layout(
        plain_registry, build_small_index(tmp_path / "i2", "rollout-i2"), repository, "1"
    )
    assert moved.child(ARM64_TEXT).digest != first.child(ARM64_TEXT).digest

    again = resolve(any_server, first.reference, key, ARM64)
    assert again.source == pb.ANSWER_SOURCE_ROLLOUT
    assert again.digest == first.child(ARM64_TEXT).digest
    assert again.selected.digest == first.child(ARM64_TEXT).digest
    assert again.resolved_digest == first.digest
    assert [child.digest for child in again.manifests] == [c.digest for c in first.children]
    assert again.pinned_reference_with_tag == f"{first.reference}@{first.child(ARM64_TEXT).digest}"
    assert (
        resolve(any_server, first.reference, platform=ARM64).digest
        == moved.child(ARM64_TEXT).digest
    )


def test_a_batch_honours_each_items_rollout_key(
    any_server: RunningServer, plain_registry: RunningRegistry, tmp_path: Path, repository: str
) -> None:
    first = push_small(plain_registry, tmp_path, "batch-a", repository, "v")
    key = f"rs-{uuid.uuid4()}"
    assert resolve(any_server, first.reference, key).digest == first.digest
    moved = push_small(plain_registry, tmp_path, "batch-b", repository, "v")

    items = [
        pb.ResolveReferenceRequest(reference=first.reference, rollout_key=key),
        pb.ResolveReferenceRequest(reference=first.reference),
        pb.ResolveReferenceRequest(reference=first.reference, rollout_key="bad\nkey"),
    ]
    for item in items:
        item.max_staleness.FromSeconds(0)
    results = any_server.stub.BatchResolveReferences(
        pb.BatchResolveReferencesRequest(requests=items), timeout=20
    ).results
    assert results[0].resolution.digest == first.digest
    assert results[0].resolution.source == pb.ANSWER_SOURCE_ROLLOUT
    assert results[1].resolution.digest == moved.digest
    assert results[2].error.code == code_pb2.INVALID_ARGUMENT
    info = error_details_pb2.ErrorInfo()
    assert results[2].error.details[0].Unpack(info)
    assert info.reason == "INVALID_ROLLOUT_KEY"


def test_a_pinned_reference_is_answered_as_it_is(
    server: RunningServer, plain_registry: RunningRegistry, tmp_path: Path, repository: str
) -> None:
    """A digest is one build already: nothing to decide, the answer is the digest's."""
    image = push_small(plain_registry, tmp_path, "pinned", repository, "p")
    answer = resolve(server, image.pinned_reference, f"rs-{uuid.uuid4()}")
    assert (answer.digest, answer.source) == (image.digest, pb.ANSWER_SOURCE_REGISTRY)


@pytest.mark.parametrize(
    "key",
    ["x" * 257, "é" * 129, "line\nbreak", "tab\there", "nul\x00"],
    ids=["257-bytes", "258-utf8-bytes", "newline", "tab", "nul"],
)
def test_a_bad_rollout_key_is_invalid_argument(
    server: RunningServer, plain_registry: RunningRegistry, key: str
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        resolve(server, f"{plain_registry.host}/library/alpine:3.19", key)
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert error_info(raised.value).reason == "INVALID_ROLLOUT_KEY"


def test_a_key_of_256_bytes_is_accepted(server: RunningServer, pushed_images: ImageCatalog) -> None:
    image = pushed_images.single
    key = "é" * 127 + "kk"  # 256 bytes of UTF-8
    assert resolve(server, image.reference, key).digest == image.digest
    assert resolve(server, image.reference, key).source == pb.ANSWER_SOURCE_ROLLOUT


def test_a_decision_older_than_the_retention_is_made_again(
    tmp_path: Path, plain_registry: RunningRegistry, repository: str
) -> None:
    """IMAGEPIN_ROLLOUT_RETENTION bounds a decision: with one microsecond, every decision has
    expired by the next call, so the key follows the tag (the expired row is replaced)."""
    short = start_server(tmp_path / "short", env={"IMAGEPIN_ROLLOUT_RETENTION": "0.000001"})
    try:
        first = push_small(plain_registry, tmp_path, "expiring-a", repository, "e")
        key = f"rs-{uuid.uuid4()}"
        assert resolve(short, first.reference, key).digest == first.digest
        moved = push_small(plain_registry, tmp_path, "expiring-b", repository, "e")
        again = resolve(short, first.reference, key)
        assert (again.digest, again.source) == (moved.digest, pb.ANSWER_SOURCE_REGISTRY)
    finally:
        stop_server(short)


@pytest.mark.parametrize("value", ["0", "-5", "soon"])
def test_a_retention_that_is_not_a_positive_number_stops_the_start(
    tmp_path: Path, value: str
) -> None:
    with pytest.raises(RuntimeError, match="IMAGEPIN_ROLLOUT_RETENTION"):
        start_server(tmp_path / "bad", env={"IMAGEPIN_ROLLOUT_RETENTION": value})
