"""Which format a file is, by its name and its content, and the images it names.

Dockerfiles by name (`Dockerfile`, `Containerfile`, `*.Dockerfile`, `Dockerfile.*`) or by a
first instruction FROM/ARG; every other file is YAML, and each document is recognised by its
shape: a kustomization (by file name or `kind: Kustomization`), a Kubernetes object
(`apiVersion` + `kind`), a GitHub Actions workflow (`jobs:` and `on:`), a compose file
(`services:` whose values have `image`, or a compose file name).
"""

from __future__ import annotations

import re
from typing import Final

from imagepin.pin import compose, dockerfile, images, kustomize, yamltext
from imagepin.pin.sites import Note, Scan, substituted

YAML_SUFFIXES: Final = (".yaml", ".yml")
COMPOSE_NAME: Final = re.compile(r"^(?:docker-)?compose(?:[.-].*)?\.ya?ml$")


def is_candidate(name: str) -> bool:
    """What a directory walk reads: YAML files and Dockerfiles."""
    return (
        name.endswith(YAML_SUFFIXES)
        or name in kustomize.FILE_NAMES
        or (dockerfile.is_dockerfile_name(name))
    )


def scan_text(text: str, source: str, name: str = "") -> Scan:
    """Every image `text` names, in order of appearance; `name` is the file's base name."""
    by_name = dockerfile.is_dockerfile_name(name) and not name.endswith(YAML_SUFFIXES)
    if by_name or dockerfile.looks_like_dockerfile(text):
        return dockerfile.scan_dockerfile(text, source)
    found: list[str] = []
    scan = Scan("")
    for document in yamltext.documents(text, source):
        if kustomize.is_kustomization(document, name):
            kind, scanner = "kustomize", kustomize.scan_kustomization
        elif images.is_object(document):
            kind, scanner = "kubernetes", images.scan_object
        elif compose.is_workflow(document):
            kind, scanner = "workflow", compose.scan_workflow
        elif compose.is_compose(document) or COMPOSE_NAME.match(name):
            kind, scanner = "compose", compose.scan_compose
        else:
            continue
        scanner(document, text, source, scan)
        if kind not in found:
            found.append(kind)
    scan.format = "+".join(found)
    seen: set[int] = set()
    unique = []
    for site in sorted(scan.sites, key=lambda site: site.start):
        if site.start in seen:  # an alias repeats its anchor's node
            continue
        seen.add(site.start)
        if substituted(site.image):
            message = f"left alone: {site.image} is substituted (known only when it is used)"
            scan.notes.append(Note(site.source, site.line, message))
        else:
            unique.append(site)
    scan.sites = unique
    scan.notes.sort(key=lambda note: note.line)
    return scan
