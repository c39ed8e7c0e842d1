"""Engine, sessions and migrations for the imagepin database.

One :class:`Database` is created per process and kept open for its whole life, so the
connection pool is reused; every request takes its own session from :meth:`Database.session`
(sessions are never shared between tasks).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, NoReturn

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool

from .errors import StoreFailed, StoreUnavailable

__all__ = [
    "DEFAULT_DATABASE_URL",
    "MIGRATIONS_DIR",
    "SUPPORTED_SCHEMES",
    "Database",
    "alembic_config",
    "async_url",
    "head_revision",
    "safe_url",
]

log = logging.getLogger(__name__)

DEFAULT_DATABASE_URL: Final = "sqlite:///imagepin.db"
MIGRATIONS_DIR: Final = Path(__file__).resolve().parent / "migrations"

SQLITE_BUSY_TIMEOUT_MS: Final = 30_000
POSTGRES_CONNECT_TIMEOUT_S: Final = 10

# User-facing scheme -> async SQLAlchemy driver.  Already-async spellings pass through.
_DRIVERS: Final[dict[str, str]] = {
    "sqlite": "sqlite+aiosqlite",
    "sqlite+aiosqlite": "sqlite+aiosqlite",
    "postgresql": "postgresql+psycopg",
    "postgres": "postgresql+psycopg",
    "postgresql+psycopg": "postgresql+psycopg",
}
SUPPORTED_SCHEMES: Final = ("sqlite", "postgresql", "postgres")

# Arbitrary constant: serialises migrations when several replicas start at once.
_MIGRATION_LOCK_ID: Final = 0x1A6E_914E

# Execution option that makes our SQLite BEGIN take the write lock up front.
_SQLITE_IMMEDIATE: Final = "imagepin_sqlite_begin_immediate"


def _to_async_url(url: str) -> URL:
    """Parse ``url`` and swap its scheme for the async driver, or raise ``ValueError``."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        # The text may contain a password, so it is not repeated here.
        raise ValueError(
            "could not parse the database URL; expected e.g. "
            "sqlite:///path/to/imagepin.db or postgresql://user@host:5432/dbname"
        ) from None
    driver = _DRIVERS.get(parsed.drivername.lower())
    if driver is None:
        raise ValueError(
            f"unsupported database URL scheme {parsed.drivername!r}; "
            f"supported schemes: {', '.join(SUPPORTED_SCHEMES)} "
            "(for example sqlite:///imagepin.db or postgresql://user@host:5432/imagepin)"
        )
    return parsed.set(drivername=driver)


def async_url(url: str) -> str:
    """Map a plain ``sqlite://`` / ``postgresql://`` URL to its async-driver form.

    Users configure ordinary URLs; which async driver the service uses is an internal
    detail.  The result keeps the password, so never log it; use :func:`safe_url`.
    """
    return _to_async_url(url).render_as_string(hide_password=False)


def safe_url(url: str | URL) -> str:
    """Render a URL for messages and logs, with any password masked."""
    try:
        parsed = url if isinstance(url, URL) else make_url(url)
    except ArgumentError:
        return "<unparseable database URL>"
    return parsed.render_as_string(hide_password=True)


def _is_sqlite_memory(url: URL) -> bool:
    return url.get_backend_name() == "sqlite" and url.database in (None, "", ":memory:")


