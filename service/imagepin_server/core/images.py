"""What image documents say: manifests, indexes and image configs parsed into plain values.

Parsing is strict about what identifies content (digests, sizes, media types) and lenient about
what only describes it (a missing label map is an empty one). Malformed content raises
UnsupportedContent naming the field, so a caller learns what the registry got wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from imagepin_server import mediatypes
from imagepin_server.digests import Digest, InvalidDigest
from imagepin_server.errors import UnsupportedContent, schema1_refused


@dataclass(frozen=True, slots=True)
class Platform:
    """An OCI platform: os/architecture[/variant], plus the rarely used Windows fields."""

    os: str
    architecture: str
    variant: str = ""
    os_version: str = ""
    os_features: tuple[str, ...] = ()

    def __str__(self) -> str:
        text = f"{self.os}/{self.architecture}"
        return f"{text}/{self.variant}" if self.variant else text


@dataclass(frozen=True, slots=True)
class Descriptor:
    """A content descriptor: what a manifest says about content it points at."""

    media_type: str
    digest: Digest
    size: int
    platform: Platform | None = None
    annotations: dict[str, str] = field(default_factory=dict)
    urls: tuple[str, ...] = ()
    artifact_type: str = ""


@dataclass(frozen=True, slots=True)
class ImageManifest:
    """A single-platform image manifest (OCI or Docker schema2)."""

    media_type: str
    schema_version: int
    config: Descriptor
    layers: tuple[Descriptor, ...]
    annotations: dict[str, str]
    subject: Descriptor | None
    artifact_type: str


@dataclass(frozen=True, slots=True)
class ImageIndex:
    """A multi-platform index (OCI image index or Docker manifest list)."""

    media_type: str
    schema_version: int
    manifests: tuple[Descriptor, ...]
    annotations: dict[str, str]
    subject: Descriptor | None
    artifact_type: str


Manifest = ImageManifest | ImageIndex


@dataclass(frozen=True, slots=True)
class HistoryEntry:
    created: str
    created_by: str
    author: str
    comment: str
    empty_layer: bool


@dataclass(frozen=True, slots=True)
class ImageConfig:
    """An image config as `docker image inspect` shows it."""

    architecture: str
    os: str
    variant: str
    os_version: str
    created: str
    author: str
    env: tuple[str, ...]
    cmd: tuple[str, ...]
    entrypoint: tuple[str, ...]
    user: str
    working_dir: str
    labels: dict[str, str]
    exposed_ports: tuple[str, ...]
    volumes: tuple[str, ...]
    stop_signal: str
    rootfs_type: str
    diff_ids: tuple[str, ...]
    history: tuple[HistoryEntry, ...]

    def layer_history(self) -> list[HistoryEntry]:
        """History entries that made a layer, in layer order (empty-layer steps skipped)."""
        return [entry for entry in self.history if not entry.empty_layer]


INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1


class _Malformed(Exception):
    """Internal: a field of a document is not what the spec says it is."""


def _load(raw: bytes, what: str) -> dict[str, Any]:
    try:
        document = json.loads(raw)
    except (ValueError, UnicodeDecodeError, RecursionError) as exc:
        raise UnsupportedContent(f"{what} is not valid JSON") from exc
    if not isinstance(document, dict):
        raise UnsupportedContent(f"{what} is not a JSON object")
    return document


def _declared_media_type(document: dict[str, Any], served: str) -> str:
    declared = document.get("mediaType")
    if isinstance(declared, str) and declared:
        return mediatypes.base(declared)
    if mediatypes.is_manifest(served):
        return mediatypes.base(served)
    # Old OCI manifests may omit mediaType and be served as plain JSON: tell them by shape.
    if "manifests" in document:
        return mediatypes.OCI_INDEX
    if "config" in document and "layers" in document:
        return mediatypes.OCI_MANIFEST
    return mediatypes.base(served)


def parse_manifest(raw: bytes, served_media_type: str) -> Manifest:
    """Parse manifest bytes into an ImageManifest or an ImageIndex."""
    document = _load(raw, "manifest")
    media_type = _declared_media_type(document, served_media_type)
    if mediatypes.is_schema1(media_type) or mediatypes.is_schema1_document(document):
        raise schema1_refused("the manifest")
    if not mediatypes.is_manifest(media_type):
        raise UnsupportedContent(f"unsupported manifest media type {media_type!r}")
    try:
        schema_version = _int(document.get("schemaVersion", 2), "schemaVersion")
        if not 0 <= schema_version <= INT32_MAX:
            raise _Malformed("schemaVersion is out of range")
        annotations = _str_map(document.get("annotations"), "annotations")
        subject_doc = document.get("subject")
        subject = _descriptor(subject_doc, "subject") if subject_doc is not None else None
        artifact_type = _str(document.get("artifactType"), "artifactType")
        if mediatypes.is_index(media_type):
            children = _list(document.get("manifests"), "manifests")
            return ImageIndex(
                media_type=media_type,
                schema_version=schema_version,
                manifests=tuple(
                    _descriptor(child, f"manifests[{i}]") for i, child in enumerate(children)
                ),
                annotations=annotations,
                subject=subject,
                artifact_type=artifact_type,
            )
        if "config" not in document:
            raise _Malformed("config is missing")
        layers = _list(document.get("layers"), "layers")
        return ImageManifest(
            media_type=media_type,
            schema_version=schema_version,
            config=_descriptor(document["config"], "config"),
            layers=tuple(_descriptor(layer, f"layers[{i}]") for i, layer in enumerate(layers)),
            annotations=annotations,
            subject=subject,
            artifact_type=artifact_type,
        )
    except _Malformed as exc:
        raise UnsupportedContent(f"the manifest is malformed: {exc}") from exc


def parse_config(raw: bytes) -> ImageConfig:
    """Parse an image config blob (OCI or Docker) into what `docker image inspect` shows."""
    document = _load(raw, "image config")
    try:
        container = document.get("config") or {}
        if not isinstance(container, dict):
            raise _Malformed("config is not an object")
        rootfs = document.get("rootfs") or {}
        if not isinstance(rootfs, dict):
            raise _Malformed("rootfs is not an object")
        history = _list(document.get("history"), "history")
        return ImageConfig(
            architecture=_str(document.get("architecture"), "architecture"),
            os=_str(document.get("os"), "os"),
            variant=_str(document.get("variant"), "variant"),
            os_version=_str(document.get("os.version"), "os.version"),
            created=_str(document.get("created"), "created"),
            author=_str(document.get("author"), "author"),
            env=_str_list(container.get("Env"), "config.Env"),
            cmd=_str_list(container.get("Cmd"), "config.Cmd"),
            entrypoint=_str_list(container.get("Entrypoint"), "config.Entrypoint"),
            user=_str(container.get("User"), "config.User"),
            working_dir=_str(container.get("WorkingDir"), "config.WorkingDir"),
            labels=_str_map(container.get("Labels"), "config.Labels"),
            exposed_ports=tuple(sorted(_set_keys(container.get("ExposedPorts"), "ExposedPorts"))),
            volumes=tuple(sorted(_set_keys(container.get("Volumes"), "config.Volumes"))),
            stop_signal=_str(container.get("StopSignal"), "config.StopSignal"),
            rootfs_type=_str(rootfs.get("type"), "rootfs.type"),
            diff_ids=_str_list(rootfs.get("diff_ids"), "rootfs.diff_ids"),
            history=tuple(_history(entry, f"history[{i}]") for i, entry in enumerate(history)),
        )
    except _Malformed as exc:
        raise UnsupportedContent(f"the image config is malformed: {exc}") from exc


def _descriptor(value: object, where: str) -> Descriptor:
    if not isinstance(value, dict):
        raise _Malformed(f"{where} is not an object")
    try:
        digest = Digest.parse(_str(value.get("digest"), f"{where}.digest"))
    except InvalidDigest as exc:
        raise _Malformed(f"{where}.digest: {exc}") from exc
    size = _int(value.get("size"), f"{where}.size")
    if not 0 <= size <= INT64_MAX:
        raise _Malformed(f"{where}.size is out of range")
    platform_doc = value.get("platform")
    return Descriptor(
        media_type=mediatypes.base(_str(value.get("mediaType"), f"{where}.mediaType")),
        digest=digest,
        size=size,
        platform=_platform(platform_doc, f"{where}.platform") if platform_doc is not None else None,
        annotations=_str_map(value.get("annotations"), f"{where}.annotations"),
        urls=_str_list(value.get("urls"), f"{where}.urls"),
        artifact_type=_str(value.get("artifactType"), f"{where}.artifactType"),
    )


def _platform(value: object, where: str) -> Platform:
    if not isinstance(value, dict):
        raise _Malformed(f"{where} is not an object")
    return Platform(
        os=_str(value.get("os"), f"{where}.os"),
        architecture=_str(value.get("architecture"), f"{where}.architecture"),
        variant=_str(value.get("variant"), f"{where}.variant"),
        os_version=_str(value.get("os.version"), f"{where}.os.version"),
        os_features=_str_list(value.get("os.features"), f"{where}.os.features"),
    )


def _history(value: object, where: str) -> HistoryEntry:
    if not isinstance(value, dict):
        raise _Malformed(f"{where} is not an object")
    empty = value.get("empty_layer", False)
    if not isinstance(empty, bool):
        raise _Malformed(f"{where}.empty_layer is not a boolean")
    return HistoryEntry(
        created=_str(value.get("created"), f"{where}.created"),
        created_by=_str(value.get("created_by"), f"{where}.created_by"),
        author=_str(value.get("author"), f"{where}.author"),
        comment=_str(value.get("comment"), f"{where}.comment"),
        empty_layer=empty,
    )


def _clean(text: str) -> str:
    """JSON may carry lone surrogates (\\ud800), which no UTF-8 encoder accepts: replace them."""
    return text if text.isascii() else text.encode("utf-8", "replace").decode("utf-8")


def _str(value: object, where: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _Malformed(f"{where} is not a string")
    return _clean(value)


def _int(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise _Malformed(f"{where} is not an integer")
    return value


def _list(value: object, where: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{where} is not a list")
    return value


def _str_list(value: object, where: str) -> tuple[str, ...]:
    items = _list(value, where)
    if not all(isinstance(item, str) for item in items):
        raise _Malformed(f"{where} holds something that is not a string")
    return tuple(_clean(item) for item in items)


def _str_map(value: object, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise _Malformed(f"{where} is not a map of strings")
    return {_clean(k): _clean(v) for k, v in value.items()}


def _set_keys(value: object, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, dict):
        raise _Malformed(f"{where} is not an object")
    return [_clean(str(key)) for key in value]
