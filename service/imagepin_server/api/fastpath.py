"""Warm ResolveReference hits answered from bytes serialised once.

A plain request (a reference and nothing else) for a tag whose answer is in the tag cache and
young enough gets the response the servicer gave last time, serialised then; only `age` is
encoded per call. The bytes are exactly what the slow path would serialise (tests compare
them), since a cache hit's response depends only on the reference and the cached answer.

An entry is served only while the tag cache holds the very answer it was made from (the tag
cache tells this cache of every answer it replaces or drops), and there are at most as many
entries as the tag cache holds tags: the tag cache's bound is this cache's. A hit costs a dict
lookup, a size check and the age: the warm path's Python is what limits a warm call's rate.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Final

from imagepin.v1 import resolver_pb2 as pb

from imagepin_server import core
from imagepin_server.api import convert
from imagepin_server.core.cache import TagKey

_AGE_FIELD: Final = pb.ResolveReferenceResponse.DESCRIPTOR.fields_by_name["age"].number
_AGE_TAG: Final = bytes([(_AGE_FIELD << 3) | 2])  # length-delimited
_AFTER_AGE: Final = tuple(
    f.name for f in pb.ResolveReferenceResponse.DESCRIPTOR.fields if f.number > _AGE_FIELD
)
_BEFORE_AGE: Final = tuple(
    f.name for f in pb.ResolveReferenceResponse.DESCRIPTOR.fields if f.number < _AGE_FIELD
)


def _varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_age(age_s: float) -> bytes:
    """The `age` field as protobuf encodes the Duration of `timedelta(seconds=age_s)` (to the
    microsecond, like the slow path's; at most 19 bytes, so its length is one byte)."""
    seconds, micros = divmod(round(age_s * 1_000_000), 1_000_000)
    body = (b"\x08" + _varint(seconds) if seconds else b"") + (
        b"\x10" + _varint(micros * 1000) if micros else b""
    )
    return _AGE_TAG + bytes((len(body),)) + body


@dataclass(frozen=True, slots=True)
class WarmAnswer:
    key: TagKey
    observed_monotonic: float  # of the tag cache's answer this was made from
    plain_size: int  # the serialised size of a request holding only this reference
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
        self._max_entries = max_entries
        self._entries: dict[str, WarmAnswer] = {}  # by the reference as the caller wrote it
        self._references: dict[TagKey, set[str]] = {}  # the entries made from each tag's answer
        self._freshness_s = deps.policy.max_staleness.total_seconds()
        deps.caches.tags.on_change(self._forget)

    def lookup(self, request: pb.ResolveReferenceRequest) -> tuple[bytes, WarmAnswer] | None:
        """The serialised response for a warm hit, or None for the slow path to answer (the
        caller counts the hit: api/interceptors.py)."""
        entry = self._entries.get(request.reference)
        # Any field beside the reference (known or not) makes the request larger.
        if entry is None or request.ByteSize() != entry.plain_size:
            return None
        age_s = self._deps.monotonic() - entry.observed_monotonic
        if age_s > self._freshness_s:
            return None
        return entry.before_age + encode_age(max(age_s, 0.0)) + entry.after_age, entry

    def remember(self, request: pb.ResolveReferenceRequest, resolution: core.Resolution) -> None:
        """After the slow path answered a plain tag request, keep what a later hit will say."""
        ref = resolution.reference
        if ref.tag is None or ref.digest is not None or not is_plain(request):
            return
        if resolution.source not in (core.Source.CACHE, core.Source.REGISTRY):
            return
        if self._freshness_s <= 0 or self._max_entries <= 0:
            return  # the server never answers from memory
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
        text = request.reference
        self._drop(text)
        while len(self._entries) >= self._max_entries:
            self._drop(next(iter(self._entries)))  # the oldest made
        plain_size = pb.ResolveReferenceRequest(reference=text).ByteSize()
        self._entries[text] = WarmAnswer(
            key,
            answer.observed_monotonic,
            plain_size,
            before,
            after,
            ref.registry,
            str(resolution.digest),
        )
        self._references.setdefault(key, set()).add(text)

    def _forget(self, key: TagKey) -> None:
        """The tag cache replaced or dropped `key`'s answer: what was made from it goes."""
        for text in self._references.pop(key, ()):
            self._entries.pop(text, None)

    def _drop(self, text: str) -> None:
        entry = self._entries.pop(text, None)
        if entry is None:
            return
        texts = self._references.get(entry.key)
        if texts is not None:
            texts.discard(text)
            if not texts:
                del self._references[entry.key]


def _without(
    response: pb.ResolveReferenceResponse, names: tuple[str, ...]
) -> pb.ResolveReferenceResponse:
    part = pb.ResolveReferenceResponse()
    part.CopyFrom(response)
    for name in names:
        part.ClearField(name)
    return part
