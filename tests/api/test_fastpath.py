"""Warm hits from serialised bytes: the same bytes the slow path serialises, apart from `age`."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from google.protobuf import duration_pb2
from imagepin.v1 import resolver_pb2 as pb
from imagepin_server import core, mediatypes, store
from imagepin_server.api import convert
from imagepin_server.api.fastpath import WarmAnswers, encode_age, is_plain
from imagepin_server.core.cache import CachedContent, Caches, TagAnswer
from imagepin_server.digests import Digest
from imagepin_server.registry import build_client, load_config

REGISTRY = "registry.example"
IMAGE_DIGEST = Digest.parse("sha256:" + "a" * 64)


@pytest.fixture
async def deps(tmp_path: Path) -> AsyncIterator[core.Dependencies]:
    """Real parts, none of which is asked anything on a warm hit."""
    database = store.Database(f"sqlite:///{tmp_path / 'imagepin.db'}")
    registry = build_client(load_config(None))
    yield core.Dependencies(
        registry=registry,
        database=database,
        recorder=core.ObservationRecorder(database),
        wall=lambda: datetime.now(UTC),
        monotonic=time.monotonic,  # the answers below are aged against this clock
    )
    await registry.aclose()
    await database.close()


def _cache_tag(deps: core.Dependencies, repository: str, tag: str, answer: TagAnswer) -> None:
    deps.caches.tags[(REGISTRY, repository, tag)] = answer


def _answer(digest: Digest, media_type: str, size: int, age_s: float = 1.5) -> TagAnswer:
    observed = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    return TagAnswer(digest, media_type, size, observed, time.monotonic() - age_s)


async def _slow(deps: core.Dependencies, reference: str) -> tuple[core.Resolution, bytes]:
    resolution = await core.resolve(deps, convert.parse_reference(reference), None)
    assert resolution.source is core.Source.CACHE
    return resolution, convert.resolution_to_proto(resolution).SerializeToString()


def _with_age_of(slow: bytes, fast: bytes) -> bytes:
    """The slow path's message with the fast answer's `age`, serialised again."""
    message = pb.ResolveReferenceResponse.FromString(slow)
    message.age.CopyFrom(pb.ResolveReferenceResponse.FromString(fast).age)
    return message.SerializeToString()


async def test_a_warm_image_hit_is_byte_for_byte_the_slow_answer(
    deps: core.Dependencies,
) -> None:
    _cache_tag(deps, "app", "1.0", _answer(IMAGE_DIGEST, mediatypes.OCI_MANIFEST, 1234))
    warm = WarmAnswers(deps, max_entries=10)
    request = pb.ResolveReferenceRequest(reference=f"{REGISTRY}/app:1.0")
    resolution, slow = await _slow(deps, request.reference)
    assert warm.lookup(request) is None  # nothing remembered yet
    warm.remember(request, resolution)
    found = warm.lookup(request)
    assert found is not None
    fast = found[0]
    assert fast == _with_age_of(slow, fast)
    answer = pb.ResolveReferenceResponse.FromString(fast)
    assert answer.source == pb.ANSWER_SOURCE_CACHE
    assert 1.5 <= answer.age.ToTimedelta().total_seconds() < 60


async def test_a_warm_index_hit_is_byte_for_byte_and_children_are_never_served_warm(
    deps: core.Dependencies,
) -> None:
    child = {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": "sha256:" + "b" * 64,
        "size": 500,
        "platform": {"os": "linux", "architecture": "arm64", "variant": "v8"},
        "annotations": {"org.example.note": "one"},
    }
    raw = json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": [child]}
    ).encode()
    index_digest = Digest.of(raw)
    deps.caches.contents[(REGISTRY, "multi", str(index_digest), "manifest")] = CachedContent(
        mediatypes.OCI_INDEX, raw
    )
    _cache_tag(deps, "multi", "latest", _answer(index_digest, mediatypes.OCI_INDEX, len(raw)))
    warm = WarmAnswers(deps, max_entries=10)
    request = pb.ResolveReferenceRequest(reference=f"{REGISTRY}/multi")
    resolution, slow = await _slow(deps, request.reference)
    warm.remember(request, resolution)
    found = warm.lookup(request)
    assert found is not None
    assert found[0] == _with_age_of(slow, found[0])
    assert len(pb.ResolveReferenceResponse.FromString(found[0]).manifests) == 0  # not asked
    asking = pb.ResolveReferenceRequest(reference=request.reference, include_children=True)
    assert warm.lookup(asking) is None  # the slow path lists them


async def test_no_warm_answer_for_a_moved_stale_or_unusual_request(
    deps: core.Dependencies,
) -> None:
    key_answer = _answer(IMAGE_DIGEST, mediatypes.OCI_MANIFEST, 10)
    _cache_tag(deps, "app", "2.0", key_answer)
    warm = WarmAnswers(deps, max_entries=10)
    request = pb.ResolveReferenceRequest(reference=f"{REGISTRY}/app:2.0")
    resolution, _ = await _slow(deps, request.reference)
    warm.remember(request, resolution)
    assert warm.lookup(request) is not None
    for unusual in (
        pb.ResolveReferenceRequest(reference=request.reference, rollout_key="rs-1"),
        pb.ResolveReferenceRequest(
            reference=request.reference, platform=pb.Platform(os="linux", architecture="amd64")
        ),
        pb.ResolveReferenceRequest(
            reference=request.reference, max_staleness=duration_pb2.Duration(seconds=5)
        ),
    ):
        assert warm.lookup(unusual) is None, unusual
    # An empty platform, or a field this server does not know, is no plain request either.
    empty_platform = pb.ResolveReferenceRequest(reference=request.reference)
    empty_platform.platform.SetInParent()
    unknown_field = pb.ResolveReferenceRequest.FromString(
        request.SerializeToString() + b"\xf8\x07\x01"  # field 127, varint 1
    )
    assert warm.lookup(empty_platform) is None
    assert warm.lookup(unknown_field) is None
    # The tag cache holds a newer answer: the old bytes are not served.
    _cache_tag(deps, "app", "2.0", _answer(IMAGE_DIGEST, mediatypes.OCI_MANIFEST, 10))
    assert warm.lookup(request) is None


async def test_a_warm_answer_ages_out_with_the_clock(deps: core.Dependencies) -> None:
    now = [time.monotonic()]
    deps = replace(deps, monotonic=lambda: now[0])
    observed = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    _cache_tag(
        deps, "app", "3.0", TagAnswer(IMAGE_DIGEST, mediatypes.OCI_MANIFEST, 10, observed, now[0])
    )
    warm = WarmAnswers(deps, max_entries=10)
    request = pb.ResolveReferenceRequest(reference=f"{REGISTRY}/app:3.0")
    warm.remember(request, (await _slow(deps, request.reference))[0])
    now[0] += deps.policy.max_staleness.total_seconds()
    found = warm.lookup(request)
    assert found is not None  # as old as the server's max_staleness allows
    assert pb.ResolveReferenceResponse.FromString(found[0]).age.ToTimedelta() == (
        deps.policy.max_staleness
    )
    now[0] += 0.001
    assert warm.lookup(request) is None  # older: the slow path asks the registry


async def test_a_warm_answer_goes_when_the_tag_cache_drops_its_answer(
    deps: core.Dependencies,
) -> None:
    warm = WarmAnswers(deps, max_entries=10)
    # Two spellings of one tag, each with its own warm answer.
    spellings = [
        pb.ResolveReferenceRequest(reference=f"{REGISTRY}/app"),
        pb.ResolveReferenceRequest(reference=f"{REGISTRY}/app:latest"),
    ]
    kept = pb.ResolveReferenceRequest(reference=f"{REGISTRY}/app:4.1")
    _cache_tag(deps, "app", "latest", _answer(IMAGE_DIGEST, mediatypes.OCI_MANIFEST, 10))
    _cache_tag(deps, "app", "4.1", _answer(IMAGE_DIGEST, mediatypes.OCI_MANIFEST, 10))
    for request in (*spellings, kept):
        warm.remember(request, (await _slow(deps, request.reference))[0])
        assert warm.lookup(request) is not None
    deps.caches.tags.pop((REGISTRY, "app", "latest"))  # as a push notification forgets a tag
    assert all(warm.lookup(request) is None for request in spellings)
    assert warm.lookup(kept) is not None  # another tag's answer stays


async def test_a_warm_answer_goes_when_the_tag_cache_evicts_its_answer(
    deps: core.Dependencies,
) -> None:
    small = replace(deps, caches=Caches(tag_entries=1))
    warm = WarmAnswers(small, max_entries=10)
    request = pb.ResolveReferenceRequest(reference=f"{REGISTRY}/app:5.0")
    _cache_tag(small, "app", "5.0", _answer(IMAGE_DIGEST, mediatypes.OCI_MANIFEST, 10))
    warm.remember(request, (await _slow(small, request.reference))[0])
    assert warm.lookup(request) is not None
    _cache_tag(small, "app", "5.1", _answer(IMAGE_DIGEST, mediatypes.OCI_MANIFEST, 10))
    assert warm.lookup(request) is None  # 5.0 made room for 5.1, and its warm answer went


async def test_warm_answers_are_bounded_like_the_tag_cache(deps: core.Dependencies) -> None:
    warm = WarmAnswers(deps, max_entries=2)
    requests = []
    for i in range(3):
        _cache_tag(deps, "app", f"t{i}", _answer(IMAGE_DIGEST, mediatypes.OCI_MANIFEST, 10))
        request = pb.ResolveReferenceRequest(reference=f"{REGISTRY}/app:t{i}")
        warm.remember(request, (await _slow(deps, request.reference))[0])
        requests.append(request)
    assert warm.lookup(requests[0]) is None
    assert all(warm.lookup(r) is not None for r in requests[1:])


@pytest.mark.parametrize(
    "age_s",
    [0.0, 0.000001, 1.0, 1.5, 12.3456789, 40 * 86400 + 0.999999],
)
def test_age_is_encoded_as_protobuf_encodes_the_slow_paths_duration(age_s: float) -> None:
    slow_age = timedelta(seconds=age_s)  # what TagAnswer.age gives the slow path
    expected = pb.ResolveReferenceResponse(age=convert.duration(slow_age)).SerializeToString()
    assert encode_age(age_s) == expected


def test_every_request_field_but_the_reference_sends_a_call_down_the_slow_path() -> None:
    """A field added to the request later must be seen here, or warm hits would ignore it."""
    samples: dict[str, pb.ResolveReferenceRequest] = {
        "platform": pb.ResolveReferenceRequest(platform=pb.Platform(os="linux")),
        "max_staleness": pb.ResolveReferenceRequest(max_staleness=duration_pb2.Duration()),
        "stale_if_error": pb.ResolveReferenceRequest(stale_if_error=duration_pb2.Duration()),
        "rollout_key": pb.ResolveReferenceRequest(rollout_key="rs-1"),
        "max_negative_age": pb.ResolveReferenceRequest(max_negative_age=duration_pb2.Duration()),
        "include_children": pb.ResolveReferenceRequest(include_children=True),
    }
    names = {f.name for f in pb.ResolveReferenceRequest.DESCRIPTOR.fields} - {"reference"}
    assert names == set(samples), "a new request field: teach api/fastpath.is_plain about it"
    assert is_plain(pb.ResolveReferenceRequest(reference="app:1"))
    for name, request in samples.items():
        assert not is_plain(request), name
