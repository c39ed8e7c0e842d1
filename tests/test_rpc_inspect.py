"""GetManifest and ListLayers: bytes, descriptors and config exactly as skopeo read them."""

from __future__ import annotations

from typing import Any

import grpc
import pytest
from imagepin.v1 import resolver_pb2 as pb

from tests.support.image_fixtures import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST_V2,
    ImageCatalog,
    PushedImage,
)
from tests.support.rpc import error_info, platform_text
from tests.support.server_fixtures import RunningServer

IMAGES = ("single", "schema2", "app_a", "app_b", "zstd", "deep")
INDEXES = ("index", "manifest_list")
ARM64 = pb.Platform(os="linux", architecture="arm64")


def _get_manifest(
    server: RunningServer, reference: str, platform: pb.Platform | None = None
) -> pb.GetManifestResponse:
    """Call GetManifest with a short deadline."""
    request = pb.GetManifestRequest(reference=reference, platform=platform)
    answer: pb.GetManifestResponse = server.stub.GetManifest(request, timeout=10)
    return answer


def _list_layers(
    server: RunningServer, reference: str, platform: pb.Platform | None = None
) -> pb.ListLayersResponse:
    """Call ListLayers with a short deadline."""
    request = pb.ListLayersRequest(reference=reference, platform=platform)
    answer: pb.ListLayersResponse = server.stub.ListLayers(request, timeout=10)
    return answer


def _descriptor(message: pb.Descriptor) -> dict[str, Any]:
    """A descriptor message in the JSON shape a manifest uses (empty fields left out)."""
    out: dict[str, Any] = {
        "mediaType": message.media_type,
        "digest": message.digest,
        "size": message.size,
    }
    if message.annotations:
        out["annotations"] = dict(message.annotations)
    if message.urls:
        out["urls"] = list(message.urls)
    if message.HasField("platform"):
        out["platform"] = {"os": message.platform.os, "architecture": message.platform.architecture}
        if message.platform.variant:
            out["platform"]["variant"] = message.platform.variant
    return out


def _expected_compression(media_type: str) -> int:
    """The Compression a layer media type names."""
    if media_type.endswith("+zstd"):
        return pb.COMPRESSION_ZSTD
    if media_type.endswith(("+gzip", ".tar.gzip")):
        return pb.COMPRESSION_GZIP
    if media_type.endswith(".tar"):
        return pb.COMPRESSION_NONE
    raise AssertionError(f"unexpected layer media type {media_type}")


def _layer_created_by(image: PushedImage) -> list[str]:
    """`created_by` of the history entries that made a layer, in layer order."""
    made = [entry.get("created_by", "") for entry in image.history if not entry.get("empty_layer")]
    assert len(made) == len(image.layers), "catalog history does not line up with its layers"
    return made


def _assert_image_config(config: pb.ImageConfig, image: PushedImage) -> None:
    """Every field of an ImageConfig equals the config JSON skopeo read."""
    document = image.config_json
    container = document.get("config") or {}
    assert config.raw == image.config
    assert config.digest == image.config_digest
    assert config.media_type == image.manifest_json["config"]["mediaType"]
    assert config.architecture == document["architecture"]
    assert config.os == document["os"]
    assert config.variant == document.get("variant", "")
    assert config.created == document.get("created", "")
    assert config.author == document.get("author", "")
    assert list(config.env) == container.get("Env", [])
    assert list(config.cmd) == (container.get("Cmd") or [])
    assert list(config.entrypoint) == (container.get("Entrypoint") or [])
    assert config.user == container.get("User", "")
    assert config.working_dir == container.get("WorkingDir", "")
    assert dict(config.labels) == (container.get("Labels") or {})
    assert list(config.exposed_ports) == sorted(container.get("ExposedPorts") or {})
    assert list(config.volumes) == sorted(container.get("Volumes") or {})
    assert config.stop_signal == container.get("StopSignal", "")
    assert config.rootfs_type == document["rootfs"]["type"]
    assert list(config.diff_ids) == list(image.diff_ids)
    assert [
        (h.created, h.created_by, h.author, h.comment, h.empty_layer) for h in config.history
    ] == [
        (
            h.get("created", ""),
            h.get("created_by", ""),
            h.get("author", ""),
            h.get("comment", ""),
            h.get("empty_layer", False),
        )
        for h in image.history
    ]


