"""registry/tags.py against a spec-faithful scripted registry: the spec's paging (`n`, `last`,
`Link`), a registry that pages out of order, and every bound on a listing.

The real distribution 2.8 ignores `n`/`last` (tests/test_rpc_tags.py covers it); only what it
cannot do is scripted here.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from imagepin_server import errors
from imagepin_server.registry.tags import Bound, ListingBounds, read_tags

from tests.registry.helpers import ref, registry_client
from tests.support.hostile_registry import HostileRegistry, launch_hostile_registry, reply
from tests.support.tag_pages import endless_pages, spec_pages, unordered_pages

REPOSITORY = "paging/app"
PATH = f"/v2/{REPOSITORY}/tags/list"
TAGS = [f"1.{minor}.{patch}" for minor in range(12) for patch in range(25)]  # 300 tags


@pytest.fixture(scope="module")
def hostile_server() -> Iterator[HostileRegistry]:
    with launch_hostile_registry() as registry:
        yield registry


@pytest.fixture
def hostile(hostile_server: HostileRegistry) -> HostileRegistry:
    hostile_server.reset()
    return hostile_server


def listing_requests(hostile: HostileRegistry) -> list[dict[str, list[str]]]:
    return [
        parse_qs(urlsplit(seen.path).query)
        for seen in hostile.requests
        if seen.path.startswith(PATH)
    ]


async def test_follows_link_headers_across_pages(hostile: HostileRegistry) -> None:
    hostile.script("GET", PATH, spec_pages(REPOSITORY, TAGS))
    async with registry_client() as client:
        listing = await read_tags(
            client, ref(hostile.host, REPOSITORY), ListingBounds(page_request=40)
        )
    assert listing.tags == tuple(sorted(TAGS))
    assert listing.bound is None
    asked = listing_requests(hostile)
    assert len(asked) == 8 == listing.pages  # 300 tags in pages of 40
    assert asked[0] == {"n": ["40"]}
    assert asked[1] == {"n": ["40"], "last": [sorted(TAGS)[39]]}


async def test_pages_by_last_when_there_is_no_link(hostile: HostileRegistry) -> None:
    hostile.script("GET", PATH, spec_pages(REPOSITORY, TAGS, link=False))
    async with registry_client() as client:
        listing = await read_tags(
            client, ref(hostile.host, REPOSITORY), ListingBounds(page_request=100)
        )
    assert listing.tags == tuple(sorted(TAGS))
    asked = listing_requests(hostile)
    # 100, 100, 100, then an empty page says the list is over.
    assert [query.get("last", [None])[0] for query in asked] == [
        None,
        sorted(TAGS)[99],
        sorted(TAGS)[199],
        sorted(TAGS)[299],
    ]


async def test_link_wins_over_last(hostile: HostileRegistry) -> None:
    """A registry with opaque cursors: only following Link reads every page."""
    shuffled = list(TAGS)
    random.Random(7).shuffle(shuffled)
    hostile.script("GET", PATH, unordered_pages(REPOSITORY, shuffled, page_size=30))
    async with registry_client() as client:
        listing = await read_tags(
            client, ref(hostile.host, REPOSITORY), ListingBounds(page_request=30)
        )
    assert listing.tags == tuple(sorted(TAGS))  # sorted here, whatever order pages came in
    asked = listing_requests(hostile)
    assert len(asked) == 10
    assert all("last" not in query for query in asked)
    assert asked[1] == {"cursor": ["30"]}


async def test_a_registry_that_ignores_n_is_read_once(hostile: HostileRegistry) -> None:
    """distribution 2.8's way: every tag, unsorted, no Link, whatever `n` says."""
    shuffled = list(TAGS)
    random.Random(3).shuffle(shuffled)
    body = json.dumps({"name": REPOSITORY, "tags": shuffled}).encode()
    hostile.script("GET", PATH, reply(200, body, {"Content-Type": "application/json"}))
    async with registry_client() as client:
        listing = await read_tags(
            client, ref(hostile.host, REPOSITORY), ListingBounds(page_request=50)
        )
    assert listing.tags == tuple(sorted(TAGS))
    assert len(listing_requests(hostile)) == 1


async def test_the_tag_bound_is_named(hostile: HostileRegistry) -> None:
    hostile.script("GET", PATH, spec_pages(REPOSITORY, TAGS))
    async with registry_client() as client:
        listing = await read_tags(
            client, ref(hostile.host, REPOSITORY), ListingBounds(max_tags=120, page_request=50)
        )
    assert listing.bound is Bound.TAGS
    assert listing.tags == tuple(sorted(TAGS)[:120])
    assert len(listing_requests(hostile)) == 3


