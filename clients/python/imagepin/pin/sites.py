"""What a scan of one file finds: image sites to pin, and notes about images left alone.

A site is a span of the original text plus how to write the pin there, so every format (YAML
scalars, Dockerfile tokens, a kustomize `digest:` key that may not exist yet) is rewritten by
the same splice and every other byte stays as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from imagepin.pin.references import pin_reference


class ScanError(ValueError):
    """The file cannot be read as its format, or an image cannot be rewritten in place."""


class Writes(Enum):
    REFERENCE = "reference"  # the span is the image as written; it becomes name:tag@digest
    DIGEST = "digest"  # the span is where the digest goes (kustomize `digest:`)


@dataclass(frozen=True)
class ImageSite:
    """One image: its reference, where it is in the text, and how the pin is written there."""

    image: str  # the reference as written (kustomize: newName/name with newTag, and digest)
    start: int
    end: int
    line: int  # 1-based, for messages
    source: str  # the file's name as given, "<stdin>" for standard input
    where: str = ""  # e.g. "Deployment/web containers[0] (app)"
    writes: Writes = Writes.REFERENCE
    prefix: str = ""  # written before the value (a new `digest:` key and its indentation)
    suffix: str = ""

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}"

    def replacement(self, digest: str) -> str:
        """The text that takes the span's place once the image is pinned to `digest`."""
        value = digest if self.writes is Writes.DIGEST else pin_reference(self.image, digest)
        return f"{self.prefix}{value}{self.suffix}"


@dataclass(frozen=True)
class Note:
    """An image reference pin saw and left alone, with why (a variable, a kind it does not know)."""

    source: str
    line: int
    message: str

    @property
    def location(self) -> str:
        return f"{self.source}:{self.line}"


@dataclass
class Scan:
    """Everything found in one file."""

    format: str  # "kubernetes", "compose", "kustomize", "workflow", "dockerfile", "" (none)
    sites: list[ImageSite] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)


def substituted(image: str) -> bool:
    """A reference built from variables (`${BASE}`, `$IMG`, `${{ matrix.image }}`) at run time."""
    return "$" in image
