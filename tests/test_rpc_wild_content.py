"""Content from the wild, in a real registry: what old clients and partial copies leave behind.

A signed schema 1 manifest (named by its JWS payload, so its bytes never hash to its name), an
index some of whose children were deleted, a config pushed as octet-stream, and an image whose
config blob is gone. Each is made in the registry through its own API, then asked about.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from imagepin.v1 import resolver_pb2 as pb

from tests.support import registry_api
from tests.support.image_fixtures import (
    DOCKER_MANIFEST_V2,
    OCI_MANIFEST,
    PushedImage,
    build_small_image,
    push_layout,
)
from tests.support.oci_layouts import (
    LINUX_AMD64,
    LINUX_ARM64_V8,
    OciLayout,
    dump_json,
    make_layer,
    small_image_spec,
)
from tests.support.registries import RunningRegistry, launch_registry
from tests.support.rpc import error_info, platform_text
from tests.support.schema1 import SIGNED_SCHEMA1, SignedSchema1, sign_schema1
from tests.support.server_fixtures import RunningServer

OCTET_STREAM = "application/octet-stream"
TIMEOUT_S = 15


@pytest.fixture(scope="module")
def old_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A registry that still takes schema 1 pushes (off by default since distribution 2.7)."""
    config = {"compatibility": {"schema1": {"enabled": True}}}
    with launch_registry(tmp_path_factory.mktemp("old-registry"), config_extra=config) as registry:
        yield registry


# --- signed schema 1 ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def signed(old_registry: RunningRegistry) -> tuple[str, SignedSchema1, str]:
    """A signed schema 1 image pushed as `old/app:v1`: (repository, manifest, registry's digest)."""
    repository = "old/app"
    layer = make_layer({"etc/old-release": b"schema 1\n"})
    registry_api.upload_blob(old_registry, repository, layer.data)
    manifest = sign_schema1(repository, "v1", [layer.digest])
    digest = registry_api.put_manifest(old_registry, repository, "v1", manifest.raw, SIGNED_SCHEMA1)
    return repository, manifest, digest


def test_the_registry_names_signed_schema1_by_its_payload(
    old_registry: RunningRegistry, signed: tuple[str, SignedSchema1, str]
) -> None:
    """What the refusals below rest on: the bytes served do not hash to the manifest's name."""
    repository, manifest, digest = signed
    served = httpx.get(f"{old_registry.url}/v2/{repository}/manifests/{digest}", timeout=TIMEOUT_S)
    assert served.status_code == 200
    assert served.headers["content-type"] == SIGNED_SCHEMA1
    assert digest == manifest.payload_digest
    assert registry_api.sha256_digest(served.content) != digest
    assert b'"signatures"' in served.content


def _resolve(server: RunningServer, reference: str, digest: str) -> object:
    return server.stub.ResolveReference(
        pb.ResolveReferenceRequest(reference=reference), timeout=TIMEOUT_S
    )


def _get_manifest(server: RunningServer, reference: str, digest: str) -> object:
    return server.stub.GetManifest(pb.GetManifestRequest(reference=reference), timeout=TIMEOUT_S)


def _list_layers(server: RunningServer, reference: str, digest: str) -> object:
    return server.stub.ListLayers(pb.ListLayersRequest(reference=reference), timeout=TIMEOUT_S)


def _verify(server: RunningServer, reference: str, digest: str) -> object:
    request = pb.VerifyDigestRequest(reference=reference, expected_digest=digest)
    return server.stub.VerifyDigest(request, timeout=TIMEOUT_S)


def _verify_layers(server: RunningServer, reference: str, digest: str) -> object:
    request = pb.VerifyDigestRequest(
        reference=reference, expected_digest=digest, include_layers=True
    )
    return server.stub.VerifyDigest(request, timeout=TIMEOUT_S)


CALLS: dict[str, Callable[[RunningServer, str, str], object]] = {
    "resolve": _resolve,
    "get_manifest": _get_manifest,
    "list_layers": _list_layers,
    "verify": _verify,
    "verify_layers": _verify_layers,
}


