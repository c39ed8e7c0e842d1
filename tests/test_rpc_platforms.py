"""Platforms are honest: against the real registry, with images, buildx-style attestations,
nested and empty indexes built here and pushed by skopeo.

A platform asked for on a single-platform image is checked against its config; an index child
is chosen only among images (never an attestation), searching nested indexes; every listed child
says what it is. The server runs with its metrics endpoint, whose registry request counter shows
that a warm repeat costs no registry request.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import httpx
import pytest
from google.rpc import error_details_pb2
from imagepin.v1 import resolver_pb2 as pb
from prometheus_client.parser import text_string_to_metric_families

from tests.support import skopeo
from tests.support.image_fixtures import PushedImage, push_layout
from tests.support.oci_layouts import (
    LINUX_AMD64,
    LINUX_ARM64_V8,
    IndexBlob,
    OciLayout,
    Platform,
    small_image_spec,
)
from tests.support.registries import RunningRegistry, free_port, put_manifest
from tests.support.rpc import error_info
from tests.support.server_fixtures import RunningServer, start_server, stop_server

AMD64 = pb.Platform(os="linux", architecture="amd64")
ARM64 = pb.Platform(os="linux", architecture="arm64")


@dataclass(frozen=True)
class Served:
    """An index as the registry serves it (read back by skopeo) and what it was built from."""

    reference: str
    digest: str
    children: dict[str, str]  # role -> digest of each manifest it (or a nested index) lists

    @property
    def pinned(self) -> str:
        return f"{self.reference.rsplit(':', 1)[0]}@{self.digest}"


@dataclass(frozen=True)
class Content:
    amd64_only: PushedImage
    warm: PushedImage  # resolved by one test only, so its first call is cold
    arm64_only: PushedImage
    buildx: Served  # amd64 + arm64 images, each with a BuildKit provenance attestation
    nested: Served  # [amd64 image, index [arm64 image]]
    empty: Served  # an index with no manifests


@dataclass
class Setup:
    server: RunningServer
    registry: RunningRegistry
    metrics_port: int

    def registry_requests(self) -> float:
        """How many requests the server has sent to the test registry so far."""
        text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        return sum(
            sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name == "imagepin_registry_requests_total"
            and sample.labels.get("registry") == self.registry.host
        )


def _push_index(
    registry: RunningRegistry, layout: OciLayout, index: IndexBlob, repository: str, tag: str
) -> str:
    """Push a tagged index of the layout with skopeo; it must come back byte for byte."""
    pushed = skopeo.copy_to_registry(layout.root, tag, registry, repository, tag)
    reference = f"{registry.host}/{repository}:{tag}"
    assert pushed == index.digest
    assert skopeo.inspect_raw(reference, registry=registry) == index.raw
    return reference


@pytest.fixture(scope="module")
def content(plain_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory) -> Content:
    registry = plain_registry
    layout = OciLayout(tmp_path_factory.mktemp("platform-layout"))

    def single(name: str, platform: Platform = LINUX_AMD64) -> PushedImage:
        built = layout.write_image(small_image_spec(name, platform=platform), name)
        return push_layout(registry, built, f"platforms/{name}", "1")

    amd64_only, warm = single("amd64-only"), single("warm")
    arm64_only = single("arm64-only", LINUX_ARM64_V8)

    amd = layout.write_image(small_image_spec("buildx", platform=LINUX_AMD64), None)
    arm = layout.write_image(small_image_spec("buildx", platform=LINUX_ARM64_V8), None)
    att_amd, att_arm = layout.write_attestation(amd), layout.write_attestation(arm)
    buildx = layout.write_index_of([amd.descriptor(), arm.descriptor(), att_amd, att_arm], "buildx")
    buildx_ref = _push_index(registry, layout, buildx, "platforms/buildx", "buildx")

    # skopeo 1.9 copies no index of indexes: push every part with it, then PUT the outer index.
    n_amd = layout.write_image(small_image_spec("nested", platform=LINUX_AMD64), "nested-amd64")
    n_arm = layout.write_image(small_image_spec("nested", platform=LINUX_ARM64_V8), None)
    inner = layout.write_index_of([n_arm.descriptor()], "nested-inner")
    _push_index(registry, layout, inner, "platforms/nested", "nested-inner")
    skopeo.copy_to_registry(layout.root, "nested-amd64", registry, "platforms/nested", "amd64")
    outer = layout.write_index_of([n_amd.descriptor(), inner.descriptor()], None)
    stored = put_manifest(registry, "platforms/nested", "1", outer.raw, outer.media_type)
    nested_ref = f"{registry.host}/platforms/nested:1"
    assert stored == outer.digest
    assert skopeo.inspect_raw(nested_ref, registry=registry) == outer.raw

    empty = layout.write_index_of([], "empty")
    empty_ref = _push_index(registry, layout, empty, "platforms/empty", "empty")
    return Content(
        amd64_only=amd64_only,
        warm=warm,
        arm64_only=arm64_only,
        buildx=Served(
            buildx_ref,
            buildx.digest,
            {
                "amd64": amd.manifest_digest,
                "arm64": arm.manifest_digest,
                "att-amd64": att_amd["digest"],
                "att-arm64": att_arm["digest"],
            },
        ),
        nested=Served(
            nested_ref,
            outer.digest,
            {"amd64": n_amd.manifest_digest, "inner": inner.digest, "arm64": n_arm.manifest_digest},
        ),
        empty=Served(empty_ref, empty.digest, {}),
    )


@pytest.fixture(scope="module")
def setup(
    plain_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Setup]:
    """A server of its own (metrics on, background indexing off, so no request is unseen)."""
    metrics_port = free_port()
    server = start_server(
        tmp_path_factory.mktemp("platform-server"),
        env={
            "IMAGEPIN_METRICS_LISTEN": f"127.0.0.1:{metrics_port}",
            "IMAGEPIN_INDEX_LAYERS": "false",
        },
    )
    try:
        yield Setup(server, plain_registry, metrics_port)
    finally:
        stop_server(server)


def _resolve(
    setup: Setup, reference: str, platform: pb.Platform | None = None
) -> pb.ResolveReferenceResponse:
    request = pb.ResolveReferenceRequest(
        reference=reference, platform=platform, include_children=True
    )
    answer: pb.ResolveReferenceResponse = setup.server.stub.ResolveReference(request, timeout=10)
    return answer


def _get_manifest(
    setup: Setup, reference: str, platform: pb.Platform | None = None
) -> pb.GetManifestResponse:
    request = pb.GetManifestRequest(reference=reference, platform=platform)
    answer: pb.GetManifestResponse = setup.server.stub.GetManifest(request, timeout=10)
    return answer


def _refused(call: Callable[[], object]) -> tuple[str, str]:
    """Run a call that must fail NOT_FOUND; its ErrorInfo reason and message."""
    with pytest.raises(grpc.RpcError) as caught:
        call()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND, caught.value.details()
    return error_info(caught.value).reason, caught.value.details() or ""


def _offered(message: str) -> str:
    """The part of a PLATFORM_NOT_FOUND message that lists what the index has."""
    assert "(it has: " in message, message
    return message.split("(it has: ", 1)[1]


# --- a single-platform image -------------------------------------------------------------------


RPCS: dict[str, Callable[[Setup, str, pb.Platform], object]] = {
    "resolve": lambda s, ref, p: _resolve(s, ref, p),
    "get_manifest": lambda s, ref, p: _get_manifest(s, ref, p),
    "list_layers": lambda s, ref, p: s.server.stub.ListLayers(
        pb.ListLayersRequest(reference=ref, platform=p), timeout=10
    ),
    "verify": lambda s, ref, p: s.server.stub.VerifyDigest(
        pb.VerifyDigestRequest(reference=ref, platform=p), timeout=10
    ),
    "verify_layers": lambda s, ref, p: s.server.stub.VerifyDigest(
        pb.VerifyDigestRequest(reference=ref, platform=p, include_layers=True), timeout=10
    ),
}


@pytest.mark.parametrize("rpc", sorted(RPCS))
def test_single_image_asked_for_another_platform_is_not_found(
    setup: Setup, content: Content, rpc: str
) -> None:
    image = content.amd64_only
    reference = image.pinned_reference if rpc.startswith("verify") else image.reference
    reason, message = _refused(lambda: RPCS[rpc](setup, reference, ARM64))
    assert reason == "PLATFORM_NOT_FOUND"
    assert "is a single-platform image for linux/amd64, not linux/arm64" in message


def test_batch_item_for_another_platform_is_not_found(setup: Setup, content: Content) -> None:
    image = content.amd64_only
    request = pb.BatchResolveReferencesRequest(
        requests=[
            pb.ResolveReferenceRequest(reference=image.reference, platform=ARM64),
            pb.ResolveReferenceRequest(reference=image.reference, platform=AMD64),
        ]
    )
    refused, answered = setup.server.stub.BatchResolveReferences(request, timeout=10).results
    assert refused.error.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert "is a single-platform image for linux/amd64, not linux/arm64" in refused.error.message
    info = error_details_pb2.ErrorInfo()
    assert any(detail.Unpack(info) for detail in refused.error.details)
    assert info.reason == "PLATFORM_NOT_FOUND"
    assert answered.resolution.digest == image.digest


def test_single_image_asked_for_its_platform_and_a_warm_repeat_asks_nothing(
    setup: Setup, content: Content
) -> None:
    image = content.warm
    before = setup.registry_requests()
    answer = _resolve(setup, image.reference, AMD64)
    assert answer.digest == image.digest
    assert not answer.HasField("selected")
    cold = setup.registry_requests()
    assert cold > before  # the counter sees this registry: the tag, manifest and config

    assert _resolve(setup, image.reference, AMD64).digest == image.digest
    view = _get_manifest(setup, image.reference, pb.Platform(os="linux", architecture="x86_64"))
    assert view.digest == image.digest
    assert view.image_config.architecture == "amd64"
    assert setup.registry_requests() == cold


def test_single_arm64_image_answers_every_spelling(setup: Setup, content: Content) -> None:
    image = content.arm64_only
    for platform in (
        ARM64,
        pb.Platform(os="linux", architecture="aarch64"),
        pb.Platform(os="linux", architecture="arm64", variant="v8"),
    ):
        assert _resolve(setup, image.reference, platform).digest == image.digest
    reason, message = _refused(lambda: _resolve(setup, image.reference, AMD64))
    assert reason == "PLATFORM_NOT_FOUND"
    assert "for linux/arm64/v8, not linux/amd64" in message


# --- a buildx-style index with attestations ----------------------------------------------------

BUILDX_KINDS = [
    pb.MANIFEST_KIND_IMAGE,
    pb.MANIFEST_KIND_IMAGE,
    pb.MANIFEST_KIND_ATTESTATION,
    pb.MANIFEST_KIND_ATTESTATION,
]


def test_buildx_index_children_say_what_they_are(setup: Setup, content: Content) -> None:
    index = content.buildx
    answer = _resolve(setup, index.reference)
    assert answer.digest == index.digest
    assert [child.kind for child in answer.manifests] == BUILDX_KINDS
    assert [child.digest for child in answer.manifests] == list(index.children.values())
    view = _get_manifest(setup, index.reference)
    assert view.is_index
    assert [child.kind for child in view.manifests] == BUILDX_KINDS


def test_buildx_index_platform_is_an_image(setup: Setup, content: Content) -> None:
    index = content.buildx
    answer = _resolve(setup, index.reference, ARM64)
    assert answer.digest == index.children["arm64"]
    assert answer.resolved_digest == index.digest
    assert answer.selected.kind == pb.MANIFEST_KIND_IMAGE
    assert _get_manifest(setup, index.reference, ARM64).index_digest == index.digest


@pytest.mark.parametrize("rpc", ["resolve", "get_manifest", "list_layers", "verify_layers"])
def test_platform_only_an_attestation_has_is_not_found(
    setup: Setup, content: Content, rpc: str
) -> None:
    unknown = pb.Platform(os="unknown", architecture="unknown")
    index = content.buildx
    reference = index.pinned if rpc.startswith("verify") else index.reference
    reason, message = _refused(lambda: RPCS[rpc](setup, reference, unknown))
    assert reason == "PLATFORM_NOT_FOUND"
    offered = _offered(message)
    assert "linux/amd64" in offered
    assert "linux/arm64/v8" in offered
    assert "unknown" not in offered


# --- a nested index ----------------------------------------------------------------------------


def test_nested_index_platform_is_found_inside(setup: Setup, content: Content) -> None:
    index = content.nested
    answer = _resolve(setup, index.reference, ARM64)
    assert answer.digest == index.children["arm64"]
    assert answer.resolved_digest == index.digest
    assert answer.selected.digest == index.children["arm64"]
    assert answer.selected.kind == pb.MANIFEST_KIND_IMAGE
    assert [(c.digest, c.kind) for c in answer.manifests] == [
        (index.children["amd64"], pb.MANIFEST_KIND_IMAGE),
        (index.children["inner"], pb.MANIFEST_KIND_INDEX),
    ]
    view = _get_manifest(setup, index.reference, ARM64)
    assert (view.digest, view.index_digest) == (index.children["arm64"], index.children["inner"])
    layers = setup.server.stub.ListLayers(
        pb.ListLayersRequest(reference=index.reference, platform=ARM64), timeout=10
    )
    assert (layers.digest, layers.index_digest) == (view.digest, index.children["inner"])
    assert [layer.digest for layer in layers.layers] == [layer.digest for layer in view.layers]
    # GetManifest records what it read on the spot: the image belongs to the inner index.
    found = setup.server.stub.ListImagesWithLayer(
        pb.ListImagesWithLayerRequest(digest=view.layers[-1].digest), timeout=10
    )
    (image,) = [i for i in found.images if i.manifest_digest == view.digest]
    assert index.children["inner"] in image.index_digests


def test_nested_index_prefers_its_own_image(setup: Setup, content: Content) -> None:
    index = content.nested
    assert _get_manifest(setup, index.reference, AMD64).index_digest == index.digest
    assert _resolve(setup, index.reference, AMD64).digest == index.children["amd64"]


def test_nested_index_without_the_platform_offers_every_level(
    setup: Setup, content: Content
) -> None:
    s390x = pb.Platform(os="linux", architecture="s390x")
    reason, message = _refused(lambda: _resolve(setup, content.nested.reference, s390x))
    assert reason == "PLATFORM_NOT_FOUND"
    assert _offered(message) == "linux/amd64, linux/arm64/v8)"


def test_nested_index_verifies_down_to_the_image(setup: Setup, content: Content) -> None:
    index = content.nested
    answer = setup.server.stub.VerifyDigest(
        pb.VerifyDigestRequest(reference=index.pinned, platform=ARM64, include_layers=True),
        timeout=10,
    )
    assert answer.verified
    manifests = [blob.digest for blob in answer.blobs if blob.kind == "manifest"]
    assert manifests == [index.children["inner"], index.children["arm64"]]


# --- an empty index ----------------------------------------------------------------------------


def test_empty_index_lists_nothing(setup: Setup, content: Content) -> None:
    answer = _resolve(setup, content.empty.reference)
    assert answer.digest == content.empty.digest
    assert list(answer.manifests) == []


@pytest.mark.parametrize("rpc", ["resolve", "get_manifest", "list_layers", "verify"])
def test_empty_index_has_no_platform(setup: Setup, content: Content, rpc: str) -> None:
    index = content.empty
    reference = index.pinned if rpc.startswith("verify") else index.reference
    reason, message = _refused(lambda: RPCS[rpc](setup, reference, AMD64))
    assert reason == "PLATFORM_NOT_FOUND"
    assert "is an empty index" in message
