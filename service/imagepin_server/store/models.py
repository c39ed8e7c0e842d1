"""ORM models of the store: the tag history (tags, tag_mappings), the content cache, the layer
index, the digest decided for each rollout, and the tags being followed.

The schema itself is owned by the hand-written Alembic migrations in ``migrations/``;
this module must stay in step with them (the tests compare the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
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
CONTENT_KIND_LENGTH = 16
PLATFORM_LENGTH = 255  # "os/architecture/variant", e.g. "linux/arm64/v8"
ROLLOUT_KEY_LENGTH = 256  # the contract's bound on rollout_key (in bytes, so also in characters)
LEASE_HOLDER_LENGTH = 128  # "host:pid:random" of the process polling a followed tag

#: The kinds of content the cache holds.
CONTENT_KINDS = ("manifest", "config")
#: Largest blob the content cache accepts (manifests and configs are small; 8 MiB is generous).
MAX_CONTENT_SIZE = 8 * 1024 * 1024


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
DigestPk = Annotated[str, mapped_column(String(DIGEST_LENGTH), primary_key=True)]
Size = Annotated[int, mapped_column(BigInteger())]
Position = Annotated[int, mapped_column(Integer())]
MediaType = Annotated[str, mapped_column(String(MEDIA_TYPE_LENGTH))]
UtcTimestamp = Annotated[datetime, mapped_column(UtcDateTime())]


class Base(DeclarativeBase):
    """Declarative base carrying the shared metadata and its naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class TagRow(Base):
    """A tag imagepin has seen: the row writers lock to decide about its stretches (0003).

    Deciding whether an observation extends the current stretch or starts a new one reads
    the stretches first, so concurrent writers (tasks, replicas) of one tag must take turns:
    they insert this row if absent and lock it (``SELECT ... FOR UPDATE``) before reading.
    """

    __tablename__ = "tags"

    registry_name: Mapped[Registry] = mapped_column("registry", primary_key=True)
    repository: Mapped[Repository] = mapped_column(primary_key=True)
    tag: Mapped[Tag] = mapped_column(primary_key=True)

    def __repr__(self) -> str:
        return f"TagRow({self.registry_name}/{self.repository}:{self.tag})"


