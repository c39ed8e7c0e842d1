"""VerifyDigest: manifests and, with include_layers, every blob below them, hashed for real."""

from __future__ import annotations

import hashlib
from pathlib import Path

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb

from tests.support.image_fixtures import (
    ImageCatalog,
    PushedImage,
    build_small_image,
    push_layout,
)
from tests.support.registries import RunningRegistry
from tests.support.rpc import error_info, platform_text
from tests.support.server_fixtures import RunningServer

WRONG_DIGEST = "sha256:" + "0" * 64
ARM64 = pb.Platform(os="linux", architecture="arm64")


def _verify(
    server: RunningServer,
    reference: str,
    expected_digest: str = "",
    *,
    include_layers: bool = False,
    platform: pb.Platform | None = None,
) -> pb.VerifyDigestResponse:
    """Call VerifyDigest with a short deadline."""
    request = pb.VerifyDigestRequest(
        reference=reference,
        expected_digest=expected_digest,
        include_layers=include_layers,
        platform=platform,
    )
    answer: pb.VerifyDigestResponse = server.stub.VerifyDigest(request, timeout=10)
    return answer


def _expected_image_blobs(image: PushedImage) -> list[tuple[str, str, str, int]]:
    """(kind, digest, media type, size) of an image's config and layers, as skopeo read them."""
    assert image.config_digest is not None
    manifest = image.manifest_json
    blobs = [("config", image.config_digest, manifest["config"]["mediaType"], len(image.config))]
    blobs.extend(("layer", layer.digest, layer.media_type, layer.size) for layer in image.layers)
    return blobs


def _expected_child_blobs(child: PushedImage) -> list[tuple[str, str, str, int]]:
    """The child manifest of an index, then its config and layers."""
    manifest = ("manifest", child.digest, child.media_type, len(child.raw_manifest))
    return [manifest, *_expected_image_blobs(child)]


def _shown(blobs: list[pb.BlobVerification]) -> list[tuple[str, str, str, int]]:
    return [(b.kind, b.digest, b.media_type, b.size) for b in blobs]


def _assert_all_verified(blobs: list[pb.BlobVerification]) -> None:
    for blob in blobs:
        assert blob.verified, blob
        assert blob.actual_digest == blob.digest
        assert blob.actual_size == blob.size
        assert blob.error == ""
        assert not blob.skipped


def _blob_path(registry: RunningRegistry, digest: str) -> Path:
    """Where the filesystem storage driver keeps a blob's bytes."""
    hex_digest = digest.removeprefix("sha256:")
    return registry.root / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"


# --- manifests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["single", "schema2", "index", "manifest_list"])
def test_verify_tag_with_right_digest(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _verify(server, image.reference, image.digest)

    assert answer.verified
    assert answer.normalized_reference == image.reference
    assert answer.expected_digest == image.digest
    assert answer.actual_digest == image.digest
    assert answer.media_type == image.media_type
    assert list(answer.blobs) == []


def test_verify_tag_with_wrong_digest_is_an_answer(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    answer = _verify(server, image.reference, WRONG_DIGEST)

    assert not answer.verified
    assert answer.expected_digest == WRONG_DIGEST
    assert answer.actual_digest == image.digest


@pytest.mark.parametrize("entry", ["single", "index"])
def test_verify_digest_reference_alone(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _verify(server, image.pinned_reference)

    assert answer.verified
    assert answer.expected_digest == image.digest
    assert answer.actual_digest == image.digest
    assert answer.normalized_reference == image.pinned_reference


def test_verify_digest_reference_with_same_expected_digest(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.app_a
    answer = _verify(server, f"{image.reference}@{image.digest}", image.digest)
    assert answer.verified
    assert answer.actual_digest == image.digest


def test_verify_conflicting_digests_is_invalid(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    with pytest.raises(grpc.RpcError) as caught:
        _verify(server, image.pinned_reference, WRONG_DIGEST)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    message = caught.value.details() or ""
    assert image.digest in message
    assert WRONG_DIGEST in message
    info = error_info(caught.value)
    assert (info.reason, info.domain) == ("CONFLICTING_DIGESTS", "imagepin.dev")


def test_verify_without_any_digest_is_invalid(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _verify(server, pushed_images.single.reference)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected_digest" in (caught.value.details() or "")
    info = error_info(caught.value)
    assert (info.reason, info.domain) == ("INVALID_DIGEST", "imagepin.dev")


def test_verify_malformed_expected_digest_is_invalid(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _verify(server, pushed_images.single.reference, "sha256:abc")

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "expected_digest" in (caught.value.details() or "")
    assert error_info(caught.value).reason == "INVALID_DIGEST"


# --- include_layers -----------------------------------------------------------------------------


@pytest.mark.parametrize("entry", ["single", "zstd", "schema2"])
def test_verify_include_layers_on_image(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _verify(server, image.reference, image.digest, include_layers=True)

    assert answer.verified
    assert _shown(list(answer.blobs)) == _expected_image_blobs(image)
    _assert_all_verified(list(answer.blobs))
    assert not any(blob.HasField("platform") for blob in answer.blobs)


@pytest.mark.parametrize("entry", ["index", "manifest_list"])
def test_verify_include_layers_on_index(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _verify(server, image.pinned_reference, include_layers=True)

    assert answer.verified
    expected = [blob for child in image.children for blob in _expected_child_blobs(child)]
    assert _shown(list(answer.blobs)) == expected
    _assert_all_verified(list(answer.blobs))
    manifests = [blob for blob in answer.blobs if blob.kind == "manifest"]
    assert [platform_text(blob.platform) for blob in manifests] == [
        str(child.platform) for child in image.children
    ]


def test_verify_include_layers_with_platform_checks_one_child(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.index
    child = image.child("linux/arm64/v8")
    answer = _verify(server, image.reference, image.digest, include_layers=True, platform=ARM64)

    assert answer.verified
    assert answer.actual_digest == image.digest
    assert _shown(list(answer.blobs)) == _expected_child_blobs(child)
    _assert_all_verified(list(answer.blobs))
    assert platform_text(answer.blobs[0].platform) == "linux/arm64/v8"


def test_verify_tampered_layer(
    server: RunningServer, plain_registry: RunningRegistry, tmp_path: Path
) -> None:
    # An image of its own with a layer no other image shares, so corrupting it harms nothing else.
    built = build_small_image(tmp_path, "rpc-verify-tampered")
    image = push_layout(plain_registry, built, "rpc-tests/tampered", "1.0")
    layer = image.layers[-1]
    path = _blob_path(plain_registry, layer.digest)
    original = path.read_bytes()
    assert hashlib.sha256(original).hexdigest() == layer.digest.removeprefix("sha256:")
    corrupted = bytearray(original)
    corrupted[len(corrupted) // 2] ^= 0xFF
    path.write_bytes(bytes(corrupted))
    try:
        answer = _verify(server, image.reference, image.digest, include_layers=True)
    finally:
        path.write_bytes(original)

    assert not answer.verified
    assert answer.actual_digest == image.digest  # the manifest itself is intact
    by_digest = {blob.digest: blob for blob in answer.blobs}
    assert set(by_digest) == {image.config_digest, *image.layer_digests}
    bad = by_digest[layer.digest]
    assert bad.kind == "layer"
    assert not bad.verified
    assert bad.actual_digest == f"sha256:{hashlib.sha256(bytes(corrupted)).hexdigest()}"
    assert bad.actual_digest != layer.digest
    assert bad.actual_size == layer.size
    assert bad.error
    others = [blob for blob in answer.blobs if blob.digest != layer.digest]
    _assert_all_verified(others)
