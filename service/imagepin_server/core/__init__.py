"""The use cases: resolve (one or many, per rollout), get a manifest, list layers, verify, audit,
watch tags."""

from imagepin_server.core.attachments import Attachments, Referrer, ReferrerSource, SignatureCheck
from imagepin_server.core.audit import (
    ImageWithLayer,
    TagHistory,
    TagMove,
    images_with_layer,
    tag_history,
)
from imagepin_server.core.batch import BatchItem, BatchOutcome, resolve_many
from imagepin_server.core.context import Dependencies, Policy
from imagepin_server.core.followers import EventSource as TagEventSource
from imagepin_server.core.followers import Followers, TagEvent
from imagepin_server.core.images import Platform
from imagepin_server.core.inspect import LayerListing, ManifestView, get_manifest, list_layers
from imagepin_server.core.layer_index import BackgroundIndexer
from imagepin_server.core.recorder import ObservationRecorder
from imagepin_server.core.referrers import ReferrerListing, list_referrers
from imagepin_server.core.resolve import Resolution, Source, resolve
from imagepin_server.core.rollout import resolve_with_rollout
from imagepin_server.core.signatures import SignatureVerification, verify_signatures
from imagepin_server.core.tag_lists import TagLists
from imagepin_server.core.tags import TagPage, TagSelection, list_tags, select_tag
from imagepin_server.core.trust import TrustPolicies, TrustPolicyError, load_trust_policies
from imagepin_server.core.verify import Verification, VerifyMode, verify
from imagepin_server.core.watch import TagWatcher, watch_request

__all__ = [
    "Attachments",
    "BackgroundIndexer",
    "BatchItem",
    "BatchOutcome",
    "Dependencies",
    "Followers",
    "ImageWithLayer",
    "LayerListing",
    "ManifestView",
    "ObservationRecorder",
    "Platform",
    "Policy",
    "Referrer",
    "ReferrerListing",
    "ReferrerSource",
    "Resolution",
    "SignatureCheck",
    "SignatureVerification",
    "Source",
    "TagEvent",
    "TagEventSource",
    "TagHistory",
    "TagLists",
    "TagMove",
    "TagPage",
    "TagSelection",
    "TagWatcher",
    "TrustPolicies",
    "TrustPolicyError",
    "Verification",
    "VerifyMode",
    "get_manifest",
    "images_with_layer",
    "list_layers",
    "list_referrers",
    "list_tags",
    "load_trust_policies",
    "resolve",
    "resolve_many",
    "resolve_with_rollout",
    "select_tag",
    "tag_history",
    "verify",
    "verify_signatures",
    "watch_request",
]
