"""`imagepin watch`, run as the real command against the real server: a JSON line for the
current digest, another when skopeo moves the tag, and a clean exit on Ctrl-C (SIGINT)."""

from __future__ import annotations

import asyncio
import datetime
import json
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from queue import Empty, Queue

import pytest
from imagepin import AsyncResolverClient, ResolverClient
from imagepin.errors import InvalidArgument

from tests.support.image_fixtures import ImageCatalog
from tests.support.server_fixtures import RunningServer
from tests.support.skopeo import copy_to_registry

IMAGEPIN = str(Path(sys.executable).with_name("imagepin"))
LINE_WAIT_S = 30.0


class Lines:
    """stdout of a process, line by line, read by a thread so each wait has a deadline."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._queue: Queue[str] = Queue()
        assert process.stdout is not None
        stdout = process.stdout
        threading.Thread(
            target=lambda: [self._queue.put(line) for line in stdout], daemon=True
        ).start()

    def next(self) -> dict[str, str]:
        try:
            return json.loads(self._queue.get(timeout=LINE_WAIT_S))  # type: ignore[no-any-return]
        except Empty:
            raise AssertionError(f"no line from imagepin watch within {LINE_WAIT_S}s") from None


@pytest.fixture
def watching(
    service: RunningServer, pushed_images: ImageCatalog
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    registry = pushed_images.registry
    copy_to_registry(pushed_images.layout_dir, "app-a", registry, "cli/watch", "1.0")
    reference = f"{registry.host}/cli/watch:1.0"
    process = subprocess.Popen(
        [IMAGEPIN, "watch", "--server", service.target, "--interval", "1s", reference],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield reference, process
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)


def test_watch_prints_a_json_line_per_event_until_interrupted(
    watching: tuple[str, subprocess.Popen[str]], pushed_images: ImageCatalog
) -> None:
    reference, process = watching
    lines = Lines(process)
    first = lines.next()
    assert first == {
        "reference": reference,
        "previous_digest": "",
        "digest": pushed_images.app_a.digest,
        "observed_at": first["observed_at"],
        "source": "TAG_EVENT_SOURCE_POLL",
    }
    registry = pushed_images.registry
    copy_to_registry(pushed_images.layout_dir, "app-b", registry, "cli/watch", "1.0")
    moved = lines.next()
    assert (moved["previous_digest"], moved["digest"]) == (
        pushed_images.app_a.digest,
        pushed_images.app_b.digest,
    )
    assert moved["source"] == "TAG_EVENT_SOURCE_POLL"
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=LINE_WAIT_S) == 0
    assert process.stderr is not None
    assert "Traceback" not in process.stderr.read()


async def test_the_async_client_watches_and_maps_errors(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    registry = pushed_images.registry
    digest = copy_to_registry(pushed_images.layout_dir, "app-a", registry, "cli/aio", "1.0")
    reference = f"{registry.host}/cli/aio:1.0"
    async with AsyncResolverClient(service.target) as client:
        events = client.watch_tags([reference], interval=datetime.timedelta(seconds=5))
        async with asyncio.timeout(LINE_WAIT_S):
            first = await anext(events)
        await events.aclose()
        assert (first.reference, first.digest, first.previous_digest) == (reference, digest, "")
        with pytest.raises(InvalidArgument):
            async for _ in client.watch_tags([f"{reference}@sha256:{'a' * 64}"]):
                pass


def test_the_blocking_client_maps_errors(service: RunningServer) -> None:
    with ResolverClient(service.target) as client, pytest.raises(InvalidArgument):
        next(iter(client.watch_tags(["redis"], interval=datetime.timedelta(milliseconds=10))))
