"""ORM model of the tag -> digest audit table.

The schema itself is owned by the hand-written Alembic migrations in ``migrations/``;
this module must stay in step with them (the tests compare the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Dialect,
    Index,
    Integer,
    MetaData,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

#: Deterministic constraint names, so migrations can refer to them on every backend.
NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

REGISTRY_LENGTH = 255
REPOSITORY_LENGTH = 255
TAG_LENGTH = 128  # the OCI distribution spec caps tags at 128 characters
DIGEST_LENGTH = 7 + 128  # "sha512:" + 128 hex digits, the longest registered algorithm
MEDIA_TYPE_LENGTH = 255  # RFC 6838: type and subtype are 127 characters each


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always read back as an aware UTC ``datetime``.

    PostgreSQL gets ``timestamptz``; SQLite has no time zones, so the value is stored as
    naive UTC text (which also sorts correctly).  Naive datetimes are refused instead of
    being guessed at, because a wrong guess silently shifts the audit trail.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime, got {type(value).__name__}")
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("naive datetime: timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"database returned {type(value).__name__}, expected datetime")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# Reusable column types.
BigIntPk = Annotated[
    int,
    mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True),
]
Registry = Annotated[str, mapped_column(String(REGISTRY_LENGTH))]
Repository = Annotated[str, mapped_column(String(REPOSITORY_LENGTH))]
Tag = Annotated[str, mapped_column(String(TAG_LENGTH))]
Digest = Annotated[str, mapped_column(String(DIGEST_LENGTH))]
MediaType = Annotated[str, mapped_column(String(MEDIA_TYPE_LENGTH))]
UtcTimestamp = Annotated[datetime, mapped_column(UtcDateTime())]


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and its naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TagMapping(Base):
    """One tag -> digest pairing, with when it was first and last observed."""

    __tablename__ = "tag_mappings"
    __table_args__ = (
        UniqueConstraint("registry", "repository", "tag", "digest"),
        Index(None, "registry", "repository", "tag", "last_seen"),
    )

    id: Mapped[BigIntPk]
    # ``registry`` is reserved by DeclarativeBase (it holds the mapper registry), so the
    # attribute gets another name; the column is still called "registry".
    registry_name: Mapped[Registry] = mapped_column("registry")
    repository: Mapped[Repository]
    tag: Mapped[Tag]
    digest: Mapped[Digest]
    media_type: Mapped[MediaType]
    first_seen: Mapped[UtcTimestamp]
    last_seen: Mapped[UtcTimestamp]

    def __repr__(self) -> str:
        return (
            f"TagMapping({self.registry_name}/{self.repository}:{self.tag} -> {self.digest}, "
            f"first_seen={self.first_seen!r}, last_seen={self.last_seen!r})"
        )
