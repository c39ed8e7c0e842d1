"""Images in docker-compose files (`services.*.image`) and GitHub Actions workflows
(`jobs.*.container`, `jobs.*.services.*.image`, `docker://` in `uses:` steps)."""

from __future__ import annotations

from typing import Final

from yaml.nodes import Node, ScalarNode

from imagepin.pin import yamltext
from imagepin.pin.sites import Scan

DOCKER_USES: Final = "docker://"


def is_compose(node: Node | None) -> bool:
    """Top-level `services:` some of whose values name an `image`."""
    return any(
        yamltext.get(service, "image") is not None
        for _, service in yamltext.items(yamltext.get(node, "services"))
    )


def is_workflow(node: Node | None) -> bool:
    """Top-level `jobs:` and `on:` (the key as written: YAML 1.1 would read `on` as true)."""
    keys = {key for key, _ in yamltext.items(node)}
    return {"jobs", "on"} <= keys


def scan_compose(node: Node | None, text: str, source: str, scan: Scan) -> None:
    for name, service in yamltext.items(yamltext.get(node, "services")):
        image = yamltext.get(service, "image")
        if isinstance(image, ScalarNode) and image.value:
            scan.sites.append(yamltext.scalar_site(image, text, source, f"services.{name}"))


def scan_workflow(node: Node | None, text: str, source: str, scan: Scan) -> None:
    for job, body in yamltext.items(yamltext.get(node, "jobs")):
        container = yamltext.get(body, "container")
        if not isinstance(container, ScalarNode):
            container = yamltext.get(container, "image")
        if isinstance(container, ScalarNode) and container.value:
            where = f"jobs.{job}.container"
            scan.sites.append(yamltext.scalar_site(container, text, source, where))
        for name, service in yamltext.items(yamltext.get(body, "services")):
            image = yamltext.get(service, "image")
            if isinstance(image, ScalarNode) and image.value:
                where = f"jobs.{job}.services.{name}"
                scan.sites.append(yamltext.scalar_site(image, text, source, where))
        for index, step in enumerate(yamltext.elements(yamltext.get(body, "steps"))):
            uses = yamltext.get(step, "uses")
            if isinstance(uses, ScalarNode) and uses.value.startswith(DOCKER_USES):
                where = f"jobs.{job}.steps[{index}].uses"
                site = yamltext.scalar_site(uses, text, source, where, skip=len(DOCKER_USES))
                scan.sites.append(site)
