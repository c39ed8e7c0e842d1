"""Where the images are in Kubernetes objects: containers of every kind that runs Pods, and
image volumes (`volumes[].image.reference`). An `image:` in a kind pin does not know is noted,
never silently skipped."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from yaml.nodes import MappingNode, Node, ScalarNode

from imagepin.pin import yamltext
from imagepin.pin.sites import ImageSite, Note, Scan

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


def is_object(node: Node | None) -> bool:
    """A Kubernetes object: `apiVersion` and `kind` (or a kind pin knows, apiVersion omitted)."""
    kind = yamltext.scalar(yamltext.get(node, "kind"))
    if kind is None:
        return False
    known = kind in POD_SPEC_PATHS or kind.endswith("List")
    return known or yamltext.get(node, "apiVersion") is not None


def scan_object(node: Node | None, text: str, source: str, scan: Scan) -> None:
    """Add the images of one object (or of every item of a List) to `scan`."""
    if not isinstance(node, MappingNode):
        return
    kind = yamltext.scalar(yamltext.get(node, "kind")) or ""
    if kind.endswith("List"):
        for item in yamltext.elements(yamltext.get(node, "items")):
            scan_object(item, text, source, scan)
        return
    name = yamltext.scalar(yamltext.get(yamltext.get(node, "metadata"), "name")) or "?"
    path = POD_SPEC_PATHS.get(kind)
    if path is None:
        for image in yamltext.image_keys(node):
            scan.notes.append(
                Note(
                    source,
                    yamltext.line(image),
                    f"left alone: image: {image.value} in {kind or 'an object without kind'}/"
                    f"{name}, a kind imagepin pin does not understand",
                )
            )
        return
    spec: Node | None = node
    for key in path:
        spec = yamltext.get(spec, key)
    scan.sites.extend(_pod_spec_images(spec, text, source, f"{kind}/{name}"))


def _pod_spec_images(spec: Node | None, text: str, source: str, owner: str) -> Iterator[ImageSite]:
    for list_name in CONTAINER_LISTS:
        for index, container in enumerate(yamltext.elements(yamltext.get(spec, list_name))):
            image = yamltext.get(container, "image")
            if not isinstance(image, ScalarNode) or not image.value:
                continue
            container_name = yamltext.scalar(yamltext.get(container, "name")) or "?"
            where = f"{owner} {list_name}[{index}] ({container_name})"
            yield yamltext.scalar_site(image, text, source, where)
    for index, volume in enumerate(yamltext.elements(yamltext.get(spec, "volumes"))):
        reference = yamltext.get(yamltext.get(volume, "image"), "reference")
        if not isinstance(reference, ScalarNode) or not reference.value:
            continue
        volume_name = yamltext.scalar(yamltext.get(volume, "name")) or "?"
        where = f"{owner} volumes[{index}] ({volume_name})"
        yield yamltext.scalar_site(reference, text, source, where)
