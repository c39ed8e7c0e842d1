"""Classifying index children and matching platforms: only images are ever chosen or offered."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from imagepin_server import mediatypes
from imagepin_server.core import platforms
from imagepin_server.core.images import (
    Descriptor,
    ImageConfig,
    ImageIndex,
    Platform,
    parse_config,
    parse_manifest,
)
from imagepin_server.core.platforms import ManifestKind
from imagepin_server.errors import PlatformNotFound

# What other tools put in indexes; imagepin only needs to know they are not images.
IN_TOTO_LAYER = "application/vnd.in-toto+json"
HELM_CHART_CONFIG = "application/vnd.cncf.helm.config.v1+json"
SBOM_ARTIFACT = "application/spdx+json"


def digest(seed: str) -> str:
    return "sha256:" + hashlib.sha256(seed.encode()).hexdigest()


def child(
    seed: str,
    platform: dict[str, str] | None = None,
    *,
    media_type: str = mediatypes.OCI_MANIFEST,
    **extra: Any,
) -> dict[str, Any]:
    """An index entry as registries serve it."""
    entry: dict[str, Any] = {"mediaType": media_type, "digest": digest(seed), "size": 100}
    if platform is not None:
        entry["platform"] = platform
    entry.update(extra)
    return entry


def index(*children: dict[str, Any]) -> ImageIndex:
    """Children parsed the way the server parses what it fetched."""
    raw = json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_INDEX, "manifests": children})
    parsed = parse_manifest(raw.encode(), mediatypes.OCI_INDEX)
    assert isinstance(parsed, ImageIndex)
    return parsed


def config(**fields: str) -> ImageConfig:
    return parse_config(
        json.dumps({"rootfs": {"type": "layers", "diff_ids": []}, **fields}).encode()
    )


AMD64 = {"os": "linux", "architecture": "amd64"}
ARM64_V8 = {"os": "linux", "architecture": "arm64", "variant": "v8"}
ARM_V6 = {"os": "linux", "architecture": "arm", "variant": "v6"}
ARM_V7 = {"os": "linux", "architecture": "arm", "variant": "v7"}
UNKNOWN = {"os": "unknown", "architecture": "unknown"}


def attestation(seed: str, subject: str) -> dict[str, Any]:
    """BuildKit's provenance/SBOM manifest entry, as `docker buildx build` pushes it."""
    return child(
        seed,
        UNKNOWN,
        annotations={
            "vnd.docker.reference.digest": digest(subject),
            "vnd.docker.reference.type": "attestation-manifest",
        },
    )


BUILDX = index(
    child("amd64", AMD64),
    child("arm64", ARM64_V8),
    attestation("att-amd64", "amd64"),
    attestation("att-arm64", "arm64"),
)


# --- classification ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        (child("a", AMD64), ManifestKind.IMAGE),
        (child("d", AMD64, media_type=mediatypes.DOCKER_MANIFEST), ManifestKind.IMAGE),
        (child("i", media_type=mediatypes.OCI_INDEX), ManifestKind.INDEX),
        (child("l", media_type=mediatypes.DOCKER_MANIFEST_LIST), ManifestKind.INDEX),
        (attestation("att", "a"), ManifestKind.ATTESTATION),
        # unknown/unknown without the annotation is still not runnable: an attestation
        (child("u", UNKNOWN), ManifestKind.ATTESTATION),
        # the annotation wins even when a builder gave the entry a real platform
        (
            child("x", AMD64, annotations={"vnd.docker.reference.type": "attestation-manifest"}),
            ManifestKind.ATTESTATION,
        ),
        (child("s", AMD64, artifactType=SBOM_ARTIFACT), ManifestKind.ARTIFACT),
        (child("h", AMD64, media_type=HELM_CHART_CONFIG), ManifestKind.ARTIFACT),
        (child("t", AMD64, media_type=IN_TOTO_LAYER), ManifestKind.ARTIFACT),
    ],
)
def test_classify(entry: dict[str, Any], kind: ManifestKind) -> None:
    (descriptor,) = index(entry).manifests
    assert platforms.classify(descriptor) is kind


def test_offered_lists_only_images() -> None:
    assert [str(p) for p in platforms.offered(BUILDX.manifests)] == [
        "linux/amd64",
        "linux/arm64/v8",
    ]


# --- choosing a child ----------------------------------------------------------------------------


def chosen(wanted: Platform, parsed: ImageIndex) -> Descriptor:
    return platforms.choose(wanted, parsed.manifests, reference="r.example/app:1")


@pytest.mark.parametrize(
    ("wanted", "seed"),
    [
        (Platform("linux", "amd64"), "amd64"),
        (Platform("linux", "x86_64"), "amd64"),
        (Platform("linux", "arm64"), "arm64"),
        (Platform("linux", "aarch64"), "arm64"),
        (Platform("linux", "arm64", "v8"), "arm64"),
        (Platform("LINUX", "ARM64", "8"), "arm64"),
    ],
)
def test_choose_spellings(wanted: Platform, seed: str) -> None:
    assert str(chosen(wanted, BUILDX).digest) == digest(seed)


