"""Where the images are in Kubernetes YAML: every container image scalar, with its source span.

PyYAML's composer keeps each node's start and end offsets in the text, so the caller can splice
a new value into exactly those characters and leave every other byte (comments, indentation,
quoting, key order) as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

CONTAINER_LISTS: Final = ("containers", "initContainers", "ephemeralContainers")
# Where each workload keeps its PodSpec.
POD_SPEC_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "Pod": ("spec",),
    "PodTemplate": ("template", "spec"),
    "Deployment": ("spec", "template", "spec"),
    "StatefulSet": ("spec", "template", "spec"),
    "DaemonSet": ("spec", "template", "spec"),
    "ReplicaSet": ("spec", "template", "spec"),
    "ReplicationController": ("spec", "template", "spec"),
    "Job": ("spec", "template", "spec"),
    "CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}


class YamlImageError(ValueError):
    """The YAML cannot be read, or an image cannot be rewritten in place."""


@dataclass(frozen=True)
class ImageSite:
    """One image scalar: its value, where it is in the text, and how it is quoted."""

    image: str
    start: int
    end: int
    style: str  # "" (plain), "'" or '"'
    line: int  # 1-based, for messages
    where: str  # e.g. "Deployment/web containers[0] (app)"


def find_images(text: str, source: str = "<stdin>") -> list[ImageSite]:
    """Every container image in every document of `text`, in order of appearance."""
    try:
        documents = list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise YamlImageError(f"{source}: not valid YAML: {error}") from error
    seen: set[int] = set()
    sites = []
    for document in documents:
        for site in _object_images(document, text, source):
            if site.start not in seen:  # an alias repeats its anchor's node
                seen.add(site.start)
                sites.append(site)
    return sorted(sites, key=lambda site: site.start)


def _object_images(node: Node | None, text: str, source: str) -> Iterator[ImageSite]:
    if not isinstance(node, MappingNode):
        return
    kind = _scalar(_get(node, "kind"))
    if kind == "List" or (kind or "").endswith("List"):
        items = _get(node, "items")
        if isinstance(items, SequenceNode):
            for item in items.value:
                yield from _object_images(item, text, source)
        return
    path = POD_SPEC_PATHS.get(kind or "")
    if path is None:
        return
    spec: Node | None = node
    for key in path:
        spec = _get(spec, key)
    name = _scalar(_get(_get(node, "metadata"), "name")) or "?"
    for list_name in CONTAINER_LISTS:
        containers = _get(spec, list_name)
        if not isinstance(containers, SequenceNode):
            continue
        for index, container in enumerate(containers.value):
            image = _get(container, "image")
            if not isinstance(image, ScalarNode) or not image.value:
                continue
            container_name = _scalar(_get(container, "name")) or "?"
            where = f"{kind}/{name} {list_name}[{index}] ({container_name})"
            yield _site(image, text, f"{source}: {where}")


def _site(node: ScalarNode, text: str, where: str) -> ImageSite:
    line = node.start_mark.line + 1
    if node.style not in (None, "'", '"'):
        raise YamlImageError(
            f"{where}, line {line}: a block scalar image cannot be pinned in place"
        )
    return ImageSite(
        image=node.value,
        start=_value_start(text, node.start_mark.index, node.end_mark.index),
        end=node.end_mark.index,
        style=node.style or "",
        line=line,
        where=where,
    )


def _value_start(text: str, start: int, end: int) -> int:
    """Skip the node's properties (`&anchor`, `!tag`), which its start mark includes."""
    while start < end and text[start] in "&!":
        while start < end and not text[start].isspace():
            start += 1
        while start < end and text[start].isspace():
            start += 1
    return start


def _get(node: Node | None, key: str) -> Node | None:
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None


def _scalar(node: Node | None) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None