def alembic_config(connection: Connection | None = None) -> Config:
    """Build the Alembic configuration in code, so no alembic.ini is needed at runtime."""
    config = Config()
    # ConfigParser interpolation: a "%" in the install path must be escaped.
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    """The newest migration revision shipped with this code."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _install_sqlite_hooks(engine: AsyncEngine, *, wal: bool) -> None:
    """Per-connection SQLite settings and explicit transaction control.

    The sqlite3 module's own implicit BEGIN handling is switched off so that SQLAlchemy's
    transactions map to real SQLite transactions (DDL included, which keeps migrations
    atomic), as recommended by the SQLAlchemy SQLite dialect documentation.
    """

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            # busy_timeout first: switching to WAL needs a lock another connection may hold.
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            if wal:
                cursor.execute("PRAGMA journal_mode = WAL")
                cursor.execute("PRAGMA synchronous = NORMAL")
            cursor.execute("PRAGMA foreign_keys = ON")
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_SQLITE_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Database:
    """The process-wide handle on the imagepin database: engine, pool and migrations."""

    def __init__(
        self,
        url: str,
        *,
        pool_size: int = 5,
        max_overflow: int = 10,
        echo: bool = False,
    ) -> None:
        engine_url = _to_async_url(url)
        backend = engine_url.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo, "poolclass": AsyncAdaptedQueuePool}
        if backend == "sqlite":
            memory = _is_sqlite_memory(engine_url)
            if memory:
                # Every SQLite connection to ":memory:" opens its own empty database, so
                # a single pooled connection is kept and sessions take turns on it.
                engine_url = engine_url.set(database=":memory:")
                kwargs.update(pool_size=1, max_overflow=0)
            else:
                path = Path(engine_url.database or "").expanduser()
                path = path if path.is_absolute() else Path.cwd() / path
                path.parent.mkdir(parents=True, exist_ok=True)
                engine_url = engine_url.set(database=str(path))
                kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
        else:
            connect_args: dict[str, Any] = {}
            if "connect_timeout" not in engine_url.query:
                connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
            kwargs.update(
                pool_size=pool_size,
                max_overflow=max_overflow,
                pool_pre_ping=True,  # survive database restarts over a long-lived pool
                connect_args=connect_args,
            )
            memory = False
        self._url = engine_url
        self._engine = create_async_engine(engine_url, **kwargs)
        if backend == "sqlite":
            _install_sqlite_hooks(self._engine, wal=not memory)
        self._sessions = async_sessionmaker(self._engine, expire_on_commit=False)

    def __repr__(self) -> str:
        return f"Database({self.url!r})"

    @property
    def url(self) -> str:
        """The engine URL with the password masked, safe to log."""
        return self._url.render_as_string(hide_password=True)

    @property
    def engine(self) -> AsyncEngine:
        """The underlying engine (for tests and diagnostics; prefer :meth:`session`)."""
        return self._engine

    @property
    def dialect_name(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self._engine.dialect.name

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A fresh session for one request; the caller owns its transactions.

        Typical use::

            async with db.session() as session, session.begin():
                await record_tag_observation(session, obs)

        Connection failures surface as :class:`StoreUnavailable`, every other database error
        as :class:`StoreFailed`; neither message holds a password.
        """
        try:
            async with self._sessions() as session:
                yield session
        except DBAPIError as exc:
            self._raise_if_unavailable(exc)
            raise StoreFailed(f"database error: {_cause(self._url, exc)}") from exc
        except OverflowError as exc:  # SQLite refuses integers past 64 bits before any SQL runs
            raise StoreFailed(f"database refused a value: {exc}") from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A fresh session already inside a transaction: commits on success, else rolls back."""
        async with self.session() as session, session.begin():
            yield session

    async def migrate(self) -> None:
        """Upgrade the schema to the newest revision (Alembic ``upgrade head``).

        Safe to call on every start-up and from several replicas at once: the upgrade runs
        in one transaction under a database-wide lock.
        """
        await self._run_alembic(lambda cfg: command.upgrade(cfg, "head"))

    async def downgrade(self, revision: str = "base") -> None:
        """Downgrade the schema to ``revision`` (``"base"`` drops every table)."""
        await self._run_alembic(lambda cfg: command.downgrade(cfg, revision))

    async def current_revision(self) -> str | None:
        """The revision the database is at, or ``None`` if it was never migrated."""

        def _current(connection: Connection) -> str | None:
            return MigrationContext.configure(connection).get_current_revision()

        try:
            async with self._engine.connect() as connection:
                return await connection.run_sync(_current)
        except DBAPIError as exc:
            self._raise_if_unavailable(exc)
            raise

    async def close(self) -> None:
        """Close every pooled connection; call once at shutdown."""
        await self._engine.dispose()

    async def __aenter__(self) -> Database:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

    async def _run_alembic(self, action: Callable[[Config], None]) -> None:
        def _run(connection: Connection) -> None:
            action(alembic_config(connection))

        try:
            async with self._engine.connect() as connection:
                await self._lock_for_migration(connection)
                async with connection.begin():
                    if self.dialect_name == "postgresql":
                        await connection.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": _MIGRATION_LOCK_ID},
                        )
                    await connection.run_sync(_run)
        except DBAPIError as exc:
            self._raise_if_unavailable(exc)
            raise
        log.info("database %s migrated", self.url)

    async def _lock_for_migration(self, connection: AsyncConnection) -> None:
        if self.dialect_name == "sqlite":
            # BEGIN IMMEDIATE: take the write lock before Alembic reads its version table.
            await connection.execution_options(**{_SQLITE_IMMEDIATE: True})

    def _raise_if_unavailable(self, exc: DBAPIError) -> None:
        """Turn "cannot reach the database" errors into :class:`StoreUnavailable`.

        Errors raised while connecting carry no statement; a connection that died under
        a statement is flagged ``connection_invalidated``.  Anything else (constraint
        violations, SQL errors) is a bug or a conflict, not unavailability, and is left as is.
        """
        if exc.statement is None or exc.connection_invalidated:
            _raise_unavailable(self._url, exc)


def _cause(url: URL, exc: DBAPIError) -> str:
    """The driver's own explanation, on one line, with the URL's password masked."""
    cause = str(exc.orig) if exc.orig is not None else type(exc).__name__
    if url.password:
        cause = cause.replace(str(url.password), "***")
    return "; ".join(line.strip() for line in cause.splitlines() if line.strip())[:300]


def _raise_unavailable(url: URL, exc: DBAPIError) -> NoReturn:
    raise StoreUnavailable(
        f"database {url.render_as_string(hide_password=True)} is unavailable: {_cause(url, exc)}"
    ) from exc
