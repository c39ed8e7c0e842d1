"""The use cases: resolve (one or many, per rollout), get a manifest, list layers, verify, audit."""

from imagepin_server.core.audit import (
    ImageWithLayer,
    TagHistory,
    TagMove,
    images_with_layer,
    tag_history,
)
from imagepin_server.core.batch import BatchItem, BatchOutcome, resolve_many
from imagepin_server.core.context import Dependencies, Policy
from imagepin_server.core.images import Platform
from imagepin_server.core.inspect import LayerListing, ManifestView, get_manifest, list_layers
from imagepin_server.core.layer_index import BackgroundIndexer
from imagepin_server.core.recorder import ObservationRecorder
from imagepin_server.core.resolve import Resolution, Source, resolve
from imagepin_server.core.rollout import resolve_with_rollout
from imagepin_server.core.verify import Verification, VerifyMode, verify

__all__ = [
    "BackgroundIndexer",
    "BatchItem",
    "BatchOutcome",
    "Dependencies",
    "ImageWithLayer",
    "LayerListing",
    "ManifestView",
    "ObservationRecorder",
    "Platform",
    "Policy",
    "Resolution",
    "Source",
    "TagHistory",
    "TagMove",
    "Verification",
    "VerifyMode",
    "get_manifest",
    "images_with_layer",
    "list_layers",
    "resolve",
    "resolve_many",
    "resolve_with_rollout",
    "tag_history",
    "verify",
]
