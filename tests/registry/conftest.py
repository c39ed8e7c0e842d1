"""The scripted server the registry client tests share, one per module, reset per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.hostile_registry import HostileRegistry, launch_hostile_registry


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileRegistry]:
    with launch_hostile_registry() as registry:
        yield registry


@pytest.fixture
def hostile(hostile_server: HostileRegistry) -> HostileRegistry:
    """The module's server with a clean script."""
    hostile_server.reset()
    return hostile_server
