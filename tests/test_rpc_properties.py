"""Random input to every RPC of the real server: whatever it is, the answer is never INTERNAL.

References are random strings, or well-formed ones on a scripted registry (which knows nothing,
so they reach the registry code); platforms, digests, durations, timestamps and limits are
random too. An allow-list keeps every other registry unreachable, so nothing leaves the machine.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest
from google.protobuf import duration_pb2, timestamp_pb2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from imagepin.v1 import resolver_pb2 as pb

from tests.support.hostile_registry import HostileRegistry, launch_hostile_registry
from tests.support.server_fixtures import RunningServer, start_server, stop_server

EXAMPLES = 100
NEVER = {grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN}
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def scripted() -> Iterator[HostileRegistry]:
    with launch_hostile_registry() as registry:
        yield registry


@pytest.fixture(scope="module")
def fuzzed(
    tmp_path_factory: pytest.TempPathFactory, scripted: HostileRegistry
) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("fuzzed")
    config = workdir / "registries.toml"
    config.write_text(
        f'[network]\nallowed_registries = ["{scripted.host}"]\n'
        "[defaults]\nretries = 0\nrequest_timeout = 2\n"
    )
    server = start_server(
        workdir, env={"IMAGEPIN_REGISTRIES_CONFIG": str(config), "IMAGEPIN_INDEX_LAYERS": "false"}
    )
    yield server
    stop_server(server)


texts = st.text(max_size=200)
hexes = st.text(alphabet="0123456789abcdef", min_size=0, max_size=70)
digests = st.one_of(texts, hexes.map(lambda h: f"sha256:{h}"), hexes.map(lambda h: f"sha512:{h}"))
names = st.from_regex(r"[a-z0-9]{1,8}(/[a-z0-9._-]{1,8}){0,2}", fullmatch=True)
tags = st.from_regex(r"[\w][\w.-]{0,20}", fullmatch=True)


@st.composite
def references(draw: st.DrawFn, host: str) -> str:
    """Anything at all, or something the grammar accepts on the scripted registry."""
    if draw(st.booleans()):
        return draw(texts)
    name = draw(names)
    target = draw(st.one_of(tags.map(lambda t: f":{t}"), digests.map(lambda d: f"@{d}")))
    registry = draw(st.sampled_from([host, "docker.io", "169.254.169.254", "[::1]:1"]))
    return f"{registry}/{name}{target}"


platforms = st.builds(
    pb.Platform,
    os=st.text(max_size=20),
    architecture=st.text(max_size=20),
    variant=st.text(max_size=10),
    os_version=st.text(max_size=10),
    os_features=st.lists(st.text(max_size=10), max_size=3),
)
int64 = st.integers(-(2**63), 2**63 - 1)
durations = st.builds(duration_pb2.Duration, seconds=int64, nanos=st.integers(-(2**31), 2**31 - 1))
timestamps = st.builds(
    timestamp_pb2.Timestamp, seconds=int64, nanos=st.integers(-(2**31), 2**31 - 1)
)
limits = st.integers(-(2**31), 2**31 - 1)


def never_internal(call: Callable[..., Any], request: Any) -> None:
    code, details = grpc.StatusCode.OK, ""
    try:
        call(request, timeout=10)
    except grpc.RpcError as exc:
        if not isinstance(exc, grpc.Call):
            raise
        code, details = exc.code(), exc.details() or ""
    assert code not in NEVER, f"{code}: {details} for {request}"


def resolve_requests(host: str) -> st.SearchStrategy[pb.ResolveReferenceRequest]:
    return st.builds(
        pb.ResolveReferenceRequest,
        reference=references(host),
        platform=st.none() | platforms,
        max_staleness=st.none() | durations,
        stale_if_error=st.none() | durations,
    )


@FUZZ
@given(data=st.data())
def test_resolve_reference(
    fuzzed: RunningServer, scripted: HostileRegistry, data: st.DataObject
) -> None:
    never_internal(fuzzed.stub.ResolveReference, data.draw(resolve_requests(scripted.host)))


@FUZZ
@given(data=st.data())
def test_batch_resolve(
    fuzzed: RunningServer, scripted: HostileRegistry, data: st.DataObject
) -> None:
    items = data.draw(st.lists(resolve_requests(scripted.host), max_size=4))
    never_internal(
        fuzzed.stub.BatchResolveReferences, pb.BatchResolveReferencesRequest(requests=items)
    )


@FUZZ
@given(data=st.data())
def test_get_manifest_and_list_layers(
    fuzzed: RunningServer, scripted: HostileRegistry, data: st.DataObject
) -> None:
    reference = data.draw(references(scripted.host))
    platform = data.draw(st.none() | platforms)
    never_internal(
        fuzzed.stub.GetManifest, pb.GetManifestRequest(reference=reference, platform=platform)
    )
    never_internal(
        fuzzed.stub.ListLayers, pb.ListLayersRequest(reference=reference, platform=platform)
    )


@FUZZ
@given(data=st.data())
def test_verify_digest(
    fuzzed: RunningServer, scripted: HostileRegistry, data: st.DataObject
) -> None:
    request = pb.VerifyDigestRequest(
        reference=data.draw(references(scripted.host)),
        expected_digest=data.draw(digests),
        include_layers=data.draw(st.booleans()),
        platform=data.draw(st.none() | platforms),
    )
    never_internal(fuzzed.stub.VerifyDigest, request)


@FUZZ
@given(data=st.data())
def test_history_and_layer_search(
    fuzzed: RunningServer, scripted: HostileRegistry, data: st.DataObject
) -> None:
    history = pb.ListTagHistoryRequest(
        reference=data.draw(references(scripted.host)),
        as_of=data.draw(st.none() | timestamps),
        limit=data.draw(limits),
    )
    never_internal(fuzzed.stub.ListTagHistory, history)
    search = pb.ListImagesWithLayerRequest(digest=data.draw(digests), limit=data.draw(limits))
    never_internal(fuzzed.stub.ListImagesWithLayer, search)


@st.composite
def repositories(draw: st.DrawFn, host: str) -> str:
    """Anything at all, a repository on the scripted registry, or a reference with a target."""
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(texts)
    if choice == 1:
        return f"{host}/{draw(names)}"
    return draw(references(host))


orders = st.integers(-3, 5)


@FUZZ
@given(data=st.data())
def test_list_and_select_tags(
    fuzzed: RunningServer, scripted: HostileRegistry, data: st.DataObject
) -> None:
    listing = pb.ListTagsRequest(
        reference=data.draw(repositories(scripted.host)),
        page_size=data.draw(limits),
        page_token=data.draw(texts),
        filter=data.draw(texts),
        max_staleness=data.draw(st.none() | durations),
    )
    never_internal(fuzzed.stub.ListTags, listing)
    selection = pb.SelectTagRequest(
        reference=data.draw(repositories(scripted.host)),
        pattern=data.draw(texts),
        extract=data.draw(texts),
        platform=data.draw(st.none() | platforms),
        max_staleness=data.draw(st.none() | durations),
    )
    policy = data.draw(st.sampled_from(["semver", "numerical", "alphabetical", None]))
    if policy == "semver":
        selection.semver.CopyFrom(
            pb.SemverPolicy(range=data.draw(texts), include_prereleases=data.draw(st.booleans()))
        )
    elif policy == "numerical":
        selection.numerical.CopyFrom(pb.NumericalPolicy(order=data.draw(orders)))
    elif policy == "alphabetical":
        selection.alphabetical.CopyFrom(pb.AlphabeticalPolicy(order=data.draw(orders)))
    never_internal(fuzzed.stub.SelectTag, selection)
