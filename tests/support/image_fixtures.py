"""Session fixtures: a plain-HTTP registry and a catalog of images pushed to it with skopeo.

Images are built as OCI layouts (tests/support/oci_layouts.py) and pushed by the real skopeo, then
everything recorded in the catalog (digest, manifest bytes, layers, config, history) is read back
from the registry through skopeo, so tests compare the service against what a registry really
serves rather than against what we meant to push.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

from tests.support import skopeo
from tests.support.oci_layouts import (
    LINUX_AMD64,
    LINUX_ARM64_V8,
    LINUX_ARM_V7,
    BuiltImage,
    BuiltIndex,
    Compression,
    ImageSpec,
    OciLayout,
    Platform,
    RuntimeConfig,
    empty_step,
    layer_step,
    make_layer,
    sha256_digest,
    simple_steps,
    small_image_spec,
)
from tests.support.registries import RunningRegistry, launch_registry

DOCKER_MANIFEST_V2 = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER_GZIP = "application/vnd.docker.image.rootfs.diff.tar.gzip"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
INDEX_MEDIA_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
# What a client that understands every current manifest type sends.
FULL_ACCEPT = ", ".join((OCI_INDEX, DOCKER_MANIFEST_LIST, OCI_MANIFEST, DOCKER_MANIFEST_V2))


@dataclass(frozen=True)
class PushedLayer:
    """One layer as the registry serves it (manifest descriptor + the config's diff_id)."""

    digest: str
    diff_id: str
    media_type: str
    size: int


@dataclass(frozen=True)
class PushedImage:
    """An image (or index/list) in a registry, as skopeo reads it back after the push.

    For an index/list, `layers`/`config` are empty and `children` holds one PushedImage per
    platform (their `tag` is None and `reference` is the digest reference).
    """

    registry: str  # "127.0.0.1:PORT"
    repository: str  # "library/alpine"
    tag: str | None
    reference: str  # "127.0.0.1:PORT/library/alpine:3.19" (by digest for index children)
    digest: str  # what the registry serves for the reference: sha256 of raw_manifest
    media_type: str
    raw_manifest: bytes
    inspect: dict[str, Any]  # `skopeo inspect` output (for an index: the host-platform child)
    built: BuiltImage | BuiltIndex | None  # what we wrote into the OCI layout
    config: bytes = b""  # raw config blob (empty for an index/list)
    config_digest: str | None = None
    layers: tuple[PushedLayer, ...] = ()
    history: tuple[dict[str, Any], ...] = ()
    platform: Platform | None = None
    children: tuple[PushedImage, ...] = ()

    @property
    def is_index(self) -> bool:
        return self.media_type in INDEX_MEDIA_TYPES

    @property
    def pinned_reference(self) -> str:
        """`host/repo@sha256:...`, the reference the service should resolve a tag to."""
        return f"{self.registry}/{self.repository}@{self.digest}"

    @property
    def manifest_json(self) -> dict[str, Any]:
        return json.loads(self.raw_manifest)  # type: ignore[no-any-return]

    @property
    def config_json(self) -> dict[str, Any]:
        return json.loads(self.config)  # type: ignore[no-any-return]

    @property
    def layer_digests(self) -> tuple[str, ...]:
        return tuple(layer.digest for layer in self.layers)

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(layer.diff_id for layer in self.layers)

    def child(self, platform: Platform | str) -> PushedImage:
        """The child for a platform ("linux/arm64/v8" or a Platform)."""
        for child in self.children:
            if str(child.platform) == str(platform):
                return child
        raise KeyError(f"{self.reference} has no {platform} child")


@dataclass(frozen=True)
class ImageCatalog:
    """Every image the session pushed to `plain_registry`, by role."""

    registry: RunningRegistry
    layout_dir: Path  # the OCI layout every catalog image was pushed from
    single: PushedImage  # OCI manifest, gzip+gzip+uncompressed layers, rich config/history
    schema2: PushedImage  # Docker schema2 manifest (pushed with --format v2s2)
    index: PushedImage  # OCI image index: linux/amd64, linux/arm64/v8, linux/arm/v7
    manifest_list: PushedImage  # Docker manifest list (--all --format v2s2), same platforms
    app_a: PushedImage  # shares its base layer with app_b
    app_b: PushedImage
    zstd: PushedImage  # one zstd layer, one gzip layer
    deep: PushedImage  # a/b/c/d/e:v1.0-rc.1__Build.7

    def entries(self) -> dict[str, PushedImage]:
        """`{role: image}` for every image entry, e.g. to parametrise over the catalog."""
        return {
            f.name: getattr(self, f.name)
            for f in fields(self)
            if isinstance(getattr(self, f.name), PushedImage)
        }


# --------------------------------------------------------------------------------------------------
# Pushing and reading back


def push_layout(
    registry: RunningRegistry,
    built: BuiltImage | BuiltIndex,
    repository: str,
    tag: str,
    **skopeo_opts: Any,
) -> PushedImage:
    """Push a built image/index with skopeo, read it back, and check it is what we built.

    `skopeo_opts` go to `skopeo.copy_to_registry` (`format`, `all_images`, `creds`, `ca_dir`,
    `preserve_digests`); `creds`/`ca_dir` are also used for reading back. Without `format` the
    manifest bytes must come back byte-identical; with `format="v2s2"` the manifests are rewritten
    but layer digests (of gzip layers) and diff_ids must survive. Push an index with the default
    `all_images=True`; without it skopeo copies only the host platform's image.
    """
    if built.tag is None:
        raise ValueError("only images named in index.json can be pushed (index children cannot)")
    pushed_digest = skopeo.copy_to_registry(
        built.layout_dir, built.tag, registry, repository, tag, **skopeo_opts
    )
    read_opts: dict[str, Any] = {
        "registry": registry,
        "creds": skopeo_opts.get("creds"),
        "ca_dir": skopeo_opts.get("ca_dir"),
    }
    reference = f"{registry.host}/{repository}:{tag}"
    image = _read_back(registry, repository, tag, reference, built, read_opts)
    assert image.digest == pushed_digest, (image.digest, pushed_digest)
    preserved = (
        skopeo_opts.get("format") is None and skopeo_opts.get("preserve_digests") is not False
    )
    _check_against_built(image, built, preserved=preserved)
    return image


def _read_back(
    registry: RunningRegistry,
    repository: str,
    tag: str | None,
    reference: str,
    built: BuiltImage | BuiltIndex | None,
    read_opts: dict[str, Any],
    platform: Platform | None = None,
) -> PushedImage:
    raw = skopeo.inspect_raw(reference, **read_opts)
    inspected = skopeo.inspect(reference, **read_opts)
    digest = sha256_digest(raw)
    assert inspected["Digest"] == digest, (reference, inspected["Digest"], digest)
    manifest = json.loads(raw)
    media_type = manifest["mediaType"]
    common: dict[str, Any] = {
        "registry": registry.host,
        "repository": repository,
        "tag": tag,
        "reference": reference,
        "digest": digest,
        "media_type": media_type,
        "raw_manifest": raw,
        "inspect": inspected,
        "built": built,
    }
    if media_type in INDEX_MEDIA_TYPES:
        children = []
        for descriptor in manifest["manifests"]:
            child_platform = Platform(
                os=descriptor["platform"]["os"],
                architecture=descriptor["platform"]["architecture"],
                variant=descriptor["platform"].get("variant"),
            )
            child_built = built.child(child_platform) if isinstance(built, BuiltIndex) else None
            child = _read_back(
                registry,
                repository,
                None,
                f"{registry.host}/{repository}@{descriptor['digest']}",
                child_built,
                read_opts,
                child_platform,
            )
            assert child.digest == descriptor["digest"], (child.reference, descriptor)
            assert child.media_type == descriptor["mediaType"], (child.reference, descriptor)
            assert len(child.raw_manifest) == descriptor["size"], (child.reference, descriptor)
            children.append(child)
        return PushedImage(**common, children=tuple(children))

    config = skopeo.inspect_config(reference, **read_opts)
    config_json = json.loads(config)
    config_digest = sha256_digest(config)
    assert config_digest == manifest["config"]["digest"], (reference, config_digest)
    diff_ids = config_json["rootfs"]["diff_ids"]
    assert len(diff_ids) == len(manifest["layers"]), reference
    layers = tuple(
        PushedLayer(
            digest=descriptor["digest"],
            diff_id=diff_id,
            media_type=descriptor["mediaType"],
            size=descriptor["size"],
        )
        for descriptor, diff_id in zip(manifest["layers"], diff_ids, strict=True)
    )
    if platform is None:
        platform = Platform(
            os=config_json["os"],
            architecture=config_json["architecture"],
            variant=config_json.get("variant"),
        )
    return PushedImage(
        **common,
        config=config,
        config_digest=config_digest,
        layers=layers,
        history=tuple(config_json.get("history", ())),
        platform=platform,
    )


def _check_against_built(
    image: PushedImage, built: BuiltImage | BuiltIndex | None, *, preserved: bool
) -> None:
    """Fail loudly if skopeo changed something it must not have."""
    if isinstance(built, BuiltIndex):
        assert image.is_index, (image.reference, image.media_type)
        if preserved:
            assert image.raw_manifest == built.index, image.reference
            assert image.digest == built.digest, image.reference
        assert [str(c.platform) for c in image.children] == [
            str(c.platform) for c in built.children
        ], image.reference
        for child in image.children:
            _check_against_built(child, child.built, preserved=preserved)
        return
    if built is None:
        return
    assert not image.is_index, image.reference
    if preserved:
        assert image.raw_manifest == built.manifest, image.reference
        assert image.digest == built.manifest_digest, image.reference
        assert image.config == built.config, image.reference
    # diff_ids identify layer contents whatever the transport did; gzip blobs are never touched.
    assert image.diff_ids == built.diff_ids, image.reference
    for pushed, original in zip(image.layers, built.layers, strict=True):
        if preserved or original.compression == "gzip":
            assert pushed.digest == original.digest, (image.reference, pushed, original)
            assert pushed.size == original.size, (image.reference, pushed, original)
    assert list(image.history) == list(built.history), image.reference


# --------------------------------------------------------------------------------------------------
# What the catalog contains


def filler(seed: str, size: int) -> bytes:
    """Deterministic, incompressible bytes so layers have a realistic (few KB) size."""
    return hashlib.shake_256(seed.encode()).digest(size)


def build_small_image(
    workdir: Path,
    name: str,
    *,
    platform: Platform = LINUX_AMD64,
    compression: Compression = "gzip",
) -> BuiltImage:
    """A one-layer image tagged `name` in the OCI layout at `workdir`, ready for push_layout."""
    return OciLayout(workdir).write_image(
        small_image_spec(name, platform=platform, compression=compression), name
    )


def build_small_index(workdir: Path, name: str) -> BuiltIndex:
    """A three-platform OCI index tagged `name` in the layout at `workdir`."""
    return OciLayout(workdir).write_index(_platform_specs(name), name)


def _single_spec() -> ImageSpec:
    base = make_layer(
        {
            "etc/alpine-release": b"3.19.1\n",
            "etc/os-release": b'NAME="Alpine Linux"\nID=alpine\nVERSION_ID=3.19.1\n',
            "bin/busybox": filler("single/busybox", 3000),
        },
        "gzip",
    )
    certs = make_layer({"etc/ssl/certs/ca-certificates.crt": filler("single/certs", 2000)}, "gzip")
    app = make_layer(
        {
            "srv/app/run.sh": b"#!/bin/sh\nexec /srv/app/server\n",
            "srv/app/server": filler("a", 1500),
        },
        "none",
    )
    steps = (
        layer_step("ADD alpine-minirootfs-3.19.1-x86_64.tar.gz / # buildkit", base),
        empty_step('ENV PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"'),
        empty_step('CMD ["/bin/sh"]'),
        layer_step("RUN /bin/sh -c apk add --no-cache ca-certificates # buildkit", certs),
        empty_step('LABEL org.opencontainers.image.title="imagepin test alpine"'),
        empty_step("EXPOSE map[53/udp:{} 8080/tcp:{}]"),
        empty_step("ENV APP_HOME=/srv/app"),
        layer_step("COPY app /srv/app # buildkit", app, comment="buildkit.dockerfile.v0"),
        empty_step("USER 1000:1000"),
        empty_step("WORKDIR /srv/app"),
        empty_step('VOLUME ["/data"]'),
        empty_step("STOPSIGNAL SIGQUIT"),
        empty_step('ENTRYPOINT ["/srv/app/run.sh"]'),
        empty_step('CMD ["--serve"]'),
    )
    return ImageSpec(
        steps=steps,
        platform=LINUX_AMD64,
        runtime=RuntimeConfig(
            env=(
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "APP_HOME=/srv/app",
            ),
            cmd=("--serve",),
            entrypoint=("/srv/app/run.sh",),
            user="1000:1000",
            working_dir="/srv/app",
            labels={
                "org.opencontainers.image.title": "imagepin test alpine",
                "org.opencontainers.image.version": "3.19",
            },
            exposed_ports=("8080/tcp", "53/udp"),
            volumes=("/data",),
            stop_signal="SIGQUIT",
        ),
        created="2024-01-26T23:44:00Z",
        author="imagepin tests <tests@imagepin.invalid>",
        manifest_annotations={
            "org.opencontainers.image.created": "2024-01-26T23:44:00Z",
            "org.opencontainers.image.source": "https://example.com/imagepin/alpine",
        },
    )


def _schema2_spec() -> ImageSpec:
    layers = (
        make_layer({"bin/busybox": filler("busybox/bin", 2500)}, "gzip"),
        make_layer({"etc/passwd": b"root:x:0:0:root:/root:/bin/sh\n"}, "gzip"),
    )
    return ImageSpec(
        steps=simple_steps("busybox", layers, cmd='["sh"]'),
        runtime=RuntimeConfig(cmd=("sh",)),
        created="2024-01-17T21:49:00Z",
    )


def _platform_specs(name: str) -> list[ImageSpec]:
    """One image per platform; each has its own base layer plus a shared arch-independent one."""
    shared = make_layer({f"usr/share/{name}/README": f"{name}, any arch\n".encode()}, "gzip")
    specs = []
    for platform in (LINUX_AMD64, LINUX_ARM64_V8, LINUX_ARM_V7):
        base = make_layer({f"bin/{name}": filler(f"{name}/{platform}", 1200)}, "gzip")
        specs.append(
            ImageSpec(
                steps=simple_steps(name, (base, shared)),
                platform=platform,
                runtime=RuntimeConfig(cmd=(f"/bin/{name}",)),
            )
        )
    return specs


def _app_specs() -> tuple[ImageSpec, ImageSpec]:
    base = make_layer(
        {"etc/debian_version": b"12.5\n", "lib/libc.so": filler("base", 2500)}, "gzip"
    )
    out = []
    for name in ("app-a", "app-b"):
        own = make_layer({f"opt/{name}/bin": filler(name, 1000)}, "gzip")
        steps = (
            layer_step("ADD rootfs.tar.gz / # buildkit", base),
            empty_step('CMD ["bash"]'),
            layer_step(f"COPY {name} /opt/{name} # buildkit", own),
            empty_step(f'CMD ["/opt/{name}/bin"]'),
        )
        out.append(
            ImageSpec(
                steps=steps,
                runtime=RuntimeConfig(cmd=(f"/opt/{name}/bin",), labels={"app": name}),
            )
        )
    return out[0], out[1]


def _zstd_spec() -> ImageSpec:
    layers = (
        make_layer({"usr/lib/data.zst.bin": filler("zstd/data", 2000)}, "zstd"),
        make_layer({"etc/zstd.conf": b"level=3\n"}, "gzip"),
    )
    return ImageSpec(steps=simple_steps("zstd", layers))


@pytest.fixture(scope="session")
def plain_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningRegistry]:
    """A plain-HTTP docker-registry on a free loopback port, shared by the whole session."""
    with launch_registry(tmp_path_factory.mktemp("registry")) as registry:
        yield registry


