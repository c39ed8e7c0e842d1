"""The image fixtures tell the truth: what the catalog records is what the registry serves."""

from __future__ import annotations

import json

import httpx
import pytest

from tests.support import skopeo
from tests.support.image_fixtures import (
    DOCKER_CONFIG,
    DOCKER_LAYER_GZIP,
    DOCKER_MANIFEST_LIST,
    DOCKER_MANIFEST_V2,
    FULL_ACCEPT,
    OCI_INDEX,
    OCI_MANIFEST,
    ImageCatalog,
    PushedImage,
)
from tests.support.oci_layouts import (
    OCI_LAYER_GZIP,
    OCI_LAYER_TAR,
    OCI_LAYER_ZSTD,
    BuiltImage,
    BuiltIndex,
)

ROLES = ("single", "schema2", "index", "manifest_list", "app_a", "app_b", "zstd", "deep")


def _all_images(image: PushedImage) -> list[PushedImage]:
    return [image, *image.children]


@pytest.mark.parametrize("role", ROLES)
def test_skopeo_reports_recorded_digest(pushed_images: ImageCatalog, role: str) -> None:
    image = pushed_images.entries()[role]
    for ref in (image.reference, image.pinned_reference):
        assert skopeo.inspect(ref)["Digest"] == image.digest
        assert skopeo.inspect_raw(ref) == image.raw_manifest


@pytest.mark.parametrize("role", ROLES)
def test_registry_serves_recorded_digest(pushed_images: ImageCatalog, role: str) -> None:
    image = pushed_images.entries()[role]
    base = pushed_images.registry.url
    with httpx.Client(base_url=base, timeout=5.0) as client:
        for item in _all_images(image):
            ref = item.tag if item.tag is not None else item.digest
            for method in ("GET", "HEAD"):
                response = client.request(
                    method,
                    f"/v2/{item.repository}/manifests/{ref}",
                    headers={"Accept": FULL_ACCEPT},
                )
                assert response.status_code == 200, response.text
                assert response.headers["Docker-Content-Digest"] == item.digest
                assert response.headers["Content-Type"] == item.media_type
                if method == "GET":
                    assert response.content == item.raw_manifest


@pytest.mark.parametrize("role", ROLES)
def test_layers_match_config(pushed_images: ImageCatalog, role: str) -> None:
    image = pushed_images.entries()[role]
    images = image.children if image.is_index else (image,)
    assert images
    for item in images:
        config = json.loads(skopeo.inspect_config(item.pinned_reference))
        assert config["rootfs"] == {"type": "layers", "diff_ids": list(item.diff_ids)}
        assert [layer.digest for layer in item.layers] == [
            layer["digest"] for layer in item.manifest_json["layers"]
        ]
        assert item.inspect["Layers"] == list(item.layer_digests)
        assert config["architecture"] == item.platform.architecture  # type: ignore[union-attr]
        non_empty = [h for h in config["history"] if not h.get("empty_layer")]
        assert len(non_empty) == len(item.layers)


def test_media_types(pushed_images: ImageCatalog) -> None:
    cat = pushed_images
    assert cat.single.media_type == OCI_MANIFEST
    assert [layer.media_type for layer in cat.single.layers] == [
        OCI_LAYER_GZIP,
        OCI_LAYER_GZIP,
        OCI_LAYER_TAR,
    ]
    assert cat.schema2.media_type == DOCKER_MANIFEST_V2
    assert {layer.media_type for layer in cat.schema2.layers} == {DOCKER_LAYER_GZIP}
    assert cat.index.media_type == OCI_INDEX
    assert {child.media_type for child in cat.index.children} == {OCI_MANIFEST}
    assert cat.manifest_list.media_type == DOCKER_MANIFEST_LIST
    assert {child.media_type for child in cat.manifest_list.children} == {DOCKER_MANIFEST_V2}
    assert [layer.media_type for layer in cat.zstd.layers] == [OCI_LAYER_ZSTD, OCI_LAYER_GZIP]


def test_platforms(pushed_images: ImageCatalog) -> None:
    expected = ["linux/amd64", "linux/arm64/v8", "linux/arm/v7"]
    for image in (pushed_images.index, pushed_images.manifest_list):
        assert [str(child.platform) for child in image.children] == expected
        arm = image.child("linux/arm/v7")
        assert arm.config_json["architecture"] == "arm"
        assert arm.config_json["variant"] == "v7"


def test_oci_pushes_are_byte_identical(pushed_images: ImageCatalog) -> None:
    for role in ("single", "index", "app_a", "app_b", "zstd", "deep"):
        image = pushed_images.entries()[role]
        if isinstance(image.built, BuiltIndex):
            assert image.raw_manifest == image.built.index
            assert image.digest == image.built.digest
        else:
            assert isinstance(image.built, BuiltImage)
            assert image.raw_manifest == image.built.manifest
            assert image.digest == image.built.manifest_digest


def test_v2s2_conversion_rewrites_manifests_only(pushed_images: ImageCatalog) -> None:
    converted = [pushed_images.schema2, *pushed_images.manifest_list.children]
    for image in converted:
        built = image.built
        assert isinstance(built, BuiltImage)
        assert image.digest != built.manifest_digest
        assert image.layer_digests == tuple(layer.digest for layer in built.layers)
        assert image.diff_ids == built.diff_ids
        # skopeo 1.9 keeps the config blob as-is and only relabels its media type.
        assert image.config == built.config
        assert image.manifest_json["config"]["mediaType"] == DOCKER_CONFIG
    built_index = pushed_images.manifest_list.built
    assert isinstance(built_index, BuiltIndex)
    assert pushed_images.manifest_list.digest != built_index.digest


def test_app_images_share_base_layer(pushed_images: ImageCatalog) -> None:
    a, b = pushed_images.app_a, pushed_images.app_b
    assert a.layers[0] == b.layers[0]
    assert a.layers[1].digest != b.layers[1].digest
    assert a.digest != b.digest


def test_single_image_config(pushed_images: ImageCatalog) -> None:
    config = pushed_images.single.config_json
    runtime = config["config"]
    assert runtime["User"] == "1000:1000"
    assert runtime["StopSignal"] == "SIGQUIT"
    assert runtime["ExposedPorts"] == {"8080/tcp": {}, "53/udp": {}}
    assert config["author"].startswith("imagepin tests")
    empty = [h["created_by"].split()[0] for h in config["history"] if h.get("empty_layer")]
    assert {"ENV", "CMD", "LABEL", "EXPOSE"} <= set(empty)
    steps = [bool(h.get("empty_layer")) for h in config["history"]]
    assert steps[0] is False
    assert True in steps[1 : steps.index(False, 1)]  # metadata steps between layer steps


def test_deep_reference(pushed_images: ImageCatalog) -> None:
    deep = pushed_images.deep
    assert deep.repository == "a/b/c/d/e"
    assert deep.tag == "v1.0-rc.1__Build.7"
    assert deep.reference == f"{pushed_images.registry.host}/a/b/c/d/e:v1.0-rc.1__Build.7"