def _assert_image_manifest(answer: pb.GetManifestResponse, image: PushedImage) -> None:
    """A GetManifest answer for an image is the image skopeo read, byte for byte."""
    manifest = image.manifest_json
    assert answer.raw_manifest == image.raw_manifest
    assert answer.digest == image.digest
    assert answer.media_type == image.media_type
    assert answer.size == len(image.raw_manifest)
    assert answer.schema_version == manifest["schemaVersion"]
    assert not answer.is_index
    assert list(answer.manifests) == []
    assert dict(answer.annotations) == manifest.get("annotations", {})
    assert _descriptor(answer.config) == manifest["config"]
    assert [_descriptor(layer) for layer in answer.layers] == manifest["layers"]
    assert answer.HasField("image_config")
    _assert_image_config(answer.image_config, image)


# --- GetManifest --------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", IMAGES)
def test_get_manifest_matches_skopeo(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _get_manifest(server, image.reference)

    assert answer.normalized_reference == image.reference
    assert answer.index_digest == ""
    _assert_image_manifest(answer, image)


def test_get_manifest_rich_config(server: RunningServer, pushed_images: ImageCatalog) -> None:
    """The single image sets every config field, so none is compared as empty == empty."""
    config = _get_manifest(server, pushed_images.single.reference).image_config
    for name in ("env", "cmd", "entrypoint", "user", "working_dir", "labels", "stop_signal"):
        assert getattr(config, name), name
    assert config.author
    assert config.created
    assert list(config.exposed_ports) == ["53/udp", "8080/tcp"]
    assert list(config.volumes) == ["/data"]
    assert any(entry.empty_layer for entry in config.history)
    assert any(not entry.empty_layer for entry in config.history)


def test_get_manifest_schema2_has_docker_media_types(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    answer = _get_manifest(server, pushed_images.schema2.reference)
    assert answer.media_type == DOCKER_MANIFEST_V2
    assert answer.config.media_type == DOCKER_CONFIG
    assert answer.image_config.media_type == DOCKER_CONFIG
    assert {layer.media_type for layer in answer.layers} == {DOCKER_LAYER_GZIP}


def test_get_manifest_by_digest(server: RunningServer, pushed_images: ImageCatalog) -> None:
    image = pushed_images.app_b
    answer = _get_manifest(server, image.pinned_reference)
    assert answer.normalized_reference == image.pinned_reference
    _assert_image_manifest(answer, image)


@pytest.mark.parametrize("entry", INDEXES)
def test_get_manifest_index_without_platform(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _get_manifest(server, image.reference)

    assert answer.is_index
    assert answer.raw_manifest == image.raw_manifest
    assert answer.digest == image.digest
    assert answer.media_type == image.media_type
    assert answer.size == len(image.raw_manifest)
    assert [_descriptor(m) for m in answer.manifests] == image.manifest_json["manifests"]
    assert [(m.digest, platform_text(m.platform)) for m in answer.manifests] == [
        (child.digest, str(child.platform)) for child in image.children
    ]
    assert not answer.HasField("image_config")
    assert not answer.HasField("config")
    assert list(answer.layers) == []
    assert answer.index_digest == ""


@pytest.mark.parametrize("entry", INDEXES)
def test_get_manifest_index_with_platform_returns_child(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    child = image.child("linux/arm64/v8")
    answer = _get_manifest(server, image.reference, ARM64)

    assert answer.index_digest == image.digest
    assert answer.normalized_reference == image.reference
    _assert_image_manifest(answer, child)
    assert answer.image_config.architecture == "arm64"


# --- ListLayers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("entry", IMAGES)
def test_list_layers_matches_skopeo(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    answer = _list_layers(server, image.reference)

    assert answer.normalized_reference == image.reference
    assert answer.digest == image.digest
    assert answer.config_digest == image.config_digest
    assert answer.index_digest == ""
    created_by = _layer_created_by(image)
    assert [
        (
            layer.index,
            layer.digest,
            layer.media_type,
            layer.size,
            layer.diff_id,
            layer.created_by,
            layer.compression,
            layer.foreign,
        )
        for layer in answer.layers
    ] == [
        (
            i,
            pushed.digest,
            pushed.media_type,
            pushed.size,
            pushed.diff_id,
            created_by[i],
            _expected_compression(pushed.media_type),
            False,
        )
        for i, pushed in enumerate(image.layers)
    ]


def test_list_layers_compressions(server: RunningServer, pushed_images: ImageCatalog) -> None:
    """The catalog covers every compression; the answers name each one."""
    single = _list_layers(server, pushed_images.single.reference)
    zstd = _list_layers(server, pushed_images.zstd.reference)
    assert [layer.compression for layer in single.layers] == [
        pb.COMPRESSION_GZIP,
        pb.COMPRESSION_GZIP,
        pb.COMPRESSION_NONE,
    ]
    assert [layer.compression for layer in zstd.layers] == [
        pb.COMPRESSION_ZSTD,
        pb.COMPRESSION_GZIP,
    ]


def test_list_layers_skips_empty_history_entries(
    server: RunningServer, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.single
    answer = _list_layers(server, image.reference)
    # The history has empty-layer steps between the layer steps: a naive zip would misalign.
    assert len(image.history) > len(image.layers)
    assert [layer.created_by for layer in answer.layers] == _layer_created_by(image)
    assert answer.layers[1].created_by.startswith("RUN /bin/sh -c apk add")


def test_list_layers_shared_base(server: RunningServer, pushed_images: ImageCatalog) -> None:
    a = _list_layers(server, pushed_images.app_a.reference)
    b = _list_layers(server, pushed_images.app_b.reference)
    assert (a.layers[0].digest, a.layers[0].diff_id) == (b.layers[0].digest, b.layers[0].diff_id)
    assert a.layers[0].digest == pushed_images.app_a.layers[0].digest
    assert a.layers[0].diff_id == pushed_images.app_b.layers[0].diff_id
    assert a.layers[1].digest != b.layers[1].digest
    assert a.digest != b.digest


@pytest.mark.parametrize("entry", INDEXES)
def test_list_layers_index_without_platform_is_invalid(
    server: RunningServer, pushed_images: ImageCatalog, entry: str
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    with pytest.raises(grpc.RpcError) as caught:
        _list_layers(server, image.reference)

    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    message = caught.value.details() or ""
    assert "platform" in message
    for child in image.children:
        assert str(child.platform) in message
    info = error_info(caught.value)
    assert (info.reason, info.domain) == ("INVALID_PLATFORM", "imagepin.dev")


@pytest.mark.parametrize("entry", INDEXES)
@pytest.mark.parametrize(
    ("platform", "child_platform"),
    [
        pytest.param(ARM64, "linux/arm64/v8", id="arm64"),
        pytest.param(pb.Platform(os="linux", architecture="arm"), "linux/arm/v7", id="arm"),
    ],
)
def test_list_layers_index_with_platform(
    server: RunningServer,
    pushed_images: ImageCatalog,
    entry: str,
    platform: pb.Platform,
    child_platform: str,
) -> None:
    image: PushedImage = getattr(pushed_images, entry)
    child = image.child(child_platform)
    answer = _list_layers(server, image.reference, platform)

    assert answer.digest == child.digest
    assert answer.index_digest == image.digest
    assert answer.config_digest == child.config_digest
    assert [(layer.digest, layer.diff_id) for layer in answer.layers] == [
        (layer.digest, layer.diff_id) for layer in child.layers
    ]
    assert [layer.created_by for layer in answer.layers] == _layer_created_by(child)
