"""Reading the distribution registry's notification envelopes: only manifest pushes to a tag
become hints; everything else is skipped, and what is not an envelope is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from imagepin_server.api.notifications import MAX_EVENTS, NotAnEnvelope, push_events

DIGEST = "sha256:" + "c" * 64


def event(**changes: Any) -> dict[str, Any]:
    """A push event as distribution 2.8 sends it (trimmed to what imagepin reads)."""
    base: dict[str, Any] = {
        "action": "push",
        "target": {
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "digest": DIGEST,
            "repository": "team/app",
            "url": f"http://registry.local:5000/v2/team/app/manifests/{DIGEST}",
            "tag": "1.0",
        },
        "request": {"host": "registry.local:5000", "method": "PUT"},
    }
    target = {**base["target"], **changes.pop("target", {})}
    return {**base, **changes, "target": target}


def body(*events: dict[str, Any]) -> bytes:
    return json.dumps({"events": list(events)}).encode()


def test_a_manifest_push_to_a_tag_is_a_hint() -> None:
    [push] = push_events(body(event()))
    assert str(push.reference) == "registry.local:5000/team/app:1.0"
    assert str(push.digest) == DIGEST


def test_the_url_names_the_registry_when_the_request_has_no_host() -> None:
    [push] = push_events(body(event(request={})))
    assert push.reference.registry == "registry.local:5000"


@pytest.mark.parametrize(
    "skipped",
    [
        event(action="pull"),
        event(action="delete"),
        event(target={"tag": ""}),  # a push by digest
        event(target={"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip"}),  # a blob
        event(target={"digest": "sha256:short"}),
        event(target={"repository": "Not Valid"}),
        event(target={"tag": "1.0@sha256:" + "c" * 64}),
        "not an object",
    ],
)
def test_other_events_are_skipped(skipped: Any) -> None:
    assert push_events(body(skipped, event())) == push_events(body(event()))


def test_at_most_max_events_are_read_from_one_envelope() -> None:
    assert len(push_events(body(*[event()] * (MAX_EVENTS + 5)))) == MAX_EVENTS


@pytest.mark.parametrize("bad", [b"not json", b"[]", b'{"events": {}}', b"{}"])
def test_what_is_not_an_envelope_is_refused(bad: bytes) -> None:
    with pytest.raises(NotAnEnvelope):
        push_events(bad)
