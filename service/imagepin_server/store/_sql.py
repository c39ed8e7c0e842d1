"""Small helpers shared by the store's query modules (not part of the public API)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from typing import Any, Final, TypeVar, cast

from sqlalchemy import CursorResult, delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

T = TypeVar("T")

#: Upper bound on the bound parameters of one ``IN (...)`` list or multi-row INSERT, far
#: below the limits of both backends (SQLite 32766, PostgreSQL 65535).
MAX_BATCH: Final = 1000


def require_aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got naive {value!r}")


def require_transaction(session: AsyncSession, function: str) -> None:
    """Writes need a transaction the caller began, else they would be silently rolled back."""
    if not session.in_transaction():
        raise RuntimeError(
            f"{function}() needs a transaction owned by the caller: "
            "use `async with session.begin():` around it"
        )


def require_limit(limit: int | None) -> None:
    if limit is not None and limit < 0:
        raise ValueError(f"limit must not be negative, got {limit}")


def dialect_of(session: AsyncSession) -> str:
    """``"sqlite"`` or ``"postgresql"``: the backend the session's statements go to."""
    return session.get_bind().dialect.name


def dialect_insert(session: AsyncSession) -> Callable[..., Any]:
    """The dialect's ``insert`` construct, which has ``on_conflict_do_nothing/do_update``."""
    dialect = dialect_of(session)
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    raise NotImplementedError(f"no upsert for dialect {dialect!r}")  # pragma: no cover


def batches(items: Sequence[T], size: int = MAX_BATCH) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


async def delete_bounded(session: AsyncSession, model: Any, condition: Any, limit: int) -> int:
    """Delete at most ``limit`` rows of ``model`` (lowest ids first) matching ``condition``;
    how many went. Bounded so a sweep never holds locks on a large table for long."""
    chosen = select(model.id).where(condition).order_by(model.id).limit(limit)
    result = cast(
        CursorResult[Any], await session.execute(delete(model).where(model.id.in_(chosen)))
    )
    return int(result.rowcount)
