"""Tag-list pagers for the scripted registry: what the distribution spec says, and worse.

The packaged distribution 2.8 ignores `n` and `last`, so the spec's paging cannot be seen on it.
`spec_pages` answers `GET /v2/<name>/tags/list?n=&last=` as the spec's "Listing Tags" section
says: tags in lexical order, at most `n` after `last`, and a `Link: <…>; rel="next"` header while
more remain. `unordered_pages` is a registry that pages in an order of its own (push order) with
an opaque cursor in `Link`, as some hosted registries do.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from urllib.parse import parse_qs, urlencode, urlsplit

from tests.support.hostile_registry import Behaviour, HostileHandler, reply


def _query(handler: HostileHandler) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(handler.path).query).items()}


def _answer(handler: HostileHandler, name: str, tags: list[str], link: str | None) -> None:
    headers = {"Content-Type": "application/json"}
    if link is not None:
        headers["Link"] = link
    reply(200, json.dumps({"name": name, "tags": tags}).encode(), headers)(handler)


def spec_pages(
    name: str, tags: Sequence[str], *, link: bool = True, default_n: int = 50
) -> Behaviour:
    """The spec's paging over `tags`; without `link`, no Link header (the client uses `last`)."""
    ordered = sorted(set(tags))

    def behave(handler: HostileHandler) -> None:
        query = _query(handler)
        n = int(query.get("n", default_n))
        last = query.get("last")
        after = [tag for tag in ordered if last is None or tag > last]
        page = after[:n]
        more = len(after) > n
        header = None
        if link and more and page:
            next_query = urlencode({"n": n, "last": page[-1]})
            header = f'</v2/{name}/tags/list?{next_query}>; rel="next"'
        _answer(handler, name, page, header)

    return behave


def unordered_pages(name: str, tags: Sequence[str], *, page_size: int) -> Behaviour:
    """Pages of `page_size` tags in the order given (not sorted), linked by an opaque cursor."""

    def behave(handler: HostileHandler) -> None:
        start = int(_query(handler).get("cursor", "0"))
        page = list(tags[start : start + page_size])
        header = None
        if start + page_size < len(tags):
            header = f'</v2/{name}/tags/list?cursor={start + page_size}>; rel="next"'
        _answer(handler, name, page, header)

    return behave


def endless_pages(name: str) -> Behaviour:
    """A registry whose Link never ends: every page has one new tag and points at another."""

    def behave(handler: HostileHandler) -> None:
        number = int(_query(handler).get("page", "0"))
        header = f'</v2/{name}/tags/list?page={number + 1}>; rel="next"'
        _answer(handler, name, [f"t{number:06d}"], header)

    return behave
