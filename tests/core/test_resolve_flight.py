"""The tag path's single flight, against the real registry: the first caller giving up does not
cancel the request the others share (test_resolve.py shows that they share one)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from imagepin_server import core, store
from imagepin_server.core.context import Dependencies
from imagepin_server.reference import parse

from tests.core.helpers import ManualClock, use_cases
from tests.support.image_fixtures import ImageCatalog


class CountingTransport(httpx.AsyncBaseTransport):
    """A real HTTP transport that notes every request a registry answered."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.answered: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        self.answered.append((request.method, request.url.path))
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
async def counted(
    sqlite_database: store.Database,
) -> AsyncIterator[tuple[Dependencies, CountingTransport]]:
    transport = CountingTransport()
    async with use_cases(sqlite_database, ManualClock(), transport=transport) as deps:
        yield deps, transport


def _manifest_requests(transport: CountingTransport) -> list[tuple[str, str]]:
    return [(method, path) for method, path in transport.answered if "/manifests/" in path]


async def test_the_first_callers_deadline_does_not_cancel_the_shared_request(
    pushed_images: ImageCatalog, counted: tuple[Dependencies, CountingTransport]
) -> None:
    deps, transport = counted
    image = pushed_images.schema2

    async def impatient() -> core.Resolution:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout_at(loop.time()):  # its deadline passes while it waits
            return await core.resolve(deps, parse(image.reference), None)

    first, second = await asyncio.gather(
        impatient(), core.resolve(deps, parse(image.reference), None), return_exceptions=True
    )
    assert isinstance(first, TimeoutError)
    assert isinstance(second, core.Resolution)
    assert str(second.digest) == image.digest
    assert _manifest_requests(transport) == [
        ("HEAD", f"/v2/{image.repository}/manifests/{image.tag}")
    ]
