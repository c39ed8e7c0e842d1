"""Build small, byte-for-byte reproducible OCI image layouts on disk.

The integration tests push these layouts to a real registry with skopeo, so everything the service
will later see (manifest bytes, digests, configs, history) is known up front and stable between
runs: tar entries carry fixed mtimes/owners, gzip carries no timestamp, JSON is serialised with a
fixed key order. See https://github.com/opencontainers/image-spec (image-layout.md, manifest.md,
image-index.md, config.md).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import zstandard

Compression = Literal["gzip", "zstd", "none"]

OCI_LAYOUT_VERSION = "1.0.0"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
IN_TOTO_LAYER = "application/vnd.in-toto+json"
IN_TOTO_PREDICATE_ANNOTATION = "in-toto.io/predicate-type"
SLSA_PROVENANCE = "https://slsa.dev/provenance/v0.2"
# BuildKit (docker buildx) names what an attestation manifest in an index is about with these.
REFERENCE_DIGEST_ANNOTATION = "vnd.docker.reference.digest"
REFERENCE_TYPE_ANNOTATION = "vnd.docker.reference.type"
ATTESTATION_MANIFEST = "attestation-manifest"

LAYER_MEDIA_TYPES: dict[Compression, str] = {
    "gzip": OCI_LAYER_GZIP,
    "zstd": OCI_LAYER_ZSTD,
    "none": OCI_LAYER_TAR,
}

# 2024-01-01T00:00:00Z: every tar entry and the default `created` use it, so digests never drift.
FIXED_EPOCH = 1704067200
DEFAULT_CREATED = "2024-01-01T00:00:00Z"


def sha256_digest(data: bytes) -> str:
    """The OCI digest string (`sha256:<hex>`) of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def dump_json(obj: Any) -> bytes:
    """Serialise a manifest/config the way these layouts always do.

    Indented with a trailing newline on purpose: it is valid but not what Go tools emit, so any code
    that re-serialises a manifest instead of hashing the served bytes gets a different digest.
    """
    return (json.dumps(obj, indent=2) + "\n").encode()


# --------------------------------------------------------------------------------------------------
# Layers


@dataclass(frozen=True)
class LayerBlob:
    """One layer blob: what goes in blobs/, the manifest descriptor, and the config's diff_id."""

    data: bytes  # the blob as stored/pushed (compressed unless compression == "none")
    digest: str  # sha256 of `data`: the distribution digest named in the manifest
    diff_id: str  # sha256 of the uncompressed tar: what rootfs.diff_ids lists
    media_type: str
    size: int
    compression: Compression
    files: tuple[str, ...]  # regular files in the tar, for humans reading failures

    def descriptor(self) -> dict[str, Any]:
        """The OCI descriptor for this layer in a manifest."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": self.size}


def make_tar(files: Mapping[str, bytes]) -> bytes:
    """A deterministic tar: sorted entries, parent directories, fixed mtime, root-owned."""
    buffer = io.BytesIO()
    directories: set[str] = set()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(files):
            clean = path.strip("/")
            parts = clean.split("/")
            for depth in range(1, len(parts)):
                directory = "/".join(parts[:depth])
                if directory not in directories:
                    directories.add(directory)
                    tar.addfile(_tar_info(directory + "/", tarfile.DIRTYPE, 0o755, 0))
            content = files[path]
            tar.addfile(_tar_info(clean, tarfile.REGTYPE, 0o644, len(content)), io.BytesIO(content))
    return buffer.getvalue()


def _tar_info(name: str, kind: bytes, mode: int, size: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.size = size
    info.mtime = FIXED_EPOCH
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def compress(data: bytes, compression: Compression) -> bytes:
    """Compress a tar deterministically (gzip without a timestamp, zstd at a fixed level)."""
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        return zstandard.ZstdCompressor(level=3).compress(data)
    if compression == "none":
        return data
    raise ValueError(f"unknown compression {compression!r}")


def make_layer(files: Mapping[str, bytes], compression: Compression = "gzip") -> LayerBlob:
    """Build a layer from `{path: content}`; the same input always yields the same digests."""
    tar = make_tar(files)
    data = compress(tar, compression)
    return LayerBlob(
        data=data,
        digest=sha256_digest(data),
        diff_id=sha256_digest(tar),
        media_type=LAYER_MEDIA_TYPES[compression],
        size=len(data),
        compression=compression,
        files=tuple(sorted(f.strip("/") for f in files)),
    )


# --------------------------------------------------------------------------------------------------
# Image description


@dataclass(frozen=True)
class Platform:
    """The platform of one image (config fields and index descriptor `platform`)."""

    os: str = "linux"
    architecture: str = "amd64"
    variant: str | None = None

    def as_dict(self) -> dict[str, str]:
        """The OCI `platform` object (variant omitted when unset)."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


