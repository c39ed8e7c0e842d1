"""YAML nodes with their place in the text, for the YAML formats (Kubernetes, compose, ...).

PyYAML's composer keeps each node's start and end offsets in the text, so a new value can be
spliced into exactly those characters, leaving every other byte (comments, indentation, quoting,
key order, line endings) as it was.
"""

from __future__ import annotations

from collections.abc import Iterator

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from imagepin.pin.sites import ImageSite, ScanError


def documents(text: str, source: str) -> list[Node | None]:
    """Every document of `text`, as nodes."""
    try:
        return list(yaml.compose_all(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as error:
        raise ScanError(f"{source}: not valid YAML: {error}") from error


def get(node: Node | None, key: str) -> Node | None:
    """The value of `key` in a mapping node (None when absent or not a mapping)."""
    if not isinstance(node, MappingNode):
        return None
    for key_node, value_node in node.value:
        if isinstance(key_node, ScalarNode) and key_node.value == key:
            return value_node  # type: ignore[no-any-return]
    return None


def scalar(node: Node | None) -> str | None:
    return node.value if isinstance(node, ScalarNode) else None


def items(node: Node | None) -> Iterator[tuple[str, Node]]:
    """(key, value) of a mapping node whose keys are scalars."""
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode):
                yield key_node.value, value_node


def elements(node: Node | None) -> list[Node]:
    return list(node.value) if isinstance(node, SequenceNode) else []


def line(node: Node) -> int:
    return int(node.start_mark.line) + 1


def scalar_site(node: ScalarNode, text: str, source: str, where: str, skip: int = 0) -> ImageSite:
    """The site of a scalar's value (after `skip` characters, e.g. `docker://`), quotes excluded.

    Only a value whose characters are written as they are (no escapes, no folding over lines)
    can be replaced in place.
    """
    start = value_start(text, node.start_mark.index, node.end_mark.index)
    end = node.end_mark.index
    if node.style in ("'", '"'):
        start, end = start + 1, end - 1
    if node.style not in (None, "'", '"') or text[start:end] != node.value:
        raise ScanError(
            f"{source}:{line(node)}: {where}: this image is written in a way "
            "(block scalar, escapes, several lines) that cannot be pinned in place"
        )
    return ImageSite(
        image=node.value[skip:],
        start=start + skip,
        end=end,
        line=line(node),
        source=source,
        where=where,
    )


def value_start(text: str, start: int, end: int) -> int:
    """Skip the node's properties (`&anchor`, `!tag`), which its start mark includes."""
    while start < end and text[start] in "&!":
        while start < end and not text[start].isspace():
            start += 1
        while start < end and text[start].isspace():
            start += 1
    return start


def image_keys(node: Node | None, seen: set[int] | None = None) -> Iterator[ScalarNode]:
    """Every scalar under an `image` key anywhere below `node` (for kinds pin does not know)."""
    seen = set() if seen is None else seen
    if node is None or id(node) in seen:  # an alias repeats (or contains) its anchor's node
        return
    seen.add(id(node))
    if isinstance(node, MappingNode):
        for key_node, value_node in node.value:
            is_image = isinstance(key_node, ScalarNode) and key_node.value == "image"
            if is_image and isinstance(value_node, ScalarNode) and value_node.value:
                yield value_node
                continue
            yield from image_keys(value_node, seen)
    elif isinstance(node, SequenceNode):
        for child in node.value:
            yield from image_keys(child, seen)
