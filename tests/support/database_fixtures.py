"""Real databases for the tests: a SQLite file per test, a PostgreSQL database per session.

Fixtures:

* ``database`` - a migrated :class:`~imagepin_server.store.Database`, parametrised over
  ``sqlite`` and ``postgresql`` (the latter marked ``postgres``); empty at the start of each test.
* ``postgres_cluster`` - a throwaway PostgreSQL cluster the session starts itself (see
  :mod:`tests.support.postgres_cluster`); the machine's own cluster is never touched.
* ``postgres_admin_url`` - where to create test databases: that cluster's superuser, unless
  ``IMAGEPIN_TEST_POSTGRES_URL`` names another server (then no cluster is started).
* ``restart_postgres`` - restarts the session's cluster (skips when the URL is overridden:
  the suite only ever restarts a cluster it started).
* ``postgres_database_url`` - a plain ``postgresql://`` URL of a database created for this
  test session (random ``imagepin_test_<hex>`` name) and dropped at its end.  Not migrated
  by itself: whatever uses it (the store fixtures, a server under test) runs the migrations.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from imagepin_server.store import Base, Database, safe_url
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import make_url

from tests.support.postgres_cluster import (
    PostgresCluster,
    PostgresClusterError,
    launch_postgres_cluster,
)

POSTGRES_ADMIN_URL_ENV = "IMAGEPIN_TEST_POSTGRES_URL"


def _libpq_url(url: str) -> str:
    """psycopg only understands postgresql:// (no "+driver"), with the password kept."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of the session's own, stopped and deleted at its end."""
    try:
        with launch_postgres_cluster() as cluster:
            yield cluster
    except PostgresClusterError as exc:
        pytest.fail(
            f"could not run a throwaway PostgreSQL cluster: {exc}\n"
            f"set {POSTGRES_ADMIN_URL_ENV}, or deselect with -m 'not postgres'",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def postgres_admin_url(request: pytest.FixtureRequest) -> str:
    """URL of a PostgreSQL database we may connect to in order to CREATE/DROP DATABASE.

    The cluster is only requested (and so started) when no override is set.
    """
    override = os.environ.get(POSTGRES_ADMIN_URL_ENV)
    if override:
        return override
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.admin_url


@pytest.fixture(scope="session")
def restart_postgres(request: pytest.FixtureRequest) -> Callable[[], None]:
    """Restart the session's own cluster (connections are cut; the pools reconnect)."""
    if os.environ.get(POSTGRES_ADMIN_URL_ENV):
        pytest.skip(
            f"{POSTGRES_ADMIN_URL_ENV} names a server the suite did not start; "
            "it only restarts its own cluster"
        )
    cluster: PostgresCluster = request.getfixturevalue("postgres_cluster")
    return cluster.restart


@pytest.fixture(scope="session")
def postgres_database_url(postgres_admin_url: str) -> Iterator[str]:
    """A brand-new, empty PostgreSQL database for this test session, dropped afterwards."""
    admin = _libpq_url(postgres_admin_url)
    name = f"imagepin_test_{secrets.token_hex(6)}"
    try:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    except psycopg.OperationalError as exc:
        pytest.fail(
            f"PostgreSQL at {safe_url(postgres_admin_url)} is not reachable ({exc}); "
            f"check {POSTGRES_ADMIN_URL_ENV}, or deselect with -m 'not postgres'",
            pytrace=False,
        )
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(admin, autocommit=True, connect_timeout=5) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture(scope="session")
async def _postgres_store(postgres_database_url: str) -> AsyncIterator[Database]:
    """One migrated Database (and pool) on the session's PostgreSQL database, reused by tests."""
    database = Database(postgres_database_url)
    await database.migrate()
    try:
        yield database
    finally:
        await database.close()


async def _reset(database: Database) -> None:
    """Bring the schema to head (a test may have downgraded it) and empty every table."""
    await database.migrate()
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    async with database.engine.begin() as conn:
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture
async def sqlite_database(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated Database on a SQLite file of its own."""
    database = Database(f"sqlite:///{tmp_path / 'imagepin.db'}")
    await database.migrate()
    try:
        yield database
    finally:
        await database.close()


@pytest.fixture
async def postgresql_database(_postgres_store: Database) -> Database:
    """The session's PostgreSQL Database, migrated and emptied for this test."""
    await _reset(_postgres_store)
    return _postgres_store


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def database(request: pytest.FixtureRequest) -> Database:
    """A migrated, empty Database on each supported backend.

    A plain fixture choosing between the async ones, so PostgreSQL is only touched
    (and its database only created) when a postgresql-parametrised test runs.
    """
    chosen: Database = request.getfixturevalue(f"{request.param}_database")
    return chosen
