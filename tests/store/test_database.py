"""Database: URL mapping, migrations, SQLite set-up and connection-failure handling."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from imagepin_server.store import (
    DEFAULT_DATABASE_URL,
    Base,
    Database,
    StoreFailed,
    StoreUnavailable,
    TagObservation,
    async_url,
    head_revision,
    latest_mapping,
    record_tag_observation,
)
from imagepin_server.store.database import MIGRATIONS_DIR
from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

SECRET = "hunter2-not-for-logs"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite:///imagepin.db", "sqlite+aiosqlite:///imagepin.db"),
        ("sqlite:///data/sub/imagepin.db", "sqlite+aiosqlite:///data/sub/imagepin.db"),
        (
            "sqlite:////var/lib/imagepin/imagepin.db",
            "sqlite+aiosqlite:////var/lib/imagepin/imagepin.db",
        ),
        ("sqlite+aiosqlite:///x.db", "sqlite+aiosqlite:///x.db"),
        (
            "postgresql://pin@db.internal:5432/imagepin",
            "postgresql+psycopg://pin@db.internal:5432/imagepin",
        ),
        ("postgres://pin@db.internal/imagepin", "postgresql+psycopg://pin@db.internal/imagepin"),
        ("postgresql://pin:pw@db:5432/imagepin", "postgresql+psycopg://pin:pw@db:5432/imagepin"),
        ("postgresql+psycopg://pin@db/imagepin", "postgresql+psycopg://pin@db/imagepin"),
    ],
)
def test_async_url_maps_plain_urls_to_async_drivers(url: str, expected: str) -> None:
    assert async_url(url) == expected


def test_async_url_rejects_other_schemes_without_leaking_the_password() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mysql'") as info:
        async_url(f"mysql://root:{SECRET}@127.0.0.1/imagepin")
    message = str(info.value)
    assert "sqlite" in message
    assert "postgresql" in message
    assert SECRET not in message


def test_async_url_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="could not parse"):
        async_url(f"not a url {SECRET}")


def test_default_url_is_a_sqlite_file() -> None:
    assert async_url(DEFAULT_DATABASE_URL) == "sqlite+aiosqlite:///imagepin.db"


async def test_migrations_apply_from_empty_and_reach_head(database: Database) -> None:
    head = head_revision()
    assert head is not None
    assert await database.current_revision() == head

    await database.downgrade("base")
    assert await database.current_revision() is None
    async with database.engine.connect() as conn:
        tables = await conn.run_sync(lambda c: inspect(c).get_table_names())
    assert "tag_mappings" not in tables

    await database.migrate()
    assert await database.current_revision() == head
    await database.migrate()  # idempotent: a second start-up changes nothing
    assert await database.current_revision() == head

    seen = datetime(2024, 5, 1, tzinfo=UTC)
    async with database.transaction() as session:
        await record_tag_observation(
            session, TagObservation("docker.io", "library/redis", "7", "sha256:aa", "m", seen)
        )
    async with database.session() as session:
        assert await latest_mapping(session, "docker.io", "library/redis", "7") is not None


async def test_fresh_database_has_no_revision(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'new.db'}")
    try:
        assert await db.current_revision() is None
        await db.migrate()
        assert await db.current_revision() == head_revision()
    finally:
        await db.close()


async def test_migrated_schema_matches_the_models(database: Database) -> None:
    """The hand-written migration and the ORM models describe the same schema."""

    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    async with database.engine.connect() as conn:
        assert await conn.run_sync(diff) == []


async def test_concurrent_migrations_do_not_collide(database: Database) -> None:
    """Several replicas starting together all run `migrate()` against one database."""
    await database.downgrade("base")
    others = [Database(database.engine.url.render_as_string(hide_password=False)) for _ in range(3)]
    try:
        await asyncio.gather(database.migrate(), *(db.migrate() for db in others))
    finally:
        for db in others:
            await db.close()
    assert await database.current_revision() == head_revision()


async def test_sqlite_file_uses_wal_and_busy_timeout_and_creates_parents(tmp_path: Path) -> None:
    path = tmp_path / "does" / "not" / "exist" / "imagepin.db"
    db = Database(f"sqlite:///{path}")
    try:
        await db.migrate()
        async with db.engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 30_000
        assert path.is_file()
    finally:
        await db.close()


async def test_sqlite_relative_path_is_resolved_against_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    db = Database("sqlite:///state/imagepin.db")
    try:
        await db.migrate()
    finally:
        await db.close()
    assert (tmp_path / "state" / "imagepin.db").is_file()


async def test_sqlite_in_memory_keeps_one_database_for_all_sessions() -> None:
    db = Database("sqlite:///:memory:")
    try:
        await db.migrate()
        seen = datetime(2024, 5, 1, tzinfo=UTC)

        async def record(i: int) -> None:
            async with db.transaction() as session:
                obs = TagObservation("docker.io", "library/redis", "7", f"sha256:{i}", "m", seen)
                await record_tag_observation(session, obs)

        await asyncio.gather(*(record(i) for i in range(10)))
        async with db.session() as session:
            count = (await session.execute(text("SELECT count(*) FROM tag_mappings"))).scalar()
        assert count == 10
    finally:
        await db.close()


async def test_unreachable_postgresql_raises_store_unavailable_without_password() -> None:
    db = Database(f"postgresql://postgres:{SECRET}@127.0.0.1:1/x")
    try:
        with pytest.raises(StoreUnavailable) as info:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
        message = str(info.value)
        assert SECRET not in message
        assert "127.0.0.1:1" in message
        assert "***" in message

        with pytest.raises(StoreUnavailable) as info:
            await db.migrate()
        assert SECRET not in str(info.value)
        with pytest.raises(StoreUnavailable):
            await db.current_revision()
        assert SECRET not in repr(db)
        assert SECRET not in db.url
    finally:
        await db.close()


async def test_sql_errors_are_store_failures_not_unavailability(database: Database) -> None:
    with pytest.raises(StoreFailed) as info:
        async with database.session() as session:
            await session.execute(text("SELECT * FROM no_such_table"))
    assert not isinstance(info.value, StoreUnavailable)
    assert isinstance(info.value.__cause__, DBAPIError)
    assert "no_such_table" in str(info.value)


async def test_alembic_command_line_can_drive_the_migrations(tmp_path: Path) -> None:
    """Operators can point the stock `alembic` CLI at the migrations directory."""
    ini = tmp_path / "alembic.ini"
    ini.write_text(f"[alembic]\nscript_location = {MIGRATIONS_DIR}\n")
    db_url = f"sqlite:///{tmp_path / 'cli' / 'imagepin.db'}"
    command = [sys.executable, "-m", "alembic", "-c", str(ini), "-x", f"url={db_url}"]
    process = await asyncio.create_subprocess_exec(
        *command, "upgrade", "head", stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output, _ = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 0, output.decode()

    db = Database(db_url)
    try:
        assert await db.current_revision() == head_revision()
    finally:
        await db.close()