@pytest.mark.parametrize("by", ["digest", "tag"])
@pytest.mark.parametrize("call", list(CALLS))
def test_signed_schema1_is_unsupported_content_never_data_loss(
    server: RunningServer,
    old_registry: RunningRegistry,
    signed: tuple[str, SignedSchema1, str],
    call: str,
    by: str,
) -> None:
    repository, _, digest = signed
    name = f"{old_registry.host}/{repository}"
    reference = f"{name}@{digest}" if by == "digest" else f"{name}:v1"
    with pytest.raises(grpc.RpcError) as caught:
        CALLS[call](server, reference, digest)

    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION, caught.value.details()
    assert error_info(caught.value).reason == "UNSUPPORTED_CONTENT"
    assert "schema 1" in (caught.value.details() or "")


# --- an index with children missing -------------------------------------------------------------


@pytest.fixture(scope="module")
def partial_index(
    plain_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PushedImage, PushedImage, PushedImage]:
    """An index pushed whole, then its arm64 child deleted: (index, present, deleted)."""
    layout = OciLayout(tmp_path_factory.mktemp("partial-index"))
    specs = [
        small_image_spec("partial", platform=LINUX_AMD64),
        small_image_spec("partial", platform=LINUX_ARM64_V8),
    ]
    index = push_layout(plain_registry, layout.write_index(specs, "partial"), "wild/partial", "1")
    present, deleted = index.child("linux/amd64"), index.child("linux/arm64/v8")
    registry_api.delete_manifest(plain_registry, "wild/partial", deleted.digest)
    return index, present, deleted


def _blobs_of(image: PushedImage) -> list[tuple[str, str]]:
    assert image.config_digest is not None
    return [
        ("manifest", image.digest),
        ("config", image.config_digest),
        *(("layer", digest) for digest in image.layer_digests),
    ]


def test_verify_layers_of_a_partial_index_answers_per_child(
    server: RunningServer, partial_index: tuple[PushedImage, PushedImage, PushedImage]
) -> None:
    index, present, deleted = partial_index
    answer = server.stub.VerifyDigest(
        pb.VerifyDigestRequest(reference=index.pinned_reference, include_layers=True),
        timeout=TIMEOUT_S,
    )

    assert not answer.verified
    assert answer.actual_digest == index.digest  # the index itself is intact
    assert [(b.kind, b.digest) for b in answer.blobs] == [
        *_blobs_of(present),
        ("manifest", deleted.digest),
    ]
    *kept, gone = answer.blobs
    assert all(blob.verified and not blob.error for blob in kept)
    assert platform_text(kept[0].platform) == "linux/amd64"
    assert not gone.verified
    assert gone.actual_digest == ""
    assert deleted.digest in gone.error
    assert platform_text(gone.platform) == "linux/arm64/v8"


def test_verify_layers_of_the_present_platform_of_a_partial_index(
    server: RunningServer, partial_index: tuple[PushedImage, PushedImage, PushedImage]
) -> None:
    index, present, _ = partial_index
    answer = server.stub.VerifyDigest(
        pb.VerifyDigestRequest(
            reference=index.pinned_reference,
            include_layers=True,
            platform=pb.Platform(os="linux", architecture="amd64"),
        ),
        timeout=TIMEOUT_S,
    )
    assert answer.verified
    assert [(b.kind, b.digest) for b in answer.blobs] == _blobs_of(present)


# --- configs pushed as octet-stream -------------------------------------------------------------


def _push_image(
    registry: RunningRegistry,
    repository: str,
    tag: str,
    media_type: str,
    config: bytes,
    config_type: str,
    layer_files: dict[str, bytes],
) -> tuple[str, bytes, list[str]]:
    """Upload a layer and a config, PUT a manifest naming them: (digest, manifest, layers)."""
    layer = make_layer(layer_files)
    registry_api.upload_blob(registry, repository, layer.data)
    config_digest = registry_api.upload_blob(registry, repository, config)
    manifest = dump_json(
        {
            "schemaVersion": 2,
            "mediaType": media_type,
            "config": {"mediaType": config_type, "digest": config_digest, "size": len(config)},
            "layers": [{"mediaType": layer.media_type, "digest": layer.digest, "size": layer.size}],
        }
    )
    digest = registry_api.put_manifest(registry, repository, tag, manifest, media_type)
    assert digest == registry_api.sha256_digest(manifest)
    return digest, manifest, [layer.diff_id]


