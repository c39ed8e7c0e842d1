"""LayerContent: a layer's content digest while its blob streams, bounded against zip bombs."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Callable
from types import ModuleType

import pytest
import zstandard
from imagepin_server import mediatypes
from imagepin_server.core.layer_content import (
    INFLATER,
    OUTPUT_CHUNK,
    RATIO_FLOOR,
    ContentDigest,
    LayerContent,
    inflate_limit,
)
from imagepin_server.errors import TooLarge

from tests.support.image_fixtures import filler

CHUNK = 256 * 1024  # what the registry client hands on (registry.client.BLOB_CHUNK)
# Incompressible and compressible parts, past one output step, so bounded steps are exercised.
CONTENT = filler("layer-content", 3 * OUTPUT_CHUNK) + b"\0" * (5 * OUTPUT_CHUNK) + b"end"
NO_LIMIT = 1 << 40
INFLATERS = pytest.mark.parametrize("inflater", [zlib, INFLATER], ids=lambda m: m.__name__)


def _feed(
    media_type: str,
    blob: bytes,
    *,
    limit: int = NO_LIMIT,
    chunk: int = CHUNK,
    inflater: ModuleType = INFLATER,
) -> ContentDigest:
    content = LayerContent(
        media_type, algorithm="sha256", limit=limit, what="the layer", inflater=inflater
    )
    for start in range(0, len(blob), chunk):
        content.update(blob[start : start + chunk])
    return content.finish()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _zstd(data: bytes) -> bytes:
    return zstandard.ZstdCompressor(level=3).compress(data)


@INFLATERS
@pytest.mark.parametrize("chunk", [1, 4096, CHUNK])
def test_gzip_hashes_the_uncompressed_content(inflater: ModuleType, chunk: int) -> None:
    blob = gzip.compress(CONTENT if chunk > 1 else CONTENT[:20000], mtime=0)
    want = CONTENT if chunk > 1 else CONTENT[:20000]
    found = _feed(mediatypes.OCI_LAYER_GZIP, blob, chunk=chunk, inflater=inflater)
    assert (str(found.digest), found.size, found.error) == (_sha256(want), len(want), "")


@INFLATERS
def test_gzip_of_many_members_is_their_concatenation(inflater: ModuleType) -> None:
    # eStargz and pigz -i layers are many gzip members back to back.
    parts = [CONTENT[:1000], CONTENT[1000 : OUTPUT_CHUNK * 4], CONTENT[OUTPUT_CHUNK * 4 :]]
    blob = b"".join(gzip.compress(part, mtime=0) for part in parts)
    found = _feed(mediatypes.DOCKER_LAYER_GZIP, blob, inflater=inflater)
    assert str(found.digest) == _sha256(CONTENT)


def test_zstd_of_many_frames_is_their_concatenation() -> None:
    blob = _zstd(CONTENT[:12345]) + _zstd(CONTENT[12345:])
    found = _feed(mediatypes.OCI_LAYER_ZSTD, blob)
    assert (str(found.digest), found.size) == (_sha256(CONTENT), len(CONTENT))


def test_uncompressed_passes_through() -> None:
    found = _feed(mediatypes.OCI_LAYER, CONTENT)
    assert str(found.digest) == _sha256(CONTENT)


@pytest.mark.parametrize(
    "blob",
    [gzip.compress(CONTENT, mtime=0), _zstd(CONTENT), CONTENT],
    ids=["gzip", "zstd", "none"],
)
def test_a_media_type_that_does_not_say_is_told_by_the_first_bytes(blob: bytes) -> None:
    found = _feed(mediatypes.OCTET_STREAM, blob)  # an artifact's layer, say
    assert str(found.digest) == _sha256(CONTENT)


@INFLATERS
def test_a_truncated_gzip_layer_is_an_answer(inflater: ModuleType) -> None:
    blob = gzip.compress(CONTENT, mtime=0)
    found = _feed(mediatypes.OCI_LAYER_GZIP, blob[:-100], inflater=inflater)
    assert found.digest is None
    assert "ends before" in found.error


@pytest.mark.parametrize(
    ("media_type", "word"),
    [(mediatypes.OCI_LAYER_GZIP, "gzip"), (mediatypes.OCI_LAYER_ZSTD, "zstd")],
)
def test_garbage_that_does_not_decompress_is_an_answer(media_type: str, word: str) -> None:
    found = _feed(media_type, b"this is not compressed at all" * 100)
    assert found.digest is None
    assert f"not valid {word}" in found.error


def test_a_gzip_layer_declared_as_zstd_does_not_decompress() -> None:
    found = _feed(mediatypes.OCI_LAYER_ZSTD, gzip.compress(CONTENT, mtime=0))
    assert found.digest is None
    assert "zstd" in found.error


def _gzip(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


@pytest.mark.parametrize(
    ("media_type", "compress"),
    [(mediatypes.OCI_LAYER_GZIP, _gzip), (mediatypes.OCI_LAYER_ZSTD, _zstd)],
    ids=["gzip", "zstd"],
)
def test_a_bomb_is_refused_at_the_limit_not_followed(
    media_type: str, compress: Callable[[bytes], bytes]
) -> None:
    bomb = compress(b"\0" * (64 * OUTPUT_CHUNK))
    with pytest.raises(TooLarge) as caught:
        _feed(media_type, bomb, limit=3 * OUTPUT_CHUNK)
    assert f"the layer inflates past {3 * OUTPUT_CHUNK} bytes" in caught.value.message
    assert "IMAGEPIN_CONTENT_MAX_RATIO" in caught.value.message


def test_content_exactly_at_the_limit_passes() -> None:
    blob = gzip.compress(CONTENT, mtime=0)
    found = _feed(mediatypes.OCI_LAYER_GZIP, blob, limit=len(CONTENT))
    assert str(found.digest) == _sha256(CONTENT)
    with pytest.raises(TooLarge):
        _feed(mediatypes.OCI_LAYER_GZIP, blob, limit=len(CONTENT) - 1)


def test_inflate_limit_is_the_ratio_above_a_floor_and_never_past_the_byte_bound() -> None:
    assert inflate_limit(1000, max_ratio=100, max_bytes=1 << 40) == RATIO_FLOOR
    big = RATIO_FLOOR  # a 64 MiB blob may inflate a hundredfold
    assert inflate_limit(big, max_ratio=100, max_bytes=1 << 40) == 100 * big
    assert inflate_limit(big, max_ratio=100, max_bytes=5 * big) == 5 * big
