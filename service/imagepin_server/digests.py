"""Content digests: a small value type, hashing bytes and streams, and checking them.

Pure: no I/O and no imports of ours. Only sha256 and sha512 are accepted, as in OCI.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

_HEX_LENGTH: Final = {"sha256": 64, "sha512": 128}
_HEX: Final = re.compile(r"[a-f0-9]+")


class InvalidDigest(ValueError):
    """A string that is not a well-formed sha256 or sha512 digest."""


@dataclass(frozen=True, slots=True)
class Digest:
    """A content digest such as `sha256:<64 hex>`; compares and hashes by value."""

    algorithm: str
    hex: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse `algorithm:hex`, refusing anything that is not exactly well-formed."""
        algorithm, sep, hex_part = text.partition(":")
        if not sep:
            raise InvalidDigest(f"invalid digest {text!r}: expected <algorithm>:<hex>")
        expected = _HEX_LENGTH.get(algorithm)
        if expected is None:
            raise InvalidDigest(
                f"invalid digest {text!r}: unsupported algorithm {algorithm!r} "
                "(sha256 and sha512 are supported)"
            )
        if len(hex_part) != expected or not _HEX.fullmatch(hex_part):
            raise InvalidDigest(
                f"invalid digest {text!r}: {algorithm} digests have "
                f"{expected} lowercase hex characters"
            )
        return cls(algorithm, hex_part)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        """The digest of `data` under `algorithm`."""
        hasher = DigestHasher(algorithm)
        hasher.update(data)
        return hasher.digest()

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    def matches(self, data: bytes) -> bool:
        """True when `data` hashes to this digest."""
        return Digest.of(data, self.algorithm) == self


class DigestHasher:
    """Hashes a stream chunk by chunk, so large blobs are verified without holding them."""

    def __init__(self, algorithm: str = "sha256") -> None:
        if algorithm not in _HEX_LENGTH:
            raise InvalidDigest(f"unsupported digest algorithm {algorithm!r}")
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, chunk: bytes) -> None:
        self._hash.update(chunk)
        self.size += len(chunk)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())
