"""Content digests: a small value type, hashing bytes and streams, and checking them.

Pure: no I/O and no imports of ours. Only sha256 and sha512 are accepted, as in OCI. This is
the one digest grammar: references (reference.py), the store and the registry client use it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Final

# Algorithm -> number of hex characters. Other algorithms (sha384 too) are refused on purpose.
HEX_LENGTHS: Final = {"sha256": 64, "sha512": 128}
_ALGORITHM: Final = re.compile(r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*")
_HEX: Final = re.compile(r"[0-9a-fA-F]+")
_LOWER_HEX: Final = re.compile(r"[0-9a-f]+")
_QUOTE_LIMIT: Final = 300


class InvalidDigest(ValueError):
    """A string that is not a well-formed sha256 or sha512 digest."""


def quote(text: str) -> str:
    """Double-quote text for a message, escaping control characters and capping its length."""
    if len(text) > _QUOTE_LIMIT:
        text = text[:_QUOTE_LIMIT] + "..."
    return json.dumps(text, ensure_ascii=False)


def digest_problem(text: str) -> str | None:
    """What is wrong with `text` as a digest (the one grammar), or None when it is well-formed."""
    if not text:
        return "empty digest"
    algorithm, colon, encoded = text.partition(":")
    if not colon or not algorithm or not encoded:
        return f'invalid digest format {quote(text)}: expected "algorithm:hex", e.g. "sha256:..."'
    size = HEX_LENGTHS.get(algorithm)
    if size is None:
        if _ALGORITHM.fullmatch(algorithm):
            return f"unsupported digest algorithm {quote(algorithm)}: use sha256 or sha512"
        return f"invalid digest format {quote(text)}: malformed algorithm name"
    if len(encoded) != size:
        return (
            f"invalid digest {quote(text)}: {algorithm} digests have {size} hex characters, "
            f"not {len(encoded)}"
        )
    if not _LOWER_HEX.fullmatch(encoded):
        if _HEX.fullmatch(encoded):
            return f"invalid digest {quote(text)}: the hex must be lowercase"
        return f"invalid digest {quote(text)}: contains characters that are not hexadecimal"
    return None


def is_sha256_hex(text: str) -> bool:
    """64 lowercase hex characters: what an image ID (or a sha256 digest's hex) looks like."""
    return len(text) == HEX_LENGTHS["sha256"] and _LOWER_HEX.fullmatch(text) is not None


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest such as `sha256:<64 hex>`; compares and hashes by value."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse `algorithm:hex`, refusing anything that is not exactly well-formed."""
        problem = digest_problem(text)
        if problem is not None:
            raise InvalidDigest(problem)
        algorithm, _, hex_part = text.partition(":")
        return cls(algorithm, hex_part)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of `data` under `algorithm`."""
        hasher = DigestHasher(algorithm)
        hasher.update(data)
        return hasher.digest()

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"


class DigestHasher:
    """Hashes a stream chunk by chunk, so large blobs are verified without holding them."""

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in HEX_LENGTHS:
            raise InvalidDigest(f"unsupported digest algorithm {algorithm!r}")
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())
