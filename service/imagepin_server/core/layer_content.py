"""A layer's content digest (its diff_id), computed while the compressed blob streams past.

A layer has two digests: the distribution digest of the blob as stored, and the content digest
of the uncompressed tar, which the image config lists in `rootfs.diff_ids`. `LayerContent` is fed
the blob chunk by chunk, inflates gzip or zstd as it goes (uncompressed passes through) and
hashes what comes out: nothing is held whole. Inflating is bounded: past `limit` bytes of output
(derived from the blob's size by `inflate_limit`) the layer is refused, so a zip bomb costs at
most that much work and never that much memory. A stream that does not decompress is an answer
(`error`), not an exception: the image is broken, the service is not.

No I/O: the caller streams, this only transforms.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import IO, Final, Protocol, cast

import zstandard

from imagepin_server import mediatypes
from imagepin_server.digests import Digest, DigestHasher
from imagepin_server.errors import TooLarge

try:  # ISA-L inflates gzip about 1.6 times faster than zlib (bench/verify_content.py).
    from isal import isal_zlib as _fast_zlib

    INFLATER: ModuleType = _fast_zlib
except ImportError:  # pragma: no cover - a platform without an isal wheel
    INFLATER = zlib

KiB: Final = 1024
MiB: Final = 1024 * KiB
GiB: Final = 1024 * MiB
# Most bytes one inflate step may produce: the memory a layer's check holds beyond its input.
OUTPUT_CHUNK: Final = 1 * MiB
# Defaults of the two settings (IMAGEPIN_CONTENT_MAX_RATIO, IMAGEPIN_CONTENT_MAX_BYTES).
DEFAULT_MAX_RATIO: Final = 100.0
DEFAULT_MAX_BYTES: Final = 16 * GiB
# Below this much output the ratio is not applied: small layers of empty directories and
# zero-padded tar headers inflate a hundredfold legitimately.
RATIO_FLOOR: Final = 64 * MiB
# zstd frames may ask for a window this large (libzstd's own default limit, 2**27).
ZSTD_MAX_WINDOW: Final = 128 * MiB
_GZIP_WBITS: Final = 16 + zlib.MAX_WBITS  # a gzip header and trailer, not raw deflate
_GZIP_MAGIC: Final = b"\x1f\x8b"
_ZSTD_MAGIC: Final = b"\x28\xb5\x2f\xfd"


def inflate_limit(compressed_size: int, *, max_ratio: float, max_bytes: int) -> int:
    """The most bytes a layer of `compressed_size` may inflate to before it is refused."""
    return min(max_bytes, max(RATIO_FLOOR, int(compressed_size * max_ratio)))


class _Decoder(Protocol):
    def feed(self, data: bytes) -> None: ...
    def finish(self) -> None: ...


Emit = Callable[[bytes], None]


class _DecodeError(Exception):
    """The stream is not what its media type says; the message says how."""


class _Identity:
    def __init__(self, emit: Emit) -> None:
        self._emit = emit

    def feed(self, data: bytes) -> None:
        self._emit(data)

    def finish(self) -> None:
        pass


class _Gzip:
    """gzip, member after member (eStargz and pigz -i write many), each step's output bounded."""

    def __init__(self, emit: Emit, inflater: ModuleType) -> None:
        self._emit = emit
        self._inflater = inflater
        self._stream = inflater.decompressobj(_GZIP_WBITS)
        self._started = False  # bytes of the current member seen
        self._drained = False  # the last step produced nothing

    def feed(self, data: bytes) -> None:
        while data:
            self._started = True
            data = self._step(data)

    def finish(self) -> None:
        # Output held back by the bound on one step comes out with no more input.
        while self._started:
            self._step(b"")
            if self._drained:
                break
        if self._started:
            raise _DecodeError("the gzip stream ends before its last member does")

    def _step(self, data: bytes) -> bytes:
        """Inflate once; the input still to feed (the next member's, or what the bound left)."""
        try:
            out = self._stream.decompress(data, OUTPUT_CHUNK)
        except self._inflater.error as exc:
            raise _DecodeError(f"not valid gzip: {exc}") from exc
        self._drained = not out
        self._emit(out)
        if self._stream.eof:
            rest: bytes = self._stream.unused_data
            self._stream = self._inflater.decompressobj(_GZIP_WBITS)
            self._started = False
            return rest
        tail: bytes = self._stream.unconsumed_tail
        return tail


