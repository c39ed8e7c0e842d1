"""The composition root: built from settings once, serving the real registry, closed in order."""

from __future__ import annotations

import gc
import pickle
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import grpc
from imagepin.v1 import resolver_pb2 as pb
from imagepin.v1 import resolver_pb2_grpc
from imagepin_server import store
from imagepin_server.__main__ import load_registries
from imagepin_server.app import GC_YOUNGEST_THRESHOLD, Application, settle_garbage_collection
from imagepin_server.config import Settings
from imagepin_server.registry import load_config

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import free_port

REGISTRIES = """
[defaults]
retries = 1

[registries."harbor.example.com"]
username = "robot"
password = "not-shown"
mirrors = ["https://mirror.example.com"]
"""


@asynccontextmanager
async def running(tmp_path: Path, **settings: Any) -> AsyncIterator[Application]:
    """An Application on a free port and its own SQLite file, stopped afterwards."""
    application = Application(
        Settings(
            listen=f"127.0.0.1:{free_port()}",
            database_url=f"sqlite:///{tmp_path / 'app.db'}",
            **settings,
        ).validate(),
        load_config(None),
    )
    await application.start()
    try:
        yield application
    finally:
        await application.stop()


async def resolve_over_grpc(application: Application, reference: str) -> str:
    """The digest the running application's ResolveReference answers."""
    async with grpc.aio.insecure_channel(f"127.0.0.1:{application.grpc.port}") as channel:
        stub = resolver_pb2_grpc.ResolverServiceStub(channel)
        answer = await stub.ResolveReference(
            pb.ResolveReferenceRequest(reference=reference), timeout=30
        )
    return answer.digest


async def test_an_application_serves_resolutions_and_indexes_them(
    tmp_path: Path, pushed_images: ImageCatalog
) -> None:
    """One Application: the use cases answer over gRPC, and a resolved digest reaches the layer
    index through the indexer the root wired in (no part patched after construction)."""
    image = pushed_images.app_a
    async with running(tmp_path, index_layers=True) as application:  # opt-in (costs GETs)
        assert await resolve_over_grpc(application, image.reference) == image.digest
        await application.indexer.idle()
        async with application.database.session() as session:
            assert await store.has_image_layers(session, image.digest)


async def test_without_layer_indexing_nothing_is_scheduled(
    tmp_path: Path, pushed_images: ImageCatalog
) -> None:
    image = pushed_images.app_b
    async with running(tmp_path, index_layers=False) as application:
        assert await resolve_over_grpc(application, image.reference) == image.digest
        assert application.deps.on_resolved is None
        async with application.database.session() as session:
            assert not await store.has_image_layers(session, image.digest)


def test_the_parsed_registries_file_crosses_to_worker_processes(tmp_path: Path) -> None:
    """Workers are spawned with the file as parsed once at start, not reading it again."""
    path = tmp_path / "registries.toml"
    path.write_text(REGISTRIES)
    parsed = load_registries(Settings(registries_config=path))
    assert parsed.host("harbor.example.com").credentials is not None
    assert pickle.loads(pickle.dumps(parsed)) == parsed  # noqa: S301 - our own bytes, as spawn


def test_a_bad_registries_file_stops_the_start_naming_the_setting(tmp_path: Path) -> None:
    path = tmp_path / "registries.toml"
    path.write_text("[defaults]\nretries = 'many'\n")
    binary = str(Path(sys.executable).with_name("imagepin-server"))
    result = subprocess.run(
        [binary, "--registries-config", str(path), "--listen", f"127.0.0.1:{free_port()}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert "IMAGEPIN_REGISTRIES_CONFIG" in result.stderr
    assert "retries" in result.stderr
    assert "Traceback" not in result.stderr


def test_what_was_made_to_start_is_frozen_and_young_collections_come_less_often() -> None:
    threshold, frozen = gc.get_threshold(), gc.get_freeze_count()
    try:
        settle_garbage_collection()
        assert gc.get_threshold()[0] == GC_YOUNGEST_THRESHOLD
        assert gc.get_freeze_count() > frozen
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