async def test_the_page_bound_stops_an_endless_registry(hostile: HostileRegistry) -> None:
    hostile.script("GET", PATH, endless_pages(REPOSITORY))
    async with registry_client() as client:
        listing = await read_tags(client, ref(hostile.host, REPOSITORY), ListingBounds(max_pages=7))
    assert listing.bound is Bound.PAGES
    assert listing.tags == tuple(f"t{number:06d}" for number in range(7))
    assert len(listing_requests(hostile)) == 7


async def test_the_time_bound_is_named(hostile: HostileRegistry) -> None:
    """Time is read from an injected clock that advances 10 s per page: no waiting."""
    hostile.script("GET", PATH, endless_pages(REPOSITORY))
    ticks = iter(range(0, 10_000, 10))
    async with registry_client() as client:
        listing = await read_tags(
            client,
            ref(hostile.host, REPOSITORY),
            ListingBounds(max_seconds=35.0),
            monotonic=lambda: float(next(ticks)),
        )
    assert listing.bound is Bound.TIME
    assert len(listing.tags) == 3  # read at 10, 20, 30 s after the start; at 40 s, stop


async def test_a_repeating_registry_ends_the_listing(hostile: HostileRegistry) -> None:
    """A Link back to the same page adds nothing new: the listing ends, it does not loop."""
    body = json.dumps({"name": REPOSITORY, "tags": ["a", "b"]}).encode()
    link = {"Link": f'<{PATH}?n=2&last=b>; rel="next"'}
    hostile.script("GET", PATH, reply(200, body, link))
    async with registry_client() as client:
        listing = await read_tags(
            client, ref(hostile.host, REPOSITORY), ListingBounds(page_request=2)
        )
    assert listing.tags == ("a", "b")
    assert listing.bound is None
    assert len(listing_requests(hostile)) == 2


async def test_malformed_tags_are_dropped(hostile: HostileRegistry) -> None:
    tags = ["ok", "-bad", "x" * 129, "also.ok", 7, None, "has space", "UPPER_1"]
    body = json.dumps({"name": REPOSITORY, "tags": tags}).encode()
    hostile.script("GET", PATH, reply(200, body))
    async with registry_client() as client:
        listing = await read_tags(client, ref(hostile.host, REPOSITORY))
    assert listing.tags == ("UPPER_1", "also.ok", "ok")


async def test_null_tags_is_an_empty_list(hostile: HostileRegistry) -> None:
    hostile.script("GET", PATH, reply(200, b'{"name":"paging/app","tags":null}'))
    async with registry_client() as client:
        listing = await read_tags(client, ref(hostile.host, REPOSITORY))
    assert listing.tags == ()


async def test_a_link_elsewhere_is_refused(hostile: HostileRegistry) -> None:
    body = json.dumps({"name": REPOSITORY, "tags": ["a"]}).encode()
    link = {"Link": '<https://elsewhere.example/v2/other/tags/list?n=1>; rel="next"'}
    hostile.script("GET", PATH, reply(200, body, link))
    async with registry_client() as client:
        with pytest.raises(errors.BadRegistryResponse, match="another listing"):
            await read_tags(client, ref(hostile.host, REPOSITORY))
    assert not any("elsewhere" in seen.path for seen in hostile.requests)


async def test_a_body_that_is_not_a_tag_list(hostile: HostileRegistry) -> None:
    hostile.script("GET", PATH, reply(200, b"<html>no</html>"))
    async with registry_client() as client:
        with pytest.raises(errors.BadRegistryResponse, match=f"127.0.0.1.*{REPOSITORY}"):
            await read_tags(client, ref(hostile.host, REPOSITORY))


async def test_an_unknown_repository(hostile: HostileRegistry) -> None:
    hostile.script("GET", PATH, reply(404, b""))
    async with registry_client() as client:
        with pytest.raises(errors.RepositoryNotFound, match=REPOSITORY):
            await read_tags(client, ref(hostile.host, REPOSITORY))


async def test_a_page_over_the_size_bound(hostile: HostileRegistry) -> None:
    hostile.script("GET", PATH, reply(200, b"[" + b" " * (5 * 1024 * 1024) + b"]"))
    async with registry_client() as client:
        with pytest.raises(errors.TooLarge, match="tag list"):
            await read_tags(client, ref(hostile.host, REPOSITORY))
