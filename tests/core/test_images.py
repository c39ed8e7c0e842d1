"""Parsing what registries serve: hostile shapes give UnsupportedContent, never a crash."""

from __future__ import annotations

import json

import pytest
from imagepin_server import mediatypes
from imagepin_server.core.images import parse_config, parse_manifest
from imagepin_server.errors import UnsupportedContent

DIGEST = "sha256:" + "a" * 64


def manifest(**overrides: object) -> bytes:
    document: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": mediatypes.OCI_MANIFEST,
        "config": {"mediaType": mediatypes.OCI_CONFIG, "digest": DIGEST, "size": 2},
        "layers": [],
    }
    document.update(overrides)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
        (manifest(schemaVersion=2**31), "schemaVersion is out of range"),
        (
            manifest(config={"mediaType": "x", "digest": DIGEST, "size": 2**63}),
            "config.size is out of range",
        ),
        (
            manifest(config={"mediaType": "x", "digest": DIGEST, "size": -1}),
            "config.size is out of range",
        ),
        (manifest(schemaVersion=1), "schema 1"),
        (manifest(layers="nope"), "layers is not a list"),
    ],
)
def test_hostile_manifests_are_unsupported_content(raw: bytes, says: str) -> None:
    with pytest.raises(UnsupportedContent, match=says):
        parse_manifest(raw, mediatypes.OCI_MANIFEST)


def test_lone_surrogates_in_a_config_are_replaced() -> None:
    config = parse_config(b'{"config": {"Labels": {"a": "x\\ud800"}, "Env": ["\\udfff"]}}')
    assert config.labels == {"a": "x?"}
    assert config.env == ("?",)
    assert config.labels["a"].encode("utf-8")  # protobuf can send it
