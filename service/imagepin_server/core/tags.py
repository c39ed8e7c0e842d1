"""ListTags and SelectTag: a repository's tags in sorted pages, and the tag a policy chooses.

Both read the repository's whole tag list (registry/tags.py: every page within bounds, sorted),
kept for a bounded time (core/tag_lists.py). Pages handed to callers are imagepin's own: a page
token names the last tag of the page before, so paging goes on from there even if the list
changed in between. SelectTag resolves the tag it chose, so its answer is already pinned.
"""

from __future__ import annotations

import base64
import binascii
import bisect
from dataclasses import dataclass
from datetime import timedelta
from typing import Final

from imagepin_server import errors, metrics
from imagepin_server.core import tag_policy
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import Platform
from imagepin_server.core.resolve import Resolution, resolve
from imagepin_server.core.tag_lists import MAX_STALENESS, KeptList
from imagepin_server.reference import InvalidReference, Reference
from imagepin_server.registry.tags import Bound, TagList, read_tags

__all__ = ["Bound", "TagPage", "TagSelection", "list_tags", "select_tag"]

DEFAULT_PAGE_SIZE: Final = 100
MAX_PAGE_SIZE: Final = 1000
_TOKEN_PREFIX: Final = b"after:"


@dataclass(frozen=True, slots=True)
class TagPage:
    """One page of a repository's sorted (and filtered) tags."""

    repository: Reference
    tags: tuple[str, ...]
    next_page_token: str  # empty on the last page
    bound: Bound | None  # the bound hit while reading the registry's list
    total: int  # tags over every page, after the filter


@dataclass(frozen=True, slots=True)
class TagSelection:
    """The tag a policy chose, resolved."""

    tag: str
    resolution: Resolution
    considered: int
    listed: int
    bound: Bound | None


async def list_tags(
    deps: Dependencies,
    ref: Reference,
    *,
    page_size: int = 0,
    page_token: str = "",
    filter: str = "",
    max_staleness: timedelta | None = None,
) -> TagPage:
    """A page of `ref`'s tags (a repository: api/convert.parse_repository), sorted, optionally
    only those `filter` matches in full."""
    size = _page_size(page_size)
    after = _after(page_token, ref)
    compiled = tag_policy.compile_pattern(filter, field="filter") if filter else None
    listing = await repository_tags(deps, ref, max_staleness)
    tags = [tag for tag in listing.tags if compiled is None or compiled.fullmatch(tag)]
    start = bisect.bisect_right(tags, after) if after is not None else 0
    page = tuple(tags[start : start + size])
    more = start + size < len(tags)
    return TagPage(
        repository=ref,
        tags=page,
        next_page_token=_token(page[-1]) if more and page else "",
        bound=listing.bound,
        total=len(tags),
    )


async def select_tag(
    deps: Dependencies,
    ref: Reference,
    policy: tag_policy.TagPolicy | None,
    *,
    pattern: str = "",
    extract: str = "",
    platform: Platform | None = None,
    max_staleness: timedelta | None = None,
) -> TagSelection:
    """The tag of repository `ref` that `policy` chooses, pinned; NoMatchingTag if none.

    `platform` comes checked from the edge (api/convert.platform_from_proto)."""
    checked = tag_policy.check_policy(policy)
    tag_policy.choose((), checked, pattern=pattern, extract=extract)  # refuse bad input first
    listing = await repository_tags(deps, ref, max_staleness)
    choice = tag_policy.choose(listing.tags, checked, pattern=pattern, extract=extract)
    if choice.tag is None:
        cut = f" (cut short by imagepin's bound on {listing.bound.value})" if listing.bound else ""
        raise errors.NoMatchingTag(
            f"none of the {len(listing.tags)} tags of {ref.name}{cut} is a candidate for "
            f"the {_describe(checked)} policy" + (f" with pattern {pattern!r}" if pattern else ""),
            reference=ref.name,
            registry=ref.registry,
        )
    resolution = await resolve(
        deps, ref.with_tag(choice.tag), platform, max_staleness=max_staleness
    )
    return TagSelection(
        tag=choice.tag,
        resolution=resolution,
        considered=choice.considered,
        listed=len(listing.tags),
        bound=listing.bound,
    )


async def repository_tags(
    deps: Dependencies, ref: Reference, max_staleness: timedelta | None
) -> TagList:
    """The repository's tag list: kept if young enough, else read once for every asker."""
    lists = deps.tag_lists
    key = (ref.registry, ref.repository)
    freshness = lists.default_max_staleness if max_staleness is None else max_staleness
    freshness = min(freshness, MAX_STALENESS)
    if freshness > timedelta(0):
        kept = lists.kept.get(key)
        if kept is not None and kept.age(deps.monotonic()) <= freshness:
            metrics.CACHE_LOOKUPS.labels("tag_list", "hit").inc()
            return kept.listing
        metrics.CACHE_LOOKUPS.labels("tag_list", "miss").inc()

    async def read() -> KeptList:
        listing = await read_tags(deps.registry, ref, lists.bounds, monotonic=deps.monotonic)
        kept = KeptList(listing, deps.monotonic())
        lists.keep(key, kept)
        return kept

    return (await lists.flights.run(key, read)).listing


def _page_size(requested: int) -> int:
    if requested < 0 or requested > MAX_PAGE_SIZE:
        raise errors.InvalidArgument(
            f"page_size must be between 0 (meaning {DEFAULT_PAGE_SIZE}) and {MAX_PAGE_SIZE}"
        )
    return requested or DEFAULT_PAGE_SIZE


def _token(last: str) -> str:
    return base64.urlsafe_b64encode(_TOKEN_PREFIX + last.encode()).decode()


def _after(token: str, ref: Reference) -> str | None:
    """The last tag of the page before, from a page token; BadPageToken if it is none of ours."""
    if not token:
        return None
    try:
        raw = base64.urlsafe_b64decode(token.encode("ascii"))
        if not raw.startswith(_TOKEN_PREFIX):
            raise ValueError("no prefix")
        after = raw[len(_TOKEN_PREFIX) :].decode("ascii")
        ref.with_tag(after)
    except (ValueError, binascii.Error, UnicodeError, InvalidReference) as exc:
        raise errors.BadPageToken(
            "page_token is not one this server gave; pass a next_page_token unchanged",
            reference=ref.name,
        ) from exc
    return after


def _describe(policy: tag_policy.TagPolicy) -> str:
    if isinstance(policy, tag_policy.Semver):
        return f"semver {policy.range!r}"
    kind = "numerical" if isinstance(policy, tag_policy.Numerical) else "alphabetical"
    return f"{kind} ({policy.order.value})"
