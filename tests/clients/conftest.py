"""Fixtures for the client-side tests: one real imagepin-server on the plain test registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.image_fixtures import ImageCatalog
from tests.support.server_fixtures import RunningServer, start_server, stop_server


@pytest.fixture(scope="session")
def service(
    tmp_path_factory: pytest.TempPathFactory, pushed_images: ImageCatalog
) -> Iterator[RunningServer]:
    """The real server; only the plain (loopback, so plain-HTTP) registry is needed here."""
    running = start_server(tmp_path_factory.mktemp("client-server"))
    yield running
    stop_server(running)
