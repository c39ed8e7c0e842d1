"""The write queue: observations wait while the database is away, within a bound."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from imagepin_server import store
from imagepin_server.core.recorder import ObservationRecorder

UNREACHABLE = "postgresql://imagepin:secret-password@127.0.0.1:1/nowhere"


def observation(tag: str, offset_s: int = 0) -> store.TagObservation:
    return store.TagObservation(
        registry="registry.example",
        repository="team/app",
        tag=tag,
        digest="sha256:" + "a" * 64,
        media_type="application/vnd.oci.image.manifest.v1+json",
        seen_at=datetime.now(UTC) + timedelta(seconds=offset_s),
    )


async def test_observations_are_queued_not_raised_when_the_database_is_down(
    caplog: pytest.LogCaptureFixture,
) -> None:
    changes: list[bool] = []
    database = store.Database(UNREACHABLE)
    recorder = ObservationRecorder(database, queue_limit=3, on_health_change=changes.append)
    try:
        for i in range(5):
            await recorder.record(observation(f"t{i}"))
        assert recorder.pending == 3
        assert recorder.dropped == 2
        assert not recorder.healthy
        assert changes == [False]
        assert "secret-password" not in caplog.text
        assert "queueing" in caplog.text
    finally:
        await recorder.aclose()
        await database.close()


async def test_queued_observations_are_written_when_the_database_answers(tmp_path: Path) -> None:
    database = store.Database(f"sqlite:///{tmp_path / 'db.sqlite'}")
    await database.migrate()
    changes: list[bool] = []
    recorder = ObservationRecorder(database, on_health_change=changes.append)
    try:
        # The database is up: writes go straight through and nothing is queued.
        await recorder.record(observation("live"))
        assert recorder.pending == 0
        async with database.session() as session:
            assert await store.latest_mapping(session, "registry.example", "team/app", "live")
        assert changes == []
    finally:
        await recorder.aclose()
        await database.close()


async def test_a_database_that_refuses_writes_queues_them_instead_of_failing(
    tmp_path: Path,
) -> None:
    """Not only unreachable: a database that answers with an error (here: no tables yet)."""
    database = store.Database(f"sqlite:///{tmp_path / 'unmigrated.db'}")
    recorder = ObservationRecorder(database)
    try:
        await recorder.record(observation("refused"))
        assert recorder.pending == 1
        assert not recorder.healthy
    finally:
        await recorder.aclose()
        await database.close()
