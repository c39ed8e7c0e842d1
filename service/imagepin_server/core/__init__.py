"""The use cases: resolve (one or many, per rollout), get a manifest, list layers, verify, audit,
watch tags."""

from imagepin_server.core.audit import images_with_layer, tag_history
from imagepin_server.core.batch import BatchItem, BatchOutcome, resolve_many
from imagepin_server.core.context import Dependencies, Policy
from imagepin_server.core.images import Platform
from imagepin_server.core.inspect import LayerListing, ManifestView, get_manifest, list_layers
from imagepin_server.core.layer_index import BackgroundIndexer
from imagepin_server.core.recorder import ObservationRecorder
from imagepin_server.core.resolve import Resolution, Source, resolve
from imagepin_server.core.rollout import resolve_with_rollout
from imagepin_server.core.verify import Verification, verify
from imagepin_server.core.watch import EventSource as TagEventSource
from imagepin_server.core.watch import TagEvent, TagWatcher, watch_request

__all__ = [
    "BackgroundIndexer",
    "BatchItem",
    "BatchOutcome",
    "Dependencies",
    "LayerListing",
    "ManifestView",
    "ObservationRecorder",
    "Platform",
    "Policy",
    "Resolution",
    "Source",
    "TagEvent",
    "TagEventSource",
    "TagWatcher",
    "Verification",
    "get_manifest",
    "images_with_layer",
    "list_layers",
    "resolve",
    "resolve_many",
    "resolve_with_rollout",
    "tag_history",
    "verify",
    "watch_request",
]