LINUX_AMD64 = Platform("linux", "amd64")
LINUX_ARM64_V8 = Platform("linux", "arm64", "v8")
LINUX_ARM_V7 = Platform("linux", "arm", "v7")


@dataclass(frozen=True)
class RuntimeConfig:
    """The `config` object of an image config (what `docker run` uses by default)."""

    env: tuple[str, ...] = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",)
    cmd: tuple[str, ...] | None = ("/bin/sh",)
    entrypoint: tuple[str, ...] | None = None
    user: str | None = None
    working_dir: str | None = None
    labels: Mapping[str, str] | None = None
    exposed_ports: tuple[str, ...] = ()  # e.g. ("8080/tcp", "53/udp")
    volumes: tuple[str, ...] = ()
    stop_signal: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """The JSON object, omitting unset fields as Docker/buildkit do."""
        out: dict[str, Any] = {}
        if self.user is not None:
            out["User"] = self.user
        if self.exposed_ports:
            out["ExposedPorts"] = {port: {} for port in self.exposed_ports}
        if self.env:
            out["Env"] = list(self.env)
        if self.entrypoint is not None:
            out["Entrypoint"] = list(self.entrypoint)
        if self.cmd is not None:
            out["Cmd"] = list(self.cmd)
        if self.volumes:
            out["Volumes"] = {volume: {} for volume in self.volumes}
        if self.working_dir is not None:
            out["WorkingDir"] = self.working_dir
        if self.labels is not None:
            out["Labels"] = dict(self.labels)
        if self.stop_signal is not None:
            out["StopSignal"] = self.stop_signal
        return out


@dataclass(frozen=True)
class Step:
    """One build step: it either adds `layer` or is metadata-only (`empty_layer: true`)."""

    created_by: str
    layer: LayerBlob | None = None
    comment: str | None = None

    @property
    def empty_layer(self) -> bool:
        return self.layer is None


def layer_step(created_by: str, layer: LayerBlob, comment: str | None = None) -> Step:
    """A step that adds a layer (e.g. `COPY`, `RUN`)."""
    return Step(created_by=created_by, layer=layer, comment=comment)


def empty_step(created_by: str, comment: str | None = None) -> Step:
    """A metadata-only step (e.g. `ENV`, `CMD`, `LABEL`, `EXPOSE`)."""
    return Step(created_by=created_by, layer=None, comment=comment)


@dataclass(frozen=True)
class ImageSpec:
    """Everything needed to write one single-platform image."""

    steps: tuple[Step, ...]
    platform: Platform = LINUX_AMD64
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    created: str = DEFAULT_CREATED
    author: str | None = None
    manifest_annotations: Mapping[str, str] | None = None

    @property
    def layers(self) -> tuple[LayerBlob, ...]:
        return tuple(step.layer for step in self.steps if step.layer is not None)

    def history(self) -> list[dict[str, Any]]:
        """The config `history`, one entry per step, each a second after the previous one."""
        entries: list[dict[str, Any]] = []
        for number, step in enumerate(self.steps):
            entry: dict[str, Any] = {
                "created": _seconds_after(self.created, number - len(self.steps) + 1),
                "created_by": step.created_by,
            }
            if self.author is not None:
                entry["author"] = self.author
            if step.comment is not None:
                entry["comment"] = step.comment
            if step.empty_layer:
                entry["empty_layer"] = True
            entries.append(entry)
        return entries

    def config_dict(self) -> dict[str, Any]:
        """The full image config JSON object."""
        config: dict[str, Any] = {"created": self.created}
        if self.author is not None:
            config["author"] = self.author
        config["architecture"] = self.platform.architecture
        if self.platform.variant:
            config["variant"] = self.platform.variant
        config["os"] = self.platform.os
        config["config"] = self.runtime.as_dict()
        config["rootfs"] = {"type": "layers", "diff_ids": [layer.diff_id for layer in self.layers]}
        config["history"] = self.history()
        return config


