"""ListTagHistory and ListImagesWithLayer: reading back what imagepin has recorded."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, Final, TypeVar

from imagepin_server import errors, store
from imagepin_server.core.context import Dependencies
from imagepin_server.core.requests import parse_digest, parse_tag_reference
from imagepin_server.reference import Reference

log = logging.getLogger("imagepin.audit")

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
STORE_TIMEOUT_S: Final = 5.0

T = TypeVar("T")


def page_size(requested: int) -> int:
    """0 means the default; more than MAX_LIMIT, or negative, is refused."""
    if requested < 0 or requested > MAX_LIMIT:
        raise errors.InvalidArgument(f"limit must be between 0 and {MAX_LIMIT}, not {requested}")
    return requested or DEFAULT_LIMIT


async def tag_history(
    deps: Dependencies, text: str, *, as_of: datetime | None, limit: int
) -> tuple[Reference, list[store.TagMappingRecord]]:
    """Every move of the tag (one entry per stretch at a digest), newest first; with as_of, as
    imagepin had recorded it then."""
    ref = parse_tag_reference(text, purpose="tag history")
    assert ref.tag is not None
    tag = ref.tag
    size = page_size(limit)
    records = await _read(
        deps,
        lambda session: store.tag_history(
            session, ref.registry, ref.repository, tag, as_of=as_of, limit=size
        ),
    )
    return ref, records


async def images_with_layer(
    deps: Dependencies, text: str, *, limit: int
) -> list[store.ImageWithLayerRecord]:
    """Every recorded image containing a layer, by distribution digest or diff_id."""
    digest = parse_digest(text, field="digest")
    size = page_size(limit)
    return await _read(
        deps, lambda session: store.images_with_layer(session, str(digest), limit=size)
    )


async def _read(deps: Dependencies, query: Callable[[Any], Awaitable[T]]) -> T:
    try:
        async with asyncio.timeout(STORE_TIMEOUT_S), deps.database.session() as session:
            return await query(session)
    except TimeoutError as exc:
        raise errors.StoreUnavailable(
            f"the database did not answer within {STORE_TIMEOUT_S:g}s"
        ) from exc
    except store.StoreError as exc:
        # The details (database host, user, driver message) go to the log, not to callers.
        log.warning("database read failed", extra={"fields": {"error": str(exc)[:300]}})
        raise errors.StoreUnavailable(
            "imagepin's database is unavailable; try again later (the server log has details)"
        ) from exc
