"""Resolution goes on while PostgreSQL restarts, and every mapping is written once it is back.

The cluster restarted is the throwaway one the suite started itself (``restart_postgres``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from datetime import datetime

import httpx
import psycopg
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from imagepin.v1 import resolver_pb2 as pb
from imagepin_server import store

from tests.support.image_fixtures import ImageCatalog
from tests.support.server_fixtures import RunningServer

TAGS = 40


def _started_at(url: str) -> datetime:
    """When the server behind `url` was (re)started, to prove the restart happened."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        row = conn.execute("SELECT pg_postmaster_start_time()").fetchone()
    assert row is not None
    started: datetime = row[0]
    return started


def _restart_in_background(
    restart: Callable[[], None],
) -> tuple[threading.Thread, list[BaseException]]:
    """A thread that restarts PostgreSQL, and where it puts the error if that fails."""
    errors: list[BaseException] = []

    def run() -> None:
        try:
            restart()
        except BaseException as exc:
            errors.append(exc)

    return threading.Thread(target=run), errors


def _tag_everything(registry_url: str, repository: str, manifest: bytes, media_type: str) -> None:
    """Point TAGS new tags at one manifest with the registry's own API (fast set-up)."""
    with httpx.Client(base_url=registry_url, timeout=10) as client:
        for i in range(TAGS):
            answer = client.put(
                f"/v2/{repository}/manifests/outage-{i}",
                content=manifest,
                headers={"Content-Type": media_type},
            )
            assert answer.status_code == 201, answer.text


async def _recorded_tags(url: str, registry: str, repository: str) -> set[str]:
    database = store.Database(url)
    try:
        found = set()
        async with database.session() as session:
            for i in range(TAGS):
                if await store.latest_mapping(session, registry, repository, f"outage-{i}"):
                    found.add(f"outage-{i}")
        return found
    finally:
        await database.close()


@pytest.mark.postgres
def test_resolutions_during_a_postgres_restart_are_all_recorded(
    restart_postgres: Callable[[], None],
    postgres_server: RunningServer,
    pushed_images: ImageCatalog,
) -> None:
    started_before = _started_at(postgres_server.database_url)
    image = pushed_images.single
    _tag_everything(
        pushed_images.registry.url, image.repository, image.raw_manifest, image.media_type
    )
    restarter, restart_errors = _restart_in_background(restart_postgres)
    answers: list[str] = []
    for i in range(TAGS):
        if i == 5:
            restarter.start()
        request = pb.ResolveReferenceRequest(
            reference=f"{image.registry}/{image.repository}:outage-{i}"
        )
        answers.append(postgres_server.stub.ResolveReference(request, timeout=20).digest)
        time.sleep(0.05)
    restarter.join(90)
    assert not restarter.is_alive(), "the PostgreSQL restart did not finish"
    assert restart_errors == []
    assert _started_at(postgres_server.database_url) > started_before, "PostgreSQL never restarted"
    assert answers == [image.digest] * TAGS, "resolution must not depend on the database"

    deadline = time.monotonic() + 40
    recorded: set[str] = set()
    while time.monotonic() < deadline:
        try:
            recorded = asyncio.run(
                _recorded_tags(postgres_server.database_url, image.registry, image.repository)
            )
        except store.StoreError:
            recorded = set()
        if len(recorded) == TAGS:
            break
        time.sleep(0.5)
    assert len(recorded) == TAGS, sorted({f"outage-{i}" for i in range(TAGS)} - recorded)

    health = health_pb2_grpc.HealthStub(postgres_server.channel)
    deadline = time.monotonic() + 10
    status = None
    while time.monotonic() < deadline:
        status = health.Check(health_pb2.HealthCheckRequest(service="imagepin.store")).status
        if status == health_pb2.HealthCheckResponse.SERVING:
            break
        time.sleep(0.2)
    assert status == health_pb2.HealthCheckResponse.SERVING
