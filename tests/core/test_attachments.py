"""Referrer listings are kept for a bounded time; verdicts until evicted."""

from __future__ import annotations

from imagepin_server.core.attachments import Attachments, SubjectReferrers


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_listing_expires_after_its_time() -> None:
    clock = Clock()
    state = Attachments(ttl_s=60, no_api_ttl_s=3600)
    listing = SubjectReferrers(referrers=(), truncated=False)
    key = ("registry.example", "team/app", "sha256:" + "a" * 64)
    state.listings.put(key, listing, clock())
    state.no_api.put(("registry.example", "team/app"), True, clock())
    clock.now += 59.9
    assert state.listings.get(key, clock()) is listing
    clock.now += 0.2
    assert state.listings.get(key, clock()) is None
    assert state.no_api.get(("registry.example", "team/app"), clock()) is True
    clock.now += 3600
    assert state.no_api.get(("registry.example", "team/app"), clock()) is None
