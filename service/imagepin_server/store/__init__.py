"""Persistence for imagepin: every tag -> digest mapping it has seen, for auditing.

Depends only on SQLAlchemy/Alembic and the standard library (never on gRPC or the
registry client).  One :class:`Database` per process; one session per request.
"""

from .database import (
    DEFAULT_DATABASE_URL,
    SUPPORTED_SCHEMES,
    Database,
    alembic_config,
    async_url,
    head_revision,
    safe_url,
)
from .errors import StoreError, StoreUnavailable
from .models import Base, TagMapping, UtcDateTime
from .tags import (
    TagMappingRecord,
    TagObservation,
    latest_mapping,
    record_tag_observation,
    tag_history,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SUPPORTED_SCHEMES",
    "Base",
    "Database",
    "StoreError",
    "StoreUnavailable",
    "TagMapping",
    "TagMappingRecord",
    "TagObservation",
    "UtcDateTime",
    "alembic_config",
    "async_url",
    "head_revision",
    "latest_mapping",
    "record_tag_observation",
    "safe_url",
    "tag_history",
]