def _seconds_after(timestamp: str, seconds: int) -> str:
    base = datetime.strptime(timestamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    return (base + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class BuiltImage:
    """A single-platform image as written into a layout."""

    layout_dir: Path
    tag: str | None  # the ref.name in index.json; None for an index child
    platform: Platform
    manifest: bytes
    manifest_digest: str
    manifest_media_type: str
    config: bytes
    config_digest: str
    layers: tuple[LayerBlob, ...]
    history: tuple[dict[str, Any], ...]
    spec: ImageSpec

    @property
    def manifest_json(self) -> dict[str, Any]:
        return json.loads(self.manifest)  # type: ignore[no-any-return]

    @property
    def config_json(self) -> dict[str, Any]:
        return json.loads(self.config)  # type: ignore[no-any-return]

    @property
    def diff_ids(self) -> tuple[str, ...]:
        return tuple(layer.diff_id for layer in self.layers)

    def descriptor(self) -> dict[str, Any]:
        """Descriptor of this manifest, with platform, as an index lists it."""
        return {
            "mediaType": self.manifest_media_type,
            "digest": self.manifest_digest,
            "size": len(self.manifest),
            "platform": self.platform.as_dict(),
        }


@dataclass(frozen=True)
class BuiltIndex:
    """A multi-platform OCI image index as written into a layout."""

    layout_dir: Path
    tag: str
    index: bytes
    digest: str
    media_type: str
    children: tuple[BuiltImage, ...]

    @property
    def index_json(self) -> dict[str, Any]:
        return json.loads(self.index)  # type: ignore[no-any-return]

    def child(self, platform: Platform | str) -> BuiltImage:
        """The child image for a platform (a Platform or "os/arch[/variant]")."""
        for child in self.children:
            if str(child.platform) == str(platform):
                return child
        raise KeyError(str(platform))


@dataclass(frozen=True)
class IndexBlob:
    """An index written from descriptors as given: its bytes and digest."""

    raw: bytes
    digest: str
    media_type: str = OCI_INDEX

    def descriptor(self) -> dict[str, Any]:
        """How an outer index lists this one (no platform: an index has many)."""
        return {"mediaType": self.media_type, "digest": self.digest, "size": len(self.raw)}


# --------------------------------------------------------------------------------------------------
# The layout itself


class OciLayout:
    """An OCI image layout directory: `oci-layout`, `index.json` and `blobs/sha256/*`.

    Several tags can live in one layout; each `write_*` call (re)writes index.json so that
    `skopeo copy oci:DIR:TAG ...` finds the image by its `org.opencontainers.image.ref.name`.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.blobs = root / "blobs" / "sha256"
        self.blobs.mkdir(parents=True, exist_ok=True)
        (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
        self._entries: dict[str, dict[str, Any]] = {}
        index_path = root / "index.json"
        if index_path.exists():  # reopening a layout keeps the tags already in it
            for entry in json.loads(index_path.read_text()).get("manifests", []):
                name = entry.get("annotations", {}).get(REF_NAME_ANNOTATION) or entry["digest"]
                self._entries[name] = entry
        self._write_index_json()

    def add_blob(self, data: bytes) -> str:
        """Store a blob under its digest (idempotent) and return the digest."""
        digest = sha256_digest(data)
        path = self.blobs / digest.removeprefix("sha256:")
        if not path.exists():
            path.write_bytes(data)
        return digest

    def write_image(self, spec: ImageSpec, tag: str | None) -> BuiltImage:
        """Write an image's layers, config and manifest; name it `tag` in index.json if given."""
        if not spec.layers:
            raise ValueError("an image needs at least one layer")
        for layer in spec.layers:
            self.add_blob(layer.data)
        config = dump_json(spec.config_dict())
        config_digest = self.add_blob(config)
        manifest_obj: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [layer.descriptor() for layer in spec.layers],
        }
        if spec.manifest_annotations:
            manifest_obj["annotations"] = dict(spec.manifest_annotations)
        manifest = dump_json(manifest_obj)
        manifest_digest = self.add_blob(manifest)
        built = BuiltImage(
            layout_dir=self.root,
            tag=tag,
            platform=spec.platform,
            manifest=manifest,
            manifest_digest=manifest_digest,
            manifest_media_type=OCI_MANIFEST,
            config=config,
            config_digest=config_digest,
            layers=spec.layers,
            history=tuple(spec.history()),
            spec=spec,
        )
        if tag is not None:
            self._name(tag, OCI_MANIFEST, manifest_digest, len(manifest), spec.platform)
        return built

    def write_index(
        self,
        specs: Sequence[ImageSpec],
        tag: str,
        annotations: Mapping[str, str] | None = None,
    ) -> BuiltIndex:
        """Write one image per spec plus an OCI image index over them, named `tag`."""
        platforms = [str(spec.platform) for spec in specs]
        if len(set(platforms)) != len(platforms):
            raise ValueError(f"duplicate platforms in index: {platforms}")
        children = tuple(self.write_image(spec, None) for spec in specs)
        index_obj: dict[str, Any] = {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [child.descriptor() for child in children],
        }
        if annotations:
            index_obj["annotations"] = dict(annotations)
        index = dump_json(index_obj)
        digest = self.add_blob(index)
        self._name(tag, OCI_INDEX, digest, len(index), None)
        return BuiltIndex(
            layout_dir=self.root,
            tag=tag,
            index=index,
            digest=digest,
            media_type=OCI_INDEX,
            children=children,
        )

    def write_attestation(self, subject: BuiltImage) -> dict[str, Any]:
        """A provenance attestation for `subject`, as BuildKit writes it; its index descriptor.

        The manifest is an OCI image manifest whose config says unknown/unknown and whose one
        layer is an in-toto statement; the index entry carries BuildKit's two annotations.
        """
        statement = dump_json(
            {
                "_type": "https://in-toto.io/Statement/v0.1",
                "predicateType": SLSA_PROVENANCE,
                "subject": [{"name": "_", "digest": {"sha256": subject.manifest_digest[7:]}}],
                "predicate": {"builder": {"id": "imagepin-tests"}},
            }
        )
        statement_digest = self.add_blob(statement)
        config = dump_json(
            {
                "architecture": "unknown",
                "os": "unknown",
                "config": {},
                "rootfs": {"type": "layers", "diff_ids": [statement_digest]},
            }
        )
        config_digest = self.add_blob(config)
        manifest = dump_json(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
                "layers": [
                    {
                        "mediaType": IN_TOTO_LAYER,
                        "digest": statement_digest,
                        "size": len(statement),
                        "annotations": {IN_TOTO_PREDICATE_ANNOTATION: SLSA_PROVENANCE},
                    }
                ],
            }
        )
        return {
            "mediaType": OCI_MANIFEST,
            "digest": self.add_blob(manifest),
            "size": len(manifest),
            "platform": {"architecture": "unknown", "os": "unknown"},
            "annotations": {
                REFERENCE_DIGEST_ANNOTATION: subject.manifest_digest,
                REFERENCE_TYPE_ANNOTATION: ATTESTATION_MANIFEST,
            },
        }

    def write_index_of(self, manifests: Sequence[Mapping[str, Any]], tag: str | None) -> IndexBlob:
        """An OCI index over descriptors as given (images, attestations, indexes, or none)."""
        raw = dump_json(
            {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [dict(m) for m in manifests]}
        )
        digest = self.add_blob(raw)
        if tag is not None:
            self._name(tag, OCI_INDEX, digest, len(raw), None)
        return IndexBlob(raw=raw, digest=digest)

    def _name(
        self, tag: str, media_type: str, digest: str, size: int, platform: Platform | None
    ) -> None:
        entry: dict[str, Any] = {"mediaType": media_type, "digest": digest, "size": size}
        if platform is not None:
            entry["platform"] = platform.as_dict()
        entry["annotations"] = {REF_NAME_ANNOTATION: tag}
        self._entries[tag] = entry
        self._write_index_json()

    def _write_index_json(self) -> None:
        index = {"schemaVersion": 2, "manifests": list(self._entries.values())}
        (self.root / "index.json").write_text(json.dumps(index, indent=2) + "\n")