def test_choose_prefers_the_default_variant() -> None:
    parsed = index(child("v6", ARM_V6), child("v7", ARM_V7))
    assert str(chosen(Platform("linux", "arm"), parsed).digest) == digest("v7")
    assert str(chosen(Platform("linux", "arm", "v6"), parsed).digest) == digest("v6")


def test_attestation_is_never_chosen_nor_offered() -> None:
    with pytest.raises(PlatformNotFound) as caught:
        chosen(Platform("unknown", "unknown"), BUILDX)
    assert "unknown" not in caught.value.message.split("(it has:")[1]
    assert "linux/amd64, linux/arm64/v8" in caught.value.message


def test_artifact_with_a_platform_is_never_chosen() -> None:
    parsed = index(child("sbom", ARM64_V8, artifactType=SBOM_ARTIFACT), child("amd64", AMD64))
    with pytest.raises(PlatformNotFound) as caught:
        chosen(Platform("linux", "arm64"), parsed)
    assert caught.value.message.endswith("(it has: linux/amd64)")


def test_only_attestations_offer_nothing() -> None:
    parsed = index(attestation("att", "gone"))
    with pytest.raises(PlatformNotFound) as caught:
        chosen(Platform("linux", "amd64"), parsed)
    assert "(it has: none)" in caught.value.message


def test_empty_index_is_not_found() -> None:
    with pytest.raises(PlatformNotFound) as caught:
        chosen(Platform("linux", "amd64"), index())
    assert "empty index" in caught.value.message
    assert caught.value.reason == "PLATFORM_NOT_FOUND"


def test_nested_indexes_come_after_images_and_must_match_when_they_say() -> None:
    parsed = index(
        child("inner-any", media_type=mediatypes.OCI_INDEX),
        child("inner-arm", ARM64_V8, media_type=mediatypes.OCI_INDEX),
        child(
            "inner-s390x", {"os": "linux", "architecture": "s390x"}, media_type=mediatypes.OCI_INDEX
        ),
        child("amd64", AMD64),
    )
    found = platforms.candidates(Platform("linux", "amd64"), parsed.manifests)
    assert [str(c.digest) for c in found] == [digest("amd64"), digest("inner-any")]
    found = platforms.candidates(Platform("linux", "arm64"), parsed.manifests)
    assert [str(c.digest) for c in found] == [digest("inner-any"), digest("inner-arm")]


# --- a single image against its config ----------------------------------------------------------


@pytest.mark.parametrize(
    ("built", "wanted"),
    [
        (config(os="linux", architecture="amd64"), Platform("linux", "amd64")),
        (config(os="linux", architecture="amd64"), Platform("linux", "x86_64")),
        (config(os="linux", architecture="arm64", variant="v8"), Platform("linux", "arm64")),
        (config(os="linux", architecture="arm64"), Platform("linux", "arm64", "v8")),
        (config(os="linux", architecture="aarch64"), Platform("linux", "arm64")),
        (config(os="linux", architecture="arm"), Platform("linux", "arm", "v7")),
        (config(architecture="amd64"), Platform("linux", "amd64")),  # old configs omit the os
        (config(), Platform("linux", "s390x")),  # nothing to check against
    ],
)
def test_check_image_accepts(built: ImageConfig, wanted: Platform) -> None:
    platforms.check_image(wanted, built, reference="r.example/app:1")


@pytest.mark.parametrize(
    ("built", "wanted", "says"),
    [
        (config(os="linux", architecture="amd64"), Platform("linux", "arm64"), "linux/amd64"),
        (
            config(os="linux", architecture="arm", variant="v6"),
            Platform("linux", "arm", "v7"),
            "linux/arm/v6",
        ),
        (config(os="windows", architecture="amd64"), Platform("linux", "amd64"), "windows/amd64"),
    ],
)
def test_check_image_refuses(built: ImageConfig, wanted: Platform, says: str) -> None:
    with pytest.raises(PlatformNotFound) as caught:
        platforms.check_image(wanted, built, reference="r.example/app:1")
    assert caught.value.message == (
        f"r.example/app:1 is a single-platform image for {says}, not {wanted}"
    )


def test_artifact_config_is_no_platform() -> None:
    platforms.check_not_artifact(
        Platform("linux", "amd64"), mediatypes.OCI_CONFIG, reference="r.example/app:1"
    )
    with pytest.raises(PlatformNotFound) as caught:
        platforms.check_not_artifact(
            Platform("linux", "amd64"), HELM_CHART_CONFIG, reference="r.example/chart:1"
        )
    assert "artifact" in caught.value.message
