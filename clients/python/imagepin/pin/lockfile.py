"""The lock file: what each image resolved to and when, so a rollout can be pinned again later
exactly the same way without asking any registry."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final

LOCK_VERSION: Final = 1


@dataclass(frozen=True)
class LockEntry:
    """One image as written in the manifests and the digest it was pinned to."""

    reference: str  # as written, e.g. "redis:7"
    digest: str
    normalized: str = ""  # e.g. "docker.io/library/redis:7"
    platform: str = ""  # the platform asked for, empty for the tag's own digest
    resolved_at: str = ""  # RFC 3339, when the registry said so


def write_lock(path: Path, entries: Iterable[LockEntry]) -> None:
    """JSON, sorted by reference so the file diffs well in review."""
    body = {
        "version": LOCK_VERSION,
        "images": [asdict(e) for e in sorted(entries, key=lambda e: e.reference)],
    }
    path.write_text(json.dumps(body, indent=2) + "\n")


def read_lock(path: Path) -> dict[str, LockEntry]:
    """`{reference as written: entry}`."""
    try:
        body = json.loads(path.read_text())
        if body.get("version") != LOCK_VERSION:
            raise ValueError(f"unsupported lock version {body.get('version')!r}")
        entries = [LockEntry(**item) for item in body["images"]]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{path}: not an imagepin lock file: {error}") from error
    return {entry.reference: entry for entry in entries}