# --------------------------------------------------------------------------------------------------
# Convenience builders


def simple_steps(
    name: str,
    layers: Iterable[LayerBlob],
    *,
    env: str = "PATH=/usr/local/bin:/usr/bin:/bin",
    cmd: str = '["/bin/sh"]',
) -> tuple[Step, ...]:
    """A Dockerfile-like history: each layer from a COPY, then ENV and CMD metadata steps."""
    steps = [
        layer_step(f"COPY {name}-{number} / # buildkit", layer)
        for number, layer in enumerate(layers)
    ]
    steps.append(empty_step(f"ENV {env}"))
    steps.append(empty_step(f"CMD {cmd}"))
    return tuple(steps)


def small_image_spec(
    name: str,
    *,
    platform: Platform = LINUX_AMD64,
    compression: Compression = "gzip",
    extra_layers: Sequence[LayerBlob] = (),
) -> ImageSpec:
    """A tiny one-layer image whose content (and so digest) depends on `name` and `platform`."""
    layer = make_layer(
        {f"etc/{name}/release": f"{name} for {platform}\n".encode()}, compression=compression
    )
    return ImageSpec(
        steps=simple_steps(name, (*extra_layers, layer)),
        platform=platform,
        runtime=RuntimeConfig(cmd=("/bin/sh",), labels={"org.example.name": name}),
    )


def write_multi_platform_index(
    layout: OciLayout,
    name: str,
    tag: str,
    platforms: Sequence[Platform] = (LINUX_AMD64, LINUX_ARM64_V8, LINUX_ARM_V7),
    compression: Compression = "gzip",
) -> BuiltIndex:
    """An index whose children are small images, one per platform, with distinct layers."""
    specs = [small_image_spec(name, platform=p, compression=compression) for p in platforms]
    return layout.write_index(specs, tag)
