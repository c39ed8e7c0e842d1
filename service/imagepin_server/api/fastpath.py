"""Warm ResolveReference hits answered from bytes serialised once.

A plain request (a reference and nothing else) for a tag whose answer is in the tag cache and
young enough gets the response the servicer gave last time, serialised then; only `age` is
encoded per call. The bytes are exactly what the slow path would serialise (tests compare
them), since a cache hit's response depends only on the reference and the cached answer.

An entry is served only while the tag cache holds the very answer it was made from, and there
are at most as many entries as the tag cache holds tags: the tag cache's bound is this cache's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

from cachetools import LRUCache
from imagepin.v1 import resolver_pb2 as pb

from imagepin_server import core, metrics
from imagepin_server.api import convert
from imagepin_server.core.cache import TagAnswer, TagKey

_AGE_FIELD: Final = pb.ResolveReferenceResponse.DESCRIPTOR.fields_by_name["age"].number
_AGE_TAG: Final = bytes([(_AGE_FIELD << 3) | 2])  # length-delimited
_AFTER_AGE: Final = tuple(
    f.name for f in pb.ResolveReferenceResponse.DESCRIPTOR.fields if f.number > _AGE_FIELD
)
_BEFORE_AGE: Final = tuple(
    f.name for f in pb.ResolveReferenceResponse.DESCRIPTOR.fields if f.number < _AGE_FIELD
)


def _append_varint(out: bytearray, value: int) -> None:
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)


def encode_age(age: timedelta) -> bytes:
    """The `age` field as protobuf encodes a Duration made by `FromTimedelta` (at most 19
    bytes, so its length is one byte)."""
    seconds = age.days * 86400 + age.seconds
    nanos = age.microseconds * 1000
    out = bytearray(_AGE_TAG)
    out.append(0)  # the length, set below
    if seconds:
        out.append(0x08)  # field 1, varint
        _append_varint(out, seconds)
    if nanos:
        out.append(0x10)  # field 2, varint
        _append_varint(out, nanos)
    out[len(_AGE_TAG)] = len(out) - len(_AGE_TAG) - 1
    return bytes(out)


@dataclass(frozen=True, slots=True)
class WarmAnswer:
    key: TagKey
    answer: TagAnswer  # the tag cache entry this was made from
    before_age: bytes  # fields numbered below `age`, serialised
    after_age: bytes  # fields numbered above it
    registry: str  # for the access log line
    digest: str


def is_plain(request: pb.ResolveReferenceRequest) -> bool:
    """Only a reference: no platform, no staleness bounds, no rollout key, no children."""
    return not (
        request.rollout_key
        or request.include_children
        or request.HasField("platform")
        or request.HasField("max_staleness")
        or request.HasField("stale_if_error")
        or request.HasField("max_negative_age")
    )


class WarmAnswers:
    """Serialised responses for plain warm hits, bounded by the tag cache's entry count."""

    def __init__(self, deps: core.Dependencies, max_entries: int) -> None:
        self._deps = deps
        self._entries: LRUCache[str, WarmAnswer] = LRUCache(maxsize=max_entries)
        self._hit = metrics.CACHE_LOOKUPS.labels("tag", "hit")

    def lookup(self, request: pb.ResolveReferenceRequest) -> tuple[bytes, WarmAnswer] | None:
        """The serialised response for a warm hit, or None for the slow path to answer."""
        entry = self._entries.get(request.reference)
        if entry is None or not is_plain(request):
            return None
        answer = self._deps.caches.tags.get(entry.key)
        if answer is not entry.answer:
            return None
        age = answer.age(self._deps.monotonic())
        freshness = self._deps.policy.max_staleness
        if age > freshness or not freshness:  # too old, or the server never answers from memory
            return None
        self._hit.inc()
        return entry.before_age + encode_age(age) + entry.after_age, entry

    def remember(self, request: pb.ResolveReferenceRequest, resolution: core.Resolution) -> None:
        """After the slow path answered a plain tag request, keep what a later hit will say."""
        ref = resolution.reference
        if ref.tag is None or ref.digest is not None or not is_plain(request):
            return
        if resolution.source not in (core.Source.CACHE, core.Source.REGISTRY):
            return
        key: TagKey = (ref.registry, ref.repository, ref.tag)
        answer = self._deps.caches.tags.get(key)
        if (
            answer is None
            or answer.digest != resolution.resolved_digest
            or answer.observed_at != resolution.observed_at
        ):
            return
        hit = replace(resolution, source=core.Source.CACHE, age=timedelta(0))
        response = convert.resolution_to_proto(hit)
        response.ClearField("age")
        whole = response.SerializeToString()
        before = _without(response, _AFTER_AGE).SerializeToString()
        after = _without(response, _BEFORE_AGE).SerializeToString()
        if before + after != whole:  # maps serialised in another order: not worth the risk
            return
        self._entries[request.reference] = WarmAnswer(
            key, answer, before, after, ref.registry, str(resolution.digest)
        )


def _without(
    response: pb.ResolveReferenceResponse, names: tuple[str, ...]
) -> pb.ResolveReferenceResponse:
    part = pb.ResolveReferenceResponse()
    part.CopyFrom(response)
    for name in names:
        part.ClearField(name)
    return part