class _Zstd:
    """zstd, frame after frame (skippable frames included), written out a chunk at a time."""

    def __init__(self, emit: Emit) -> None:
        class Sink:
            def write(self, chunk: bytes) -> int:
                emit(chunk)
                return len(chunk)

        decompressor = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
        # The writer calls only write(): Sink is all of IO[bytes] it needs.
        self._writer = decompressor.stream_writer(
            cast("IO[bytes]", Sink()),
            write_size=OUTPUT_CHUNK,
            write_return_read=True,
            closefd=False,
        )

    def feed(self, data: bytes) -> None:
        try:
            self._writer.write(data)
        except zstandard.ZstdError as exc:
            raise _DecodeError(f"not valid zstd: {exc}") from exc

    def finish(self) -> None:
        # python-zstandard's writer does not tell a frame cut short: its output is then short,
        # and so hashes to something else than the diff_id.
        pass


@dataclass(frozen=True, slots=True)
class ContentDigest:
    """What a layer's uncompressed content hashed to, or why it could not be decompressed."""

    digest: Digest | None
    size: int
    error: str = ""


class LayerContent:
    """Fed a layer blob's bytes in order; hashes the uncompressed content as it goes."""

    def __init__(
        self,
        media_type: str,
        *,
        algorithm: str,
        limit: int,
        what: str,
        inflater: ModuleType = INFLATER,
    ) -> None:
        """`algorithm` is the diff_id's; `what` names the layer in the refusal message."""
        self._compression = mediatypes.layer_compression(media_type)
        self._hasher = DigestHasher(algorithm)
        self._limit = limit
        self._what = what
        self._inflater = inflater
        self._decoder: _Decoder | None = None
        self._head = b""  # the first bytes, when the media type leaves the format to sniff
        self._error = ""

    def update(self, chunk: bytes) -> None:
        """Take the next bytes of the blob; raises TooLarge once the output passes the limit."""
        if self._error or not chunk:
            return
        if self._decoder is None:
            self._head += chunk
            if self._compression is mediatypes.Compression.UNKNOWN and len(self._head) < 4:
                return
            self._decoder = self._choose(self._head)
            chunk, self._head = self._head, b""
        try:
            self._decoder.feed(chunk)
        except _DecodeError as exc:
            self._error = str(exc)

    def finish(self) -> ContentDigest:
        """The content digest, once the whole blob was fed."""
        if not self._error:
            try:
                if self._decoder is None:
                    self._decoder = self._choose(self._head)
                    self._decoder.feed(self._head)
                self._decoder.finish()
            except _DecodeError as exc:
                self._error = str(exc)
        if self._error:
            return ContentDigest(None, self._hasher.size, self._error)
        return ContentDigest(self._hasher.digest(), self._hasher.size)

    def _choose(self, head: bytes) -> _Decoder:
        """By media type; an unknown one (Docker's, an artifact's) by its first bytes."""
        compression = self._compression
        if compression is mediatypes.Compression.UNKNOWN:
            if head.startswith(_GZIP_MAGIC):
                compression = mediatypes.Compression.GZIP
            elif head.startswith(_ZSTD_MAGIC):
                compression = mediatypes.Compression.ZSTD
            else:
                compression = mediatypes.Compression.NONE
        if compression is mediatypes.Compression.GZIP:
            return _Gzip(self._emit, self._inflater)
        if compression is mediatypes.Compression.ZSTD:
            return _Zstd(self._emit)
        return _Identity(self._emit)

    def _emit(self, data: bytes) -> None:
        if self._hasher.size + len(data) > self._limit:
            raise TooLarge(
                f"{self._what} inflates past {self._limit} bytes, imagepin's bound for a layer "
                f"of this size (IMAGEPIN_CONTENT_MAX_RATIO, IMAGEPIN_CONTENT_MAX_BYTES): refused"
            )
        self._hasher.update(data)