@pytest.fixture(scope="session")
def pushed_images(
    plain_registry: RunningRegistry, tmp_path_factory: pytest.TempPathFactory
) -> ImageCatalog:
    """Build the catalog's OCI layout, push every image to `plain_registry`, read them back."""
    layout_dir = tmp_path_factory.mktemp("oci-layout")
    layout = OciLayout(layout_dir)
    app_a, app_b = _app_specs()
    reg = plain_registry

    def push(built: BuiltImage | BuiltIndex, name: str, **opts: Any) -> PushedImage:
        repository, tag = name.rsplit(":", 1)
        return push_layout(reg, built, repository, tag, **opts)

    return ImageCatalog(
        registry=reg,
        layout_dir=layout_dir,
        single=push(layout.write_image(_single_spec(), "single"), "library/alpine:3.19"),
        schema2=push(
            layout.write_image(_schema2_spec(), "schema2"), "library/busybox:1.36", format="v2s2"
        ),
        index=push(layout.write_index(_platform_specs("multi"), "index"), "library/multi:latest"),
        manifest_list=push(
            layout.write_index(_platform_specs("multi-docker"), "manifest-list"),
            "library/multi-docker:latest",
            format="v2s2",
        ),
        app_a=push(layout.write_image(app_a, "app-a"), "team/app-a:1.0"),
        app_b=push(layout.write_image(app_b, "app-b"), "team/app-b:1.0"),
        zstd=push(layout.write_image(_zstd_spec(), "zstd"), "library/zstd:1"),
        deep=push(
            layout.write_image(small_image_spec("deep"), "deep"), "a/b/c/d/e:v1.0-rc.1__Build.7"
        ),
    )
