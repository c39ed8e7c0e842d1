"""Negative answers remembered briefly: retries for a missing tag do not reach the registry, a
request can ask for a younger answer (zero: ask again), and a push is seen once asked."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb
from imagepin_server import errors
from imagepin_server.core.negative import NegativeCache

from tests.support.counted_registry import CountedRegistry
from tests.support.image_fixtures import build_small_image, push_layout
from tests.support.server_fixtures import RunningServer

KEY = ("registry.example", "app", "gone")


def _missing(server: RunningServer, reference: str, negative_age: float | None = None) -> None:
    request = pb.ResolveReferenceRequest(reference=reference)
    if negative_age is not None:
        request.max_negative_age.FromNanoseconds(int(negative_age * 1e9))
    with pytest.raises(grpc.RpcError) as refused:
        server.stub.ResolveReference(request, timeout=10)
    assert refused.value.code() is grpc.StatusCode.NOT_FOUND


def test_a_storm_for_a_missing_tag_reaches_the_registry_once_until_asked_afresh(
    server: RunningServer, counted: CountedRegistry, tmp_path: Path
) -> None:
    reference = f"{counted.host}/negative/app:soon"
    asked = lambda: counted.count("(HEAD|GET)", "negative/app/manifests/soon")  # noqa: E731
    _missing(server, reference)
    first = asked()
    assert first >= 1
    for _ in range(20):
        _missing(server, reference)
    assert asked() == first, "the remembered NOT_FOUND answered the retries"
    _missing(server, reference, negative_age=0)  # zero: ask the registry again
    assert asked() == 2 * first

    push_layout(counted.registry, build_small_image(tmp_path, "negative"), "negative/app", "soon")
    _missing(server, reference)  # still within the server's bound: remembered
    answer = server.stub.ResolveReference(
        pb.ResolveReferenceRequest(reference=reference, max_negative_age={}), timeout=10
    )
    assert answer.digest.startswith("sha256:")
    # Found now: the earlier NOT_FOUND is not recalled even within its bound.
    fresh = pb.ResolveReferenceRequest(reference=reference)
    fresh.max_staleness.FromSeconds(0)
    assert server.stub.ResolveReference(fresh, timeout=10).digest == answer.digest


SEEN = 100.0  # the monotonic time the failures are remembered at


def test_only_not_found_and_refused_credentials_are_remembered() -> None:
    cache = NegativeCache()
    cache.remember(KEY, errors.RegistryUnavailable("down", registry="registry.example"), SEEN)
    assert cache.recall(KEY, timedelta(minutes=1), SEEN) is None
    for failure in (
        errors.ManifestNotFound("no manifest", reference="app:gone", registry_code="X"),
        errors.RepositoryNotFound("no repository"),
        errors.RegistryUnauthorized("refused"),
    ):
        cache.remember(KEY, failure, SEEN)
        recalled = cache.recall(KEY, timedelta(minutes=1), SEEN)
        assert type(recalled) is type(failure)
        assert recalled is not failure
        assert recalled.message == failure.message
        assert recalled.metadata() == failure.metadata()


def test_a_zero_bound_or_a_later_positive_answer_recalls_nothing() -> None:
    cache = NegativeCache(max_entries=1)
    cache.remember(KEY, errors.ManifestNotFound("no manifest"), SEEN)
    assert cache.recall(KEY, timedelta(0), SEEN) is None
    assert cache.recall(KEY, timedelta(minutes=1), SEEN + 60) is not None
    assert cache.recall(KEY, timedelta(minutes=1), SEEN + 60.5) is None  # older than its bound
    assert cache.recall(KEY, timedelta(minutes=1), SEEN, positive_since=float("inf")) is None
    assert cache.recall(KEY, timedelta(minutes=1), SEEN, positive_since=0.0) is not None
    cache.remember(("registry.example", "app", "other"), errors.ManifestNotFound("no"), SEEN)
    assert cache.recall(KEY, timedelta(minutes=1), SEEN) is None  # bounded: the older one went
