"""A store call under the one bound on database waits: required, or best effort.

Every read and write the use cases make goes through here, so how long imagepin waits for the
database is one named constant and what a database failure becomes is decided once. A required
call (tag history, the layer search, rollout decisions, observations) raises
errors.StoreUnavailable, with the database's details in the log and not in the message callers
see. A best-effort call (the content cache, the layer index, the stale fallback's read) returns
the caller's default instead: losing it costs a registry request or an index entry later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Final, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from imagepin_server import errors, store

log = logging.getLogger("imagepin.store")

STORE_TIMEOUT_S: Final = 2.0  # the longest any one store call may take

T = TypeVar("T")
Query = Callable[[AsyncSession], Awaitable[T]]


async def store_call(
    database: store.Database,
    query: Query[T],
    *,
    write: bool = False,
    timeout_s: float = STORE_TIMEOUT_S,
) -> T:
    """Run `query` in a session (a transaction with `write`); StoreUnavailable if it fails."""
    try:
        return await _bounded(database, query, write=write, timeout_s=timeout_s)
    except TimeoutError as exc:
        raise errors.StoreUnavailable(f"the database did not answer within {timeout_s:g}s") from exc
    except (store.StoreError, OSError) as exc:
        # The details (database host, user, driver message) go to the log, not to callers.
        log.warning("database call failed", extra={"fields": {"error": str(exc)[:300]}})
        raise errors.StoreUnavailable(
            "imagepin's database is unavailable; try again later (the server log has details)"
        ) from exc


async def best_effort(
    database: store.Database, query: Query[T], *, default: T, what: str, write: bool = False
) -> T:
    """Run `query` like store_call, but answer `default` (and say so at debug) if it fails."""
    try:
        return await _bounded(database, query, write=write, timeout_s=STORE_TIMEOUT_S)
    except (store.StoreError, TimeoutError, OSError) as exc:
        log.debug("%s skipped: the database did not answer (%s)", what, str(exc)[:300] or "timeout")
        return default


async def _bounded(
    database: store.Database, query: Query[T], *, write: bool, timeout_s: float
) -> T:
    opened = database.transaction if write else database.session
    async with asyncio.timeout(timeout_s), opened() as session:
        return await query(session)
