"""The media-type predicates, and telling schema 1 by its body when its type says nothing."""

from __future__ import annotations

import json

import pytest
from imagepin_server import mediatypes

from tests.support.schema1 import sign_schema1

LAYER = "sha256:" + "b" * 64


def test_signed_schema1_is_schema1_by_type_and_by_body() -> None:
    signed = sign_schema1("old/app", "v1", [LAYER])
    assert mediatypes.is_schema1_manifest(mediatypes.DOCKER_SCHEMA1_SIGNED_MANIFEST, signed.raw)
    # Served as something else (a proxy that lost the type), the body still says schema 1.
    assert mediatypes.is_schema1_manifest("application/json", signed.raw)
    assert mediatypes.is_schema1_manifest(mediatypes.OCI_MANIFEST, signed.payload)


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps({"schemaVersion": 2, "mediaType": mediatypes.OCI_MANIFEST}).encode(),
        json.dumps({"schemaVersion": True}).encode(),  # a bool is not the integer 1
        json.dumps({"schemaVersion": "1"}).encode(),
        b"[1]",
        b"not json",
        b"\xff\xfe",
    ],
)
def test_other_bodies_are_not_schema1(raw: bytes) -> None:
    assert not mediatypes.is_schema1_manifest(mediatypes.OCI_MANIFEST, raw)


def test_a_schema1_media_type_in_the_body_is_schema1() -> None:
    raw = json.dumps({"mediaType": mediatypes.DOCKER_SCHEMA1_MANIFEST}).encode()
    assert mediatypes.is_schema1_manifest(mediatypes.OCI_MANIFEST, raw)


def test_config_media_types() -> None:
    assert mediatypes.is_image_config(mediatypes.OCI_CONFIG)
    assert mediatypes.is_image_config(mediatypes.DOCKER_CONFIG + "; charset=utf-8")
    assert not mediatypes.is_image_config(mediatypes.OCTET_STREAM)
    assert mediatypes.may_be_image_config(mediatypes.OCTET_STREAM)
    assert not mediatypes.may_be_image_config(mediatypes.OCI_CONFIG)
    assert not mediatypes.may_be_image_config("application/vnd.cncf.helm.config.v1+json")
