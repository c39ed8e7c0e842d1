"""The edge: requests become Reference, Digest and Platform here, once, or a named error."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from imagepin.v1 import resolver_pb2 as pb
from imagepin_server import core, errors
from imagepin_server.api import convert
from imagepin_server.digests import Digest
from imagepin_server.reference import Reference

DIGEST = "sha256:" + "ab" * 32


def test_a_reference_is_parsed_and_normalised() -> None:
    assert convert.parse_reference("redis:7") == Reference("docker.io", "library/redis", "7")


@pytest.mark.parametrize("text", ["", "with space:tag", "a" * 2000])
def test_a_bad_reference_is_a_bad_reference(text: str) -> None:
    with pytest.raises(errors.BadReference):
        convert.parse_reference(text)


def test_the_expected_digest_and_a_pinned_reference_must_agree() -> None:
    pinned = convert.parse_reference(f"redis@{DIGEST}")
    assert convert.expected_digest(pinned, "") == Digest.parse(DIGEST)
    with pytest.raises(errors.ConflictingDigests):
        convert.expected_digest(pinned, "sha256:" + "cd" * 32)
    with pytest.raises(errors.BadDigest):
        convert.expected_digest(convert.parse_reference("redis:7"), "")


def test_a_platform_is_checked_at_the_edge() -> None:
    asked = pb.ResolveReferenceRequest(platform=pb.Platform(architecture="arm64"))
    assert convert.platform_from_proto(asked) == core.Platform(os="linux", architecture="arm64")
    with pytest.raises(errors.BadPlatform):
        convert.platform_from_proto(pb.ResolveReferenceRequest(platform=pb.Platform(os="linux")))


def test_a_malformed_batch_item_carries_its_error_and_the_rest_are_parsed() -> None:
    request = pb.BatchResolveReferencesRequest(
        requests=[
            pb.ResolveReferenceRequest(reference="redis:7"),
            pb.ResolveReferenceRequest(reference="Not A Reference"),
            pb.ResolveReferenceRequest(reference="redis:7", platform=pb.Platform(os="linux")),
        ]
    )
    good, bad_reference, bad_platform = convert.batch_items_from_proto(request)
    assert good.reference == Reference("docker.io", "library/redis", "7")
    assert good.invalid is None
    assert isinstance(bad_reference.invalid, errors.BadReference)
    assert bad_reference.text == "Not A Reference"
    assert isinstance(bad_platform.invalid, errors.BadPlatform)


def test_core_records_become_messages() -> None:
    seen = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    history = core.TagHistory(
        Reference("docker.io", "library/redis", "7"),
        (core.TagMove(DIGEST, "application/json", seen, seen),),
    )
    message = convert.history_to_proto(history)
    assert message.normalized_reference == "docker.io/library/redis:7"
    assert [entry.digest for entry in message.entries] == [DIGEST]
    image = core.ImageWithLayer(
        registry="r.example",
        repository="team/app",
        tags=("1",),
        manifest_digest=DIGEST,
        index_digests=(),
        layer_index=0,
        layer_digest=DIGEST,
        diff_id="",
        platform=core.Platform(os="linux", architecture="arm", variant="v7"),
    )
    [found] = convert.images_with_layer_to_proto([image]).images
    assert (found.platform.os, found.platform.architecture, found.platform.variant) == (
        "linux",
        "arm",
        "v7",
    )