class TagMapping(Base):
    """One stretch of time a tag pointed at one digest, first to last observation in it.

    A tag that went A -> B -> A has three rows (0003 dropped the one-row-per-digest rule).
    """

    __tablename__ = "tag_mappings"
    __table_args__ = (
        Index(None, "registry", "repository", "tag", "last_seen"),
        # Finding the stretch a late observation falls in (added by 0003).
        Index(None, "registry", "repository", "tag", "first_seen"),
        # "Which tags point at these digests?" (images_with_layer); added by 0002.
        Index(None, "digest"),
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


class Content(Base):
    """A manifest or config blob, keyed by its digest; immutable once stored."""

    __tablename__ = "contents"
    __table_args__ = (
        CheckConstraint("kind IN ('manifest', 'config')", name="kind"),
        CheckConstraint("size >= 0", name="size"),
    )

    digest: Mapped[DigestPk]
    media_type: Mapped[MediaType]
    kind: Mapped[str] = mapped_column(String(CONTENT_KIND_LENGTH))
    size: Mapped[Size]
    # BLOB on SQLite, bytea on PostgreSQL.
    content: Mapped[bytes] = mapped_column(LargeBinary())
    stored_at: Mapped[UtcTimestamp]

    def __repr__(self) -> str:
        return f"Content({self.digest}, {self.kind}, {self.media_type}, size={self.size})"


class RepositoryContent(Base):
    """``digest`` was seen in ``registry/repository``: content is only served there."""

    __tablename__ = "repository_contents"
    __table_args__ = (Index(None, "digest"),)

    registry_name: Mapped[Registry] = mapped_column("registry", primary_key=True)
    repository: Mapped[Repository] = mapped_column(primary_key=True)
    digest: Mapped[Digest] = mapped_column(
        ForeignKey(Content.digest, ondelete="CASCADE"), primary_key=True
    )
    first_seen: Mapped[UtcTimestamp]

    def __repr__(self) -> str:
        return (
            f"RepositoryContent({self.registry_name}/{self.repository}@{self.digest}, "
            f"first_seen={self.first_seen!r})"
        )


class ImageLayer(Base):
    """Layer ``position`` of the image manifest ``manifest_digest``."""

    __tablename__ = "image_layers"
    __table_args__ = (
        Index(None, "layer_digest"),
        Index(None, "diff_id"),
    )

    manifest_digest: Mapped[Digest] = mapped_column(primary_key=True)
    position: Mapped[Position] = mapped_column(primary_key=True)
    layer_digest: Mapped[Digest]
    # The uncompressed digest from the image config; "" when unknown.
    diff_id: Mapped[Digest]
    media_type: Mapped[MediaType]
    size: Mapped[Size]

    def __repr__(self) -> str:
        return f"ImageLayer({self.manifest_digest}[{self.position}] = {self.layer_digest})"


class IndexChildRow(Base):
    """The image index ``index_digest`` lists ``child_digest`` at ``position``."""

    __tablename__ = "index_children"
    __table_args__ = (Index(None, "child_digest"),)

    index_digest: Mapped[Digest] = mapped_column(primary_key=True)
    child_digest: Mapped[Digest] = mapped_column(primary_key=True)
    position: Mapped[Position]
    # "os/architecture[/variant]", "" when the index gives no platform.
    platform: Mapped[str] = mapped_column(String(PLATFORM_LENGTH))

    def __repr__(self) -> str:
        return (
            f"IndexChildRow({self.index_digest}[{self.position}] = {self.child_digest}, "
            f"platform={self.platform!r})"
        )


class RolloutDecision(Base):
    """The digest the first request with ``rollout_key`` got for a tag (and platform).

    One row per (key, reference, platform), written insert-if-absent so every replica reuses
    the first; rows older than the retention are ignored and swept.
    """

    __tablename__ = "rollout_decisions"
    __table_args__ = (
        UniqueConstraint(
            "rollout_key",
            "registry",
            "repository",
            "tag",
            "platform",
            # Explicit: the convention's name would pass PostgreSQL's 63-character limit.
            name="uq_rollout_decisions_decision",
        ),
        Index(None, "decided_at"),
    )

    id: Mapped[BigIntPk]
    rollout_key: Mapped[str] = mapped_column(String(ROLLOUT_KEY_LENGTH))
    registry_name: Mapped[Registry] = mapped_column("registry")
    repository: Mapped[Repository]
    tag: Mapped[Tag]
    # "os/architecture[/variant]" as requested (normalised), "" when no platform was asked for.
    platform: Mapped[str] = mapped_column(String(PLATFORM_LENGTH))
    # What the tag pointed at (the index, for an index), not the platform's child.
    digest: Mapped[Digest]
    media_type: Mapped[MediaType]
    decided_at: Mapped[UtcTimestamp]

    def __repr__(self) -> str:
        return (
            f"RolloutDecision({self.rollout_key!r}: {self.registry_name}/{self.repository}:"
            f"{self.tag} [{self.platform}] -> {self.digest}, decided_at={self.decided_at!r})"
        )


class FollowedTag(Base):
    """A tag somebody watches (WatchTags): resumed after a restart while ``wanted_until`` has
    not passed, and polled by the one replica holding its lease (``lease_holder`` until
    ``lease_expires_at``); the others read what it records."""

    __tablename__ = "followed_tags"
    __table_args__ = (
        UniqueConstraint("registry", "repository", "tag", name="uq_followed_tags_tag"),
        Index(None, "wanted_until"),
    )

    id: Mapped[BigIntPk]
    registry_name: Mapped[Registry] = mapped_column("registry")
    repository: Mapped[Repository]
    tag: Mapped[Tag]
    # The poll interval asked for, in milliseconds (the shortest live request).
    interval_ms: Mapped[int] = mapped_column(Integer())
    # Followed until then: renewed while somebody watches, then kept for the follow retention.
    wanted_until: Mapped[UtcTimestamp]
    # Which process polls the tag (``host:pid:random``), until when; NULL when nobody does.
    lease_holder: Mapped[str | None] = mapped_column(String(LEASE_HOLDER_LENGTH), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)

    def __repr__(self) -> str:
        return (
            f"FollowedTag({self.registry_name}/{self.repository}:{self.tag} every "
            f"{self.interval_ms} ms, lease {self.lease_holder} until {self.lease_expires_at!r})"
        )
