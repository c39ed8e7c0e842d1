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


def referrers_path(digest: Digest, query: str | None = None) -> str:
    """The path, below `/v2/<name>/`, of a subject's referrers listing (a page of it)."""
    return f"referrers/{digest}" + (f"?{query}" if query else "")


def next_page_query(link: str, repository: str, digest: Digest) -> str | None:
    """The query of the next page from a `Link` header, when it points at this same listing.

    A link to another repository, subject or path is ignored (the listing ends there), and so
    is one without a query: it could only repeat the page we have.
    """
    match = _LINK.search(link or "")
    if match is None:
        return None
    target = urlsplit(match.group(1))
    if target.path != f"/v2/{repository}/{referrers_path(digest)}" or not target.query:
        return None
    return target.query