def test_an_octet_stream_config_is_read_as_the_image_config(
    server: RunningServer, plain_registry: RunningRegistry
) -> None:
    spec = small_image_spec("octet")
    config = dump_json(spec.config_dict())
    files = {"etc/octet/release": b"octet for linux/amd64\n"}
    digest, manifest, diff_ids = _push_image(
        plain_registry, "wild/octet", "1", DOCKER_MANIFEST_V2, config, OCTET_STREAM, files
    )
    assert diff_ids == [layer.diff_id for layer in spec.layers]  # the config lists this layer
    reference = f"{plain_registry.host}/wild/octet:1"

    shown = server.stub.GetManifest(pb.GetManifestRequest(reference=reference), timeout=TIMEOUT_S)
    assert shown.digest == digest
    assert shown.raw_manifest == manifest
    assert shown.config.media_type == OCTET_STREAM
    assert shown.HasField("image_config")
    assert not shown.config_missing
    assert shown.image_config.raw == config
    assert shown.image_config.media_type == OCTET_STREAM
    assert (shown.image_config.os, shown.image_config.architecture) == ("linux", "amd64")
    assert dict(shown.image_config.labels) == {"org.example.name": "octet"}
    assert list(shown.image_config.diff_ids) == diff_ids

    layers = server.stub.ListLayers(pb.ListLayersRequest(reference=reference), timeout=TIMEOUT_S)
    assert [layer.diff_id for layer in layers.layers] == diff_ids
    assert [layer.created_by for layer in layers.layers] == [
        step.created_by for step in spec.steps if not step.empty_layer
    ]


def test_an_octet_stream_config_that_is_no_image_config_is_left_out(
    server: RunningServer, plain_registry: RunningRegistry
) -> None:
    """An artifact's octet-stream config blob is not an error, and not shown as an image's."""
    config = json.dumps({"kind": "sbom", "format": "spdx"}).encode()
    files = {"sbom.json": b"{}"}
    digest, _, _ = _push_image(
        plain_registry, "wild/artifact", "1", OCI_MANIFEST, config, OCTET_STREAM, files
    )
    shown = server.stub.GetManifest(
        pb.GetManifestRequest(reference=f"{plain_registry.host}/wild/artifact:1"),
        timeout=TIMEOUT_S,
    )
    assert shown.digest == digest
    assert shown.config.media_type == OCTET_STREAM
    assert not shown.HasField("image_config")
    assert not shown.config_missing


# --- a config blob that is gone -----------------------------------------------------------------


@pytest.fixture(scope="module")
def configless(
    plain_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> PushedImage:
    """An image pushed whole, then its config blob deleted from its repository."""
    built = build_small_image(tmp_path_factory.mktemp("configless"), "configless")
    image = push_layout(plain_registry, built, "wild/configless", "1")
    assert image.config_digest is not None
    registry_api.delete_blob(plain_registry, "wild/configless", image.config_digest)
    gone = httpx.get(
        f"{plain_registry.url}/v2/wild/configless/blobs/{image.config_digest}", timeout=TIMEOUT_S
    )
    assert gone.status_code == 404
    return image


def test_get_manifest_of_an_image_whose_config_is_gone(
    server: RunningServer, configless: PushedImage
) -> None:
    shown = server.stub.GetManifest(
        pb.GetManifestRequest(reference=configless.reference), timeout=TIMEOUT_S
    )
    assert shown.config_missing
    assert not shown.HasField("image_config")
    assert shown.digest == configless.digest
    assert shown.raw_manifest == configless.raw_manifest
    assert shown.config.digest == configless.config_digest
    assert shown.config.media_type == configless.manifest_json["config"]["mediaType"]
    assert [layer.digest for layer in shown.layers] == list(configless.layer_digests)


def test_list_layers_of_an_image_whose_config_is_gone_is_not_found(
    server: RunningServer, configless: PushedImage
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        server.stub.ListLayers(
            pb.ListLayersRequest(reference=configless.reference), timeout=TIMEOUT_S
        )
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert error_info(caught.value).reason == "BLOB_NOT_FOUND"
    assert str(configless.config_digest) in (caught.value.details() or "")


def test_get_manifest_with_the_config_present_says_it_is_not_missing(
    server: RunningServer, plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    """The flag is the registry's answer, not a default: an intact image has it false."""
    image = push_layout(
        plain_registry, build_small_image(tmp_path, "config-kept"), "wild/config-kept", "1"
    )
    shown = server.stub.GetManifest(
        pb.GetManifestRequest(reference=image.reference), timeout=TIMEOUT_S
    )
    assert not shown.config_missing
    assert shown.image_config.raw == image.config
    assert shown.config.media_type == image.manifest_json["config"]["mediaType"]
