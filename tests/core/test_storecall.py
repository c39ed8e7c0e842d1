"""The one helper for store calls: required calls raise StoreUnavailable, best effort defaults."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from imagepin_server import errors, store
from imagepin_server.core.storecall import best_effort, store_call

UNREACHABLE = "postgresql://imagepin:secret-password@127.0.0.1:1/nowhere"


async def _latest(session: Any) -> store.TagMappingRecord | None:
    return await store.latest_mapping(session, "registry.example", "team/app", "1")


async def test_a_required_call_answers_what_the_store_says(sqlite_database: store.Database) -> None:
    assert await store_call(sqlite_database, _latest) is None


async def test_an_unreachable_database_is_store_unavailable_without_its_details(
    caplog: pytest.LogCaptureFixture,
) -> None:
    database = store.Database(UNREACHABLE)
    try:
        with pytest.raises(errors.StoreUnavailable) as refused:
            await store_call(database, _latest)
        assert "secret-password" not in refused.value.message
        assert "127.0.0.1" not in refused.value.message
        assert "database call failed" in caplog.text
        assert "secret-password" not in caplog.text
        assert await best_effort(database, _latest, default=None, what="a read") is None
    finally:
        await database.close()


async def test_a_database_that_refuses_is_store_unavailable_too(tmp_path: Path) -> None:
    """Answering with an error (here: no tables yet) is the store's failure, not INTERNAL."""
    database = store.Database(f"sqlite:///{tmp_path / 'unmigrated.db'}")
    try:
        with pytest.raises(errors.StoreUnavailable):
            await store_call(database, _latest)
        assert await best_effort(database, _latest, default=None, what="a read") is None
    finally:
        await database.close()


async def test_a_call_longer_than_its_bound_is_store_unavailable(
    sqlite_database: store.Database,
) -> None:
    never = asyncio.Event()

    async def hangs(session: Any) -> None:
        await never.wait()

    with pytest.raises(errors.StoreUnavailable) as late:
        await store_call(sqlite_database, hangs, timeout_s=0.01)
    assert "did not answer within 0.01s" in late.value.message


async def test_a_write_commits_and_best_effort_returns_the_answer(
    sqlite_database: store.Database,
) -> None:
    written = await best_effort(
        sqlite_database,
        lambda session: store.has_image_layers(session, "sha256:" + "a" * 64),
        default=True,
        what="a read",
    )
    assert written is False  # the store's answer, not the default
    await store_call(
        sqlite_database,
        lambda session: store.record_image_layers(
            session,
            "sha256:" + "a" * 64,
            [store.LayerRow(0, "sha256:" + "b" * 64, "", "application/octet-stream", 1)],
        ),
        write=True,
    )
    assert await store_call(
        sqlite_database, lambda session: store.has_image_layers(session, "sha256:" + "a" * 64)
    )
