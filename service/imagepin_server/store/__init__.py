"""Persistence for imagepin: every stretch of time a tag pointed at a digest, for auditing; a cache
of manifests and configs by digest; an index of which images contain which layers; and the
digest decided for each rollout; and the tags being followed (watched), with a polling lease each.

Depends only on SQLAlchemy/Alembic and the standard library (never on gRPC or the
registry client).  One :class:`Database` per process; one session per request.
"""

from .contents import MAX_CONTENT_SIZE, StoredContent, get_content, get_contents, put_content
from .database import (
    DEFAULT_DATABASE_URL,
    SUPPORTED_SCHEMES,
    Database,
    alembic_config,
    async_url,
    head_revision,
    safe_url,
)
from .errors import ContentRejected, StoreError, StoreFailed, StoreUnavailable
from .follows import (
    FollowedTagKey,
    FollowedTagRecord,
    follow_tag,
    followed_tag,
    followed_tags,
    release_lease,
    sweep_follows,
    take_lease,
)
from .layers import (
    ImageWithLayerRecord,
    IndexChild,
    LayerRow,
    has_image_layers,
    images_with_layer,
    record_image_layers,
    record_index_children,
)
from .models import (
    Base,
    Content,
    FollowedTag,
    ImageLayer,
    IndexChildRow,
    RepositoryContent,
    RolloutDecision,
    TagMapping,
    TagRow,
    UtcDateTime,
)
from .rollouts import (
    RolloutDecisionRecord,
    RolloutSubject,
    decide_rollout,
    rollout_decision,
    sweep_decisions,
)
from .tags import (
    TagMappingRecord,
    TagObservation,
    latest_mapping,
    record_tag_observation,
    record_tag_observations,
    tag_history,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "MAX_CONTENT_SIZE",
    "SUPPORTED_SCHEMES",
    "Base",
    "Content",
    "ContentRejected",
    "Database",
    "FollowedTag",
    "FollowedTagKey",
    "FollowedTagRecord",
    "ImageLayer",
    "ImageWithLayerRecord",
    "IndexChild",
    "IndexChildRow",
    "LayerRow",
    "RepositoryContent",
    "RolloutDecision",
    "RolloutDecisionRecord",
    "RolloutSubject",
    "StoreError",
    "StoreFailed",
    "StoreUnavailable",
    "StoredContent",
    "TagMapping",
    "TagMappingRecord",
    "TagObservation",
    "TagRow",
    "UtcDateTime",
    "alembic_config",
    "async_url",
    "decide_rollout",
    "follow_tag",
    "followed_tag",
    "followed_tags",
    "get_content",
    "get_contents",
    "has_image_layers",
    "head_revision",
    "images_with_layer",
    "latest_mapping",
    "put_content",
    "record_image_layers",
    "record_index_children",
    "record_tag_observation",
    "record_tag_observations",
    "release_lease",
    "rollout_decision",
    "safe_url",
    "sweep_decisions",
    "sweep_follows",
    "tag_history",
    "take_lease",
]
