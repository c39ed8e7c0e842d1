"""A repository's whole tag list, read through the distribution spec's paging, within bounds.

The spec pages with `n` and `last` and names the next page in a `Link` header, which wins when
present (its query is followed, never its host: credentials stay with the registry asked). Not
every registry does as the spec says: distribution 2.8 ignores `n`/`last` and sends every tag at
once, unsorted, without `Link`; others page in an order of their own. So every page is read,
within bounds on tags, pages and time, each tag is checked against the tag grammar, and the whole
list is deduplicated and sorted here. Paging for imagepin's callers is imagepin's own (core/tags).
"""

from __future__ import annotations

import asyncio
import enum
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol
from urllib.parse import parse_qsl, quote, urlencode, urlsplit

from imagepin_server import errors
from imagepin_server.reference import InvalidReference, Reference

PAGE_REQUEST: Final = 1000  # the `n` asked of the registry for each page
PAGE_BYTES: Final = 4 * 1024 * 1024  # one page's body; 1000 tags of 128 characters is ~140 KiB
MAX_TAGS: Final = 10_000  # per repository
MAX_PAGES: Final = 100  # per listing
MAX_SECONDS: Final = 30.0  # for every page of one listing together


class Bound(enum.Enum):
    """A bound that cut a listing short; the list is then partial."""

    TAGS = "tags"
    PAGES = "pages"
    TIME = "time"


@dataclass(frozen=True, slots=True)
class ListingBounds:
    """How much of a repository's tag list imagepin reads (see the README)."""

    max_tags: int = MAX_TAGS
    max_pages: int = MAX_PAGES
    max_seconds: float = MAX_SECONDS
    page_request: int = PAGE_REQUEST


@dataclass(frozen=True, slots=True)
class TagList:
    """A repository's tags, sorted by their UTF-8 bytes, and the bound hit, if one was."""

    tags: tuple[str, ...]
    bound: Bound | None = None
    pages: int = 0  # registry requests spent


class ListingSource(Protocol):
    """What listing needs of the registry client (RegistryClient.get_listing)."""

    async def get_listing(
        self, ref: Reference, path: str, *, limit: int
    ) -> tuple[bytes, str | None]: ...


async def read_tags(
    source: ListingSource,
    ref: Reference,
    bounds: ListingBounds | None = None,
    *,
    monotonic: Callable[[], float] = time.monotonic,
) -> TagList:
    """Every tag of `ref`'s repository the bounds allow, sorted; see the module docstring."""
    bounds = bounds or ListingBounds()
    seen: set[str] = set()
    path = f"tags/list?{urlencode({'n': bounds.page_request})}"
    pages = 0
    bound: Bound | None = None
    linked = False  # the registry pages by Link: a page without one is the last
    started = monotonic()
    while True:
        if pages >= bounds.max_pages:
            bound = Bound.PAGES
            break
        remaining = bounds.max_seconds - (monotonic() - started)
        if remaining <= 0:
            bound = Bound.TIME
            break
        try:
            async with asyncio.timeout(remaining):
                body, link = await source.get_listing(ref, path, limit=PAGE_BYTES)
        except TimeoutError:
            if pages == 0:
                raise errors.RegistryTimeout(
                    f"registry {ref.registry} did not list the tags of {ref.name} within "
                    f"{bounds.max_seconds:g}s",
                    reference=ref.name,
                    registry=ref.registry,
                ) from None
            bound = Bound.TIME
            break
        except errors.ManifestNotFound as exc:  # a 404 without the registry's NAME_UNKNOWN
            raise errors.RepositoryNotFound(
                f"registry {ref.registry} has no repository {ref.name} to list tags of",
                reference=ref.name,
                registry=ref.registry,
                registry_code=exc.registry_code,
            ) from exc
        pages += 1
        page = parse_page(body, ref)
        fresh = [tag for tag in page if tag not in seen]
        for tag in fresh:
            if len(seen) >= bounds.max_tags:
                bound = Bound.TAGS
                break
            seen.add(tag)
        if bound is not None or not fresh:  # a registry repeating itself makes no progress
            break
        linked = linked or link is not None
        following = next_page(link, ref, page, bounds.page_request, linked=linked)
        if following is None:
            break
        path = following
    return TagList(tuple(sorted(seen, key=sort_key)), bound, pages)


def sort_key(tag: str) -> bytes:
    """The spec's lexical order: by the tag's bytes (tags are ASCII, so this is also str order)."""
    return tag.encode()


def parse_page(body: bytes, ref: Reference) -> list[str]:
    """The tags of one `tags/list` answer, in the registry's order; malformed tags are dropped."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise _bad(ref, "a tag list that is not JSON") from exc
    if not isinstance(document, dict):
        raise _bad(ref, "a tag list that is not a JSON object")
    listed = document.get("tags")
    if listed is None:  # distribution's answer for a repository without tags
        return []
    if not isinstance(listed, list):
        raise _bad(ref, "a tag list whose `tags` is not a list")
    return [tag for tag in listed if isinstance(tag, str) and _valid_tag(ref, tag)]


def next_page(
    link: str | None, ref: Reference, page: list[str], asked: int, *, linked: bool = False
) -> str | None:
    """The path of the next page, or None when this was the last.

    With a `Link: <…>; rel="next"`, its query (the path must be this repository's tag list).
    A registry that pages by Link (`linked`) ends its list with a page without one. One that
    never sent a Link may have more after a page of exactly `n` tags: ask on from its last tag
    with `last`. A page of more than `n` tags is a registry that ignores `n`: it sent all.
    """
    if link is not None:
        target = _next_target(link)
        if target is not None:
            parts = urlsplit(target)
            if parts.path != f"/v2/{ref.repository}/tags/list":
                raise _bad(ref, f"a Link to another listing ({parts.path[:120]!r})")
            query = urlencode(parse_qsl(parts.query, keep_blank_values=True))
            return f"tags/list?{query}" if query else "tags/list"
    if not linked and len(page) == asked and page:
        return f"tags/list?{urlencode({'n': asked, 'last': page[-1]}, quote_via=quote)}"
    return None


def _next_target(link: str) -> str | None:
    """The URL of the `rel="next"` entry of a Link header (RFC 8288), if there is one."""
    for entry in link.split(","):
        target, _, params = entry.partition(";")
        target = target.strip()
        if not (target.startswith("<") and target.endswith(">")):
            continue
        for param in params.split(";"):
            key, _, value = param.partition("=")
            if key.strip().lower() == "rel" and "next" in value.strip().strip('"').split():
                return target[1:-1]
    return None


def _valid_tag(ref: Reference, tag: str) -> bool:
    try:
        ref.with_tag(tag)
    except InvalidReference:
        return False
    return True


def _bad(ref: Reference, what: str) -> errors.BadRegistryResponse:
    return errors.BadRegistryResponse(
        f"registry {ref.registry} answered {what} for {ref.name}",
        reference=ref.name,
        registry=ref.registry,
    )
