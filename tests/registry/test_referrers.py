"""Which `Link` of a referrers page is followed: only this listing's next page, on our endpoint."""

from __future__ import annotations

from imagepin_server.digests import Digest
from imagepin_server.registry.referrers import next_page, referrers_path

SUBJECT = Digest.of(b"subject")
PATH = f"/v2/team/app/{referrers_path(SUBJECT)}"


def test_a_relative_next_link_is_followed() -> None:
    assert next_page(f'<{PATH}?n=10&last=x>; rel="next"', "team/app", SUBJECT) == (
        "n=10&last=x",
        False,
    )


def test_an_absolute_link_keeps_only_its_query() -> None:
    link = f'<https://elsewhere.example{PATH}?last=y>; rel="next"'
    assert next_page(link, "team/app", SUBJECT) == ("last=y", False)


def test_no_link_is_the_last_page() -> None:
    assert next_page("", "team/app", SUBJECT) == (None, False)
    assert next_page(f'<{PATH}?n=1>; rel="prev"', "team/app", SUBJECT) == (None, False)


def test_the_next_link_among_several() -> None:
    link = f'<{PATH}?p=0>; rel="prev", <{PATH}?p=2>; rel="next"'
    assert next_page(link, "team/app", SUBJECT) == ("p=2", False)


def test_links_elsewhere_are_refused() -> None:
    other = Digest.of(b"other subject")
    for target in (
        f"/v2/team/other/{referrers_path(SUBJECT)}?n=1",
        f"/v2/team/app/{referrers_path(other)}?n=1",
        "/v2/team/app/manifests/latest?n=1",
        PATH,  # no query: it could only be this page again
    ):
        assert next_page(f'<{target}>; rel="next"', "team/app", SUBJECT) == (None, True), target
