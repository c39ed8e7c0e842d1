"""What registries say about their rate limits, and the pulls imagepin spends.

Docker Hub (and registries copying it) send `ratelimit-limit: 100;w=21600` and
`ratelimit-remaining: 76;w=21600` on manifest responses, HEADs included: the pulls allowed and
left in a window of `w` seconds. A pull is a manifest GET (HEAD is free), so GETs are counted
per registry, and the last budget a registry told is kept so that callers can decline a GET
that would eat into the configured `pull_reserve`.

Hub answers 429 for two limits, told apart by the body: the pull limit says so in a JSON
error ("You have reached your pull rate limit…"); the overall (abuse) limit is a bare
"Too Many Requests". Any other 429 is a plain rate limit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from imagepin_server import errors, metrics

_VALUE: Final = re.compile(r"^\s*(\d{1,12})\s*(?:;\s*w\s*=\s*(\d{1,12})\s*)?(?:;.*)?$")
_PULL_LIMIT_BODY: Final = re.compile(rb"pull rate limit", re.IGNORECASE)
_ERRORS_JSON: Final = re.compile(rb'^\s*\{\s*"errors"')
# Distinct registries remembered; callers name registries, so the map is bounded like labels.
REGISTRIES_REMEMBERED: Final = metrics.REGISTRY_LABEL_LIMIT + 1


@dataclass(frozen=True, slots=True)
class Quota:
    """One `ratelimit-*` header: a count, and the window in seconds when given."""

    count: int
    window_s: int | None = None


def parse(value: str | None) -> Quota | None:
    """`76;w=21600` -> Quota(76, 21600); `76` -> Quota(76); anything else -> None."""
    if not value:
        return None
    found = _VALUE.match(value)
    if found is None:
        return None
    window = found.group(2)
    return Quota(int(found.group(1)), int(window) if window is not None else None)


@dataclass(frozen=True, slots=True)
class Budget:
    limit: Quota | None
    remaining: Quota | None


class PullLedger:
    """Per registry: the last budget it told, and the pulls spent. One per registry client."""

    def __init__(self) -> None:
        self._budgets: dict[str, Budget] = {}

    def observe(
        self, registry: str, method: str, subject: str, status: int, headers: Mapping[str, str]
    ) -> None:
        """Read one response's headers (any method, any status); count manifest GETs."""
        label = metrics.registry_label(registry)
        if method == "GET" and subject == "manifest":
            metrics.REGISTRY_PULLS.labels(label).inc()
        limit = parse(headers.get("ratelimit-limit"))
        remaining = parse(headers.get("ratelimit-remaining"))
        if limit is None and remaining is None:
            return
        if limit is not None:
            metrics.REGISTRY_RATE_LIMIT_LIMIT.labels(label).set(limit.count)
        if remaining is not None:
            metrics.REGISTRY_RATE_LIMIT_REMAINING.labels(label).set(remaining.count)
        told = remaining if remaining is not None else limit
        window = told.window_s if told is not None else None
        if window is not None:
            metrics.REGISTRY_RATE_LIMIT_WINDOW.labels(label).set(window)
        if registry in self._budgets or len(self._budgets) < REGISTRIES_REMEMBERED:
            self._budgets[registry] = Budget(limit, remaining)

    def remaining(self, registry: str) -> int | None:
        """The pulls the registry last said are left, or None when it never said."""
        budget = self._budgets.get(registry)
        if budget is None or budget.remaining is None:
            return None
        return budget.remaining.count

    def at_reserve(self, registry: str, reserve: int) -> bool:
        """Whether one more pull would leave fewer than `reserve` (only when the registry told)."""
        left = self.remaining(registry)
        return reserve > 0 and left is not None and left <= reserve

    def check_reserve(self, registry: str, reserve: int, name: str) -> None:
        """Refuse a pull that would go below the registry's configured `pull_reserve`."""
        if self.at_reserve(registry, reserve):
            raise errors.PullReserveReached(
                f"registry {registry} has {self.remaining(registry)} pulls left, at or below "
                f"imagepin's pull_reserve of {reserve} for it; {name} is not fetched (answers "
                "from memory still are)",
                registry=registry,
                reference=name,
            )

    def budget_low(self, registry: str, reserve: int) -> bool:
        """For background work: the registry said it has at most half its pulls left, or is
        at the reserve. A registry that never said is not low."""
        budget = self._budgets.get(registry)
        if budget is None or budget.remaining is None:
            return False
        left = budget.remaining.count
        if reserve > 0 and left <= reserve:
            return True
        return budget.limit is not None and left * 2 <= budget.limit.count


def kind_of_429(body: bytes, *, docker_hub: bool) -> str:
    """ "pull" (a pull limit, by its body), "abuse" (Docker Hub's bare 429: no registry error in
    the body) or "other"."""
    if _PULL_LIMIT_BODY.search(body[:4096]):
        return "pull"
    if docker_hub and not _ERRORS_JSON.match(body[:64]):
        return "abuse"
    return "other"
