"""A real registry with its access log on, so tests count the requests imagepin really sent."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.registries import RunningRegistry, launch_registry

ACCESS_LOGGED = {"log": {"level": "info", "accesslog": {"disabled": False}}}


class CountedRegistry:
    """A real registry with its access log on, so tests count the requests it served."""

    def __init__(self, registry: RunningRegistry, log_path: Path) -> None:
        self.registry = registry
        self.log_path = log_path

    @property
    def host(self) -> str:
        return self.registry.host

    def count(self, method: str, path_pattern: str) -> int:
        """Requests served so far whose method and path match (path is a regex)."""
        pattern = re.compile(rf'"{method} /v2/{path_pattern} HTTP/1\.1"')
        return sum(1 for line in self.log_path.read_text().splitlines() if pattern.search(line))


@pytest.fixture(scope="module")
def counted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CountedRegistry]:
    workdir = tmp_path_factory.mktemp("counted-registry")
    with launch_registry(workdir, config_extra=ACCESS_LOGGED) as registry:
        yield CountedRegistry(registry, workdir / "registry.log")
