"""verify in-process: the registry's bytes hashed against what the caller expects."""

from __future__ import annotations

from imagepin_server import store
from imagepin_server.core import Platform, VerifyMode, verify
from imagepin_server.digests import Digest

from tests.core.helpers import ManualClock, reference, use_cases
from tests.support.image_fixtures import ImageCatalog
from tests.support.oci_layouts import LINUX_ARM64_V8


async def test_an_image_and_every_blob_below_it_verify(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.single
    async with use_cases(sqlite_database, ManualClock()) as deps:
        answer = await verify(
            deps,
            reference(image.reference),
            Digest.parse(image.digest),
            include_layers=True,
            platform=None,
        )
    assert answer.verified
    assert str(answer.actual) == image.digest
    assert [(blob.kind, str(blob.descriptor.digest)) for blob in answer.blobs] == [
        ("config", image.config_digest),
        *(("layer", digest) for digest in image.layer_digests),
    ]
    assert all(blob.verified for blob in answer.blobs)


async def test_a_different_digest_is_an_answer_not_an_error(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.app_a
    other = Digest.parse(pushed_images.app_b.digest)
    async with use_cases(sqlite_database, ManualClock()) as deps:
        answer = await verify(
            deps, reference(image.reference), other, include_layers=False, platform=None
        )
    assert not answer.verified
    assert (answer.expected, str(answer.actual)) == (other, image.digest)


async def test_an_index_is_verified_down_to_the_chosen_platform(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    index = pushed_images.index
    child = index.child(LINUX_ARM64_V8)
    wanted = Platform(os="linux", architecture="arm64", variant="v8")
    async with use_cases(sqlite_database, ManualClock()) as deps:
        answer = await verify(
            deps,
            reference(index.reference),
            Digest.parse(index.digest),
            include_layers=True,
            platform=wanted,
        )
    assert answer.verified
    manifests = [blob for blob in answer.blobs if blob.kind == "manifest"]
    assert [str(blob.descriptor.digest) for blob in manifests] == [child.digest]
    layers = [str(blob.descriptor.digest) for blob in answer.blobs if blob.kind == "layer"]
    assert layers == list(child.layer_digests)


async def test_content_mode_hashes_each_layer_s_content_against_its_diff_id(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.zstd  # a zstd layer and a gzip one
    async with use_cases(sqlite_database, ManualClock()) as deps:
        answer = await verify(
            deps,
            reference(image.reference),
            Digest.parse(image.digest),
            include_layers=False,
            platform=None,
            mode=VerifyMode.CONTENT,
        )
    assert answer.verified
    layers = [blob for blob in answer.blobs if blob.kind == "layer"]
    assert [(blob.diff_id, str(blob.actual_diff_id)) for blob in layers] == [
        (diff_id, diff_id) for diff_id in image.diff_ids
    ]


async def test_existence_mode_hashes_nothing_below_the_manifest(
    pushed_images: ImageCatalog, sqlite_database: store.Database
) -> None:
    image = pushed_images.single
    async with use_cases(sqlite_database, ManualClock()) as deps:
        answer = await verify(
            deps,
            reference(image.reference),
            Digest.parse(image.digest),
            include_layers=False,
            platform=None,
            mode=VerifyMode.EXISTENCE,
        )
    assert answer.verified
    assert [(b.kind, b.head_only, b.actual, b.actual_size) for b in answer.blobs] == [
        ("config", True, None, len(image.config)),
        *(("layer", True, None, layer.size) for layer in image.layers),
    ]
