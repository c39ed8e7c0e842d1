"""The OCI 1.1 referrers API's answer: one page of an index, and where the next page is.

A referrers listing is not content-addressed (it changes as artifacts are pushed), so it is
bounded but never hashed, and only a `Link` to the same repository's listing of the same
subject is followed: a registry must not send us elsewhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

from imagepin_server.digests import Digest

# `<url>; rel="next"` (RFC 8288); the URL may be absolute or a path.
_LINK: Final = re.compile(r'<([^>]*)>\s*;(?:[^,]*?;)?\s*rel="?next"?', re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ReferrersPage:
    """One page of `GET /v2/<name>/referrers/<digest>`: an OCI index of referrer descriptors."""

    raw: bytes
    media_type: str
    next_query: str | None  # the query string of the next page, None on the last page
    next_refused: bool = False  # a next page was linked, but elsewhere: the listing is partial


def referrers_path(digest: Digest, query: str | None = None) -> str:
    """The path, below `/v2/<name>/`, of a subject's referrers listing (a page of it)."""
    return f"referrers/{digest}" + (f"?{query}" if query else "")


def next_page(link: str, repository: str, digest: Digest) -> tuple[str | None, bool]:
    """(query of the next page, whether a next page was linked but refused) from `Link`.

    Only a link to this same listing (this repository, this subject) is followed, on the
    endpoint we asked; one elsewhere, or without a query (it could only repeat the page we
    have), ends the listing there, and the caller says it was cut short.
    """
    match = _LINK.search(link or "")
    if match is None:
        return None, False
    target = urlsplit(match.group(1))
    if target.path != f"/v2/{repository}/{referrers_path(digest)}" or not target.query:
        return None, True
    return target.query, False
