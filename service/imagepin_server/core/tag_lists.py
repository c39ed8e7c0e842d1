"""Tag lists kept in memory for a bounded time, and read from a registry once however many ask.

A repository's tag list costs one or more registry requests (every page is read: see
registry/tags.py), and deploy tooling asks for the same repositories over and over. A list is
reused while it is younger than the caller's max_staleness (default 60 s, at most 1 h), and
concurrent readers of one cold list share one listing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Final

from imagepin_server.core.cache import WeightedLRU
from imagepin_server.registry.tags import ListingBounds, TagList
from imagepin_server.singleflight import SingleFlight

DEFAULT_MAX_STALENESS: Final = timedelta(seconds=60)
MAX_STALENESS: Final = timedelta(hours=1)  # a caller may ask for older, but is not given it
LISTS_KEPT: Final = 1000  # repositories
LIST_BYTES_KEPT: Final = 32 * 1024 * 1024  # the tags' characters, over every list kept

RepositoryKey = tuple[str, str]  # (registry, repository)


@dataclass(frozen=True, slots=True)
class KeptList:
    """A tag list and when (monotonic seconds) the registry gave it."""

    listing: TagList
    observed_monotonic: float

    def age(self, now_monotonic: float) -> timedelta:
        """How old the list is at `now_monotonic` (the Dependencies' monotonic clock)."""
        return timedelta(seconds=max(0.0, now_monotonic - self.observed_monotonic))


@dataclass(slots=True)
class TagLists:
    """The process's tag lists: kept, shared while in flight, and the bounds for reading one."""

    bounds: ListingBounds = field(default_factory=ListingBounds)
    default_max_staleness: timedelta = DEFAULT_MAX_STALENESS
    kept: WeightedLRU[RepositoryKey, KeptList] = field(
        default_factory=lambda: WeightedLRU(
            max_weight=LIST_BYTES_KEPT, max_entries=LISTS_KEPT, weigh=_list_weight
        )
    )
    flights: SingleFlight[RepositoryKey, KeptList] = field(default_factory=SingleFlight)

    def keep(self, key: RepositoryKey, kept: KeptList) -> None:
        self.kept[key] = kept


def _list_weight(kept: KeptList) -> int:
    """What a kept list costs against LIST_BYTES_KEPT: its tags' bytes (and one for itself)."""
    return sum(len(tag) for tag in kept.listing.tags) + 1
