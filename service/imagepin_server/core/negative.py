"""Negative answers remembered briefly: a tag the registry said does not exist, or credentials
it refused, so a storm of retries for a missing tag does not reach the registry.

An entry is recalled only while younger than the caller's bound (the server's default when the
request does not say, capped by the server's maximum); a push of the missing tag is therefore
seen at most that long after. A positive answer observed after the negative one wins.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from cachetools import LRUCache

from imagepin_server import errors
from imagepin_server.core.cache import TagKey

NEGATIVE_ENTRIES: Final = 10_000
# Registry answers worth remembering: it said so, and asking again at once would say it again.
REMEMBERED: Final = (
    errors.RepositoryNotFound,
    errors.ManifestNotFound,
    errors.RegistryUnauthorized,
)


@dataclass(frozen=True, slots=True)
class _Negative:
    kind: type[errors.ImagepinError]
    message: str
    reference: str | None
    registry: str | None
    registry_code: str | None
    observed_monotonic: float


class NegativeCache:
    """Bounded (NEGATIVE_ENTRIES tags); keeps what is needed to raise the same error again."""

    def __init__(self, max_entries: int = NEGATIVE_ENTRIES) -> None:
        self._entries: LRUCache[TagKey, _Negative] = LRUCache(maxsize=max_entries)

    def remember(self, key: TagKey, failure: errors.ImagepinError, now: float) -> None:
        """Remember `failure` for `key` as seen at monotonic time `now`."""
        if isinstance(failure, REMEMBERED):
            self._entries[key] = _Negative(
                type(failure),
                failure.message,
                failure.reference,
                failure.registry,
                failure.registry_code,
                now,
            )

    def recall(
        self,
        key: TagKey,
        bound: timedelta,
        now: float,
        *,
        positive_since: float | None = None,
    ) -> errors.ImagepinError | None:
        """A fresh copy of the remembered error, if younger than `bound` at monotonic time `now`
        and not superseded by a positive answer observed at `positive_since` or later."""
        if bound <= timedelta(0):
            return None
        entry = self._entries.get(key)
        if entry is None:
            return None
        if positive_since is not None and positive_since >= entry.observed_monotonic:
            return None
        if now - entry.observed_monotonic > bound.total_seconds():
            return None
        return entry.kind(
            entry.message,
            reference=entry.reference,
            registry=entry.registry,
            registry_code=entry.registry_code,
        )
