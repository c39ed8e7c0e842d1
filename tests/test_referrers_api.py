"""The OCI 1.1 referrers API, through the real server, against a small spec-faithful fake.

The registry the other tests run (CNCF distribution 2.8) has no referrers API, so this path is
tested against a scripted registry (tests/support/hostile_registry.py) answering as the
distribution spec says one with the API does: `GET /v2/<name>/referrers/<digest>` returns an OCI
image index of descriptors (artifactType, annotations), with `Link: <...>; rel="next"` when
there is another page; and a registry with the API is never asked for the fallback tag.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb
from imagepin_server import mediatypes
from imagepin_server.core.referrers import MAX_PAGES
from imagepin_server.digests import Digest

from tests.support.hostile_registry import HostileRegistry, launch_hostile_registry, reply
from tests.support.rpc import error_info
from tests.support.server_fixtures import RunningServer, start_server, stop_server

TIMEOUT_S = 20
SBOM = "application/spdx+json"


@dataclass
class Fake:
    registry: HostileRegistry
    server: RunningServer


@pytest.fixture(scope="module")
def fake(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fake]:
    with launch_hostile_registry() as registry:
        server = start_server(
            tmp_path_factory.mktemp("referrers-api"), env={"IMAGEPIN_INDEX_LAYERS": "false"}
        )
        try:
            yield Fake(registry, server)
        finally:
            stop_server(server)


def image(name: str) -> bytes:
    """A small image manifest (its blobs are never asked for here)."""
    config = Digest.of(name.encode())
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": mediatypes.OCI_MANIFEST,
            "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": str(config), "size": 2},
            "layers": [],
        }
    ).encode()


def artifact(n: int) -> dict[str, object]:
    raw = f"referrer {n}".encode()
    return {
        "mediaType": mediatypes.OCI_MANIFEST,
        "digest": str(Digest.of(raw)),
        "size": len(raw),
        "artifactType": SBOM if n % 2 else mediatypes.COSIGN_SIGNATURE_ARTIFACT,
        "annotations": {"org.example.n": str(n)},
    }


def index(descriptors: list[dict[str, object]]) -> bytes:
    return json.dumps(
        {"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": descriptors}
    ).encode()


def serve_subject(registry: HostileRegistry, repository: str, raw: bytes) -> Digest:
    digest = Digest.of(raw)
    headers = {"Content-Type": mediatypes.OCI_MANIFEST, "Docker-Content-Digest": str(digest)}
    for method in ("GET", "HEAD"):
        registry.script(method, f"/v2/{repository}/manifests/{digest}", reply(200, raw, headers))
    return digest


def serve_page(
    registry: HostileRegistry,
    path: str,
    descriptors: list[dict[str, object]],
    next_link: str | None = None,
) -> None:
    headers = {"Content-Type": mediatypes.OCI_INDEX}
    if next_link is not None:
        headers["Link"] = f'<{next_link}>; rel="next"'
    registry.script("GET", path, reply(200, index(descriptors), headers))


def asked(registry: HostileRegistry, prefix: str) -> list[str]:
    return [r.path for r in registry.requests if r.path.startswith(prefix)]


def list_referrers(fake: Fake, reference: str, **fields: object) -> pb.ListReferrersResponse:
    request = pb.ListReferrersRequest(reference=reference, **fields)  # type: ignore[arg-type]
    answer: pb.ListReferrersResponse = fake.server.stub.ListReferrers(request, timeout=TIMEOUT_S)
    return answer


def test_every_page_is_read_and_the_fallback_tag_is_not(fake: Fake) -> None:
    registry = fake.registry
    subject = serve_subject(registry, "api/paged", image("paged"))
    first = f"/v2/api/paged/referrers/{subject}"
    second = f"{first}?n=2&last={artifact(1)['digest']}"
    serve_page(registry, first, [artifact(0), artifact(1)], next_link=second)
    serve_page(registry, second, [artifact(2)])

    answer = list_referrers(fake, f"{registry.host}/api/paged@{subject}")
    assert answer.digest == str(subject)
    assert not answer.truncated
    assert [r.descriptor.digest for r in answer.referrers] == [
        artifact(n)["digest"] for n in range(3)
    ]
    for n, referrer in enumerate(answer.referrers):
        assert referrer.source == pb.REFERRER_SOURCE_REFERRERS_API
        assert referrer.subject_digest == str(subject)
        assert referrer.descriptor.artifact_type == artifact(n)["artifactType"]
        assert dict(referrer.descriptor.annotations) == {"org.example.n": str(n)}
        assert referrer.descriptor.size == artifact(n)["size"]
    assert asked(registry, "/v2/api/paged/referrers/") == [first, second]
    fallback = f"/v2/api/paged/manifests/sha256-{subject.hex}"
    assert fallback not in [r.path for r in registry.requests]
    # cosign's tags are still looked at: they are another source.
    assert f"{fallback}.sig" in [r.path for r in registry.requests]

    only_sboms = list_referrers(fake, f"{registry.host}/api/paged@{subject}", artifact_type=SBOM)
    assert [r.descriptor.digest for r in only_sboms.referrers] == [artifact(1)["digest"]]
    assert asked(registry, "/v2/api/paged/referrers/") == [first, second], "served from memory"


def test_paging_is_bounded_and_says_so(fake: Fake) -> None:
    registry = fake.registry
    subject = serve_subject(registry, "api/endless", image("endless"))
    base = f"/v2/api/endless/referrers/{subject}"
    pages = [base] + [f"{base}?page={n}" for n in range(1, MAX_PAGES + 4)]
    for n, path in enumerate(pages[:-1]):
        serve_page(registry, path, [artifact(n)], next_link=pages[n + 1])

    answer = list_referrers(fake, f"{registry.host}/api/endless@{subject}")
    assert answer.truncated
    assert len(answer.referrers) == MAX_PAGES
    assert asked(registry, base) == pages[:MAX_PAGES]


def test_a_link_elsewhere_is_not_followed(fake: Fake) -> None:
    registry = fake.registry
    subject = serve_subject(registry, "api/liar", image("liar"))
    base = f"/v2/api/liar/referrers/{subject}"
    elsewhere = f"http://{registry.host}/v2/api/other/referrers/{subject}?n=1"
    serve_page(registry, base, [artifact(0)], next_link=elsewhere)

    answer = list_referrers(fake, f"{registry.host}/api/liar@{subject}")
    assert [r.descriptor.digest for r in answer.referrers] == [artifact(0)["digest"]]
    assert answer.truncated, "a next page was announced and not read"
    assert asked(registry, "/v2/api/other/") == []


def test_a_listing_that_is_no_index_is_the_registrys_fault(fake: Fake) -> None:
    registry = fake.registry
    subject = serve_subject(registry, "api/broken", image("broken"))
    registry.script(
        "GET",
        f"/v2/api/broken/referrers/{subject}",
        reply(200, b"<html>hello</html>", {"Content-Type": "text/html"}),
    )
    with pytest.raises(grpc.RpcError) as failed:
        list_referrers(fake, f"{registry.host}/api/broken@{subject}")
    assert failed.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_info(failed.value).reason == "BAD_REGISTRY_RESPONSE"
