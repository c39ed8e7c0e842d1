"""Alembic environment for the imagepin store.

Two ways in:

* programmatically, from :meth:`imagepin_server.store.Database.migrate`, which hands over
  an open connection in ``config.attributes["connection"]`` (already inside a transaction);
* from the ``alembic`` command line, pointed at this directory
  (``alembic -x url=postgresql://... upgrade head``, or ``sqlalchemy.url`` in an ini file,
  or the ``IMAGEPIN_DATABASE_URL`` environment variable).
"""

from __future__ import annotations

import asyncio
import os
from logging.config import fileConfig

from alembic import context
from imagepin_server.store.database import DEFAULT_DATABASE_URL, Database, async_url
from imagepin_server.store.models import Base
from sqlalchemy import Connection

config = context.config
target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        # SQLite can only alter tables by copying them; batch mode does that for us.
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )


def _cli_url() -> str:
    return (
        context.get_x_argument(as_dictionary=True).get("url")
        or config.get_main_option("sqlalchemy.url")
        or os.environ.get("IMAGEPIN_DATABASE_URL")
        or DEFAULT_DATABASE_URL
    )


def run_migrations_offline() -> None:
    """Emit SQL to stdout (``alembic upgrade head --sql``) instead of running it."""
    context.configure(
        url=async_url(_cli_url()),
        target_metadata=target_metadata,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with_connection(connection: Connection) -> None:
    _configure(connection)
    with context.begin_transaction():
        context.run_migrations()


async def _run_online_cli() -> None:
    # Same engine set-up as the service (SQLite pragmas, parent directory, async driver).
    database = Database(_cli_url(), pool_size=1, max_overflow=0)
    try:
        async with database.engine.connect() as connection:
            await connection.run_sync(_run_with_connection)
            await connection.commit()
    finally:
        await database.close()


def run_migrations_online() -> None:
    """Run against a live database: the caller's connection, or one opened here."""
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with_connection(connection)
        return
    if config.config_file_name is not None and config.file_config.has_section("loggers"):
        fileConfig(config.config_file_name, disable_existing_loggers=False)
    asyncio.run(_run_online_cli())


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
