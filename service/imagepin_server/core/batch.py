"""BatchResolveReferences: a whole release pinned in one call.

Items are resolved concurrently, per registry at most twice as many at a time as the host's
`max_concurrency` (2 x 16 by default). The registry client's politeness is what bounds what goes
out: its concurrency cap and token bucket (`requests_per_second`, `burst`), so a batch larger
than the bucket's burst proceeds at `requests_per_second`. The extra items keep the host's
slots busy while finished ones record their answers (one group commit for many), so a batch of
cold tags runs at the registry's own speed. The multiple is small because an item waiting for a
slot gives up after the host's `request_timeout`. Each item gets its own answer or error, in
order, and one bad reference does not fail the batch.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from imagepin_server import errors
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import Platform
from imagepin_server.core.resolve import Resolution
from imagepin_server.core.rollout import resolve_with_rollout
from imagepin_server.reference import Reference

log = logging.getLogger("imagepin.batch")


@dataclass(frozen=True, slots=True)
class BatchItem:
    """One request of a batch, converted at the edge; `text` is what the caller sent."""

    text: str
    reference: Reference | None = None  # None only when the item is `invalid`
    platform: Platform | None = None
    max_staleness: timedelta | None = None
    stale_if_error: timedelta | None = None
    rollout_key: str = ""
    max_negative_age: timedelta | None = None
    include_children: bool = False
    invalid: errors.ImagepinError | None = None  # set when the item itself was malformed


@dataclass(frozen=True, slots=True)
class BatchOutcome:
    reference: str
    resolution: Resolution | None = None
    error: errors.ImagepinError | None = None


async def resolve_many(
    deps: Dependencies, items: list[BatchItem], *, budget_s: float | None = None
) -> list[BatchOutcome]:
    """Resolve every item; an item not done within `budget_s` fails alone (DEADLINE_EXCEEDED)."""
    if len(items) > deps.policy.batch_limit:
        raise errors.InvalidArgument(
            f"a batch holds at most {deps.policy.batch_limit} references, not {len(items)}; "
            "split it"
        )
    limits: dict[str, asyncio.Semaphore] = {}
    for item in items:
        if item.reference is not None and item.reference.registry not in limits:
            registry = item.reference.registry
            in_flight = deps.registry.max_concurrency(registry) * deps.policy.batch_items_per_slot
            limits[registry] = asyncio.Semaphore(in_flight)
    return list(await asyncio.gather(*(_one(deps, item, limits, budget_s) for item in items)))


async def _one(
    deps: Dependencies,
    item: BatchItem,
    limits: dict[str, asyncio.Semaphore],
    budget_s: float | None,
) -> BatchOutcome:
    if item.invalid is not None:
        return BatchOutcome(item.text, error=item.invalid)
    assert item.reference is not None  # set whenever the item is valid
    try:
        async with asyncio.timeout(budget_s), limits[item.reference.registry]:
            resolution = await resolve_with_rollout(
                deps,
                item.reference,
                item.platform,
                rollout_key=item.rollout_key,
                max_staleness=item.max_staleness,
                stale_if_error=item.stale_if_error,
                max_negative_age=item.max_negative_age,
                include_children=item.include_children,
            )
        return BatchOutcome(item.text, resolution=resolution)
    except errors.ImagepinError as exc:
        return BatchOutcome(item.text, error=exc)
    except TimeoutError:
        return BatchOutcome(
            item.text,
            error=errors.Timeout(
                f"{item.text} was not resolved within the batch's time budget",
                reference=item.text,
            ),
        )
    except Exception:
        log.exception("unexpected failure resolving a batch item")
        return BatchOutcome(
            item.text,
            error=errors.ImagepinError(
                "imagepin failed unexpectedly; the server log has the details"
            ),
        )
