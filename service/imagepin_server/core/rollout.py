"""One digest per rollout: the first answer for a rollout key is the answer for the whole rollout.

An admission webhook resolves each Pod on its own, so a tag that moves while a ReplicaSet scales
up would give its Pods different builds. With a `rollout_key`, the digest the tag pointed at for
the first request (the index's, for an index) is recorded in the store, insert-if-absent so that
replicas and restarts agree, and every later request with the key is answered from it: the
recorded digest is resolved by digest (content by digest, cached) with the platform asked for,
while the answer keeps the tag in its references. Decisions older than the retention are ignored
and swept a bounded batch at a time. Without the store there is no decision to keep, so a keyed
request fails with STORE_UNAVAILABLE rather than answering something the rollout may not share.
"""

from __future__ import annotations

import dataclasses
import logging
from datetime import datetime, timedelta
from typing import Any, Final

from imagepin_server import errors, store
from imagepin_server.core import platforms
from imagepin_server.core.context import Dependencies
from imagepin_server.core.images import Platform
from imagepin_server.core.resolve import Resolution, Source, resolve
from imagepin_server.core.storecall import best_effort, store_call
from imagepin_server.reference import Reference

log = logging.getLogger("imagepin.rollout")

ROLLOUT_KEY_LIMIT: Final = 256  # bytes of UTF-8, as the contract says
SWEEP_BATCH: Final = 100  # expired decisions deleted each time a new one is made


def check_key(key: str) -> str:
    """A caller's rollout key: at most ROLLOUT_KEY_LIMIT bytes, printable characters only."""
    size = len(key.encode("utf-8", errors="surrogatepass"))
    if size > ROLLOUT_KEY_LIMIT:
        raise errors.BadRolloutKey(
            f"rollout_key is {size} bytes; at most {ROLLOUT_KEY_LIMIT} are allowed "
            "(a controller's uid, with its revision, is far shorter)"
        )
    if not key.isprintable():
        raise errors.BadRolloutKey(
            "rollout_key must hold printable characters only (no control characters or "
            f"line breaks): {key[:80]!r}"
        )
    return key


async def resolve_with_rollout(
    deps: Dependencies,
    reference: Reference,
    platform: Platform | None,
    *,
    rollout_key: str = "",
    max_staleness: timedelta | None = None,
    stale_if_error: timedelta | None = None,
    max_negative_age: timedelta | None = None,
    include_children: bool = False,
) -> Resolution:
    """Resolve a reference; with a rollout key, the digest decided for that rollout."""
    bounds: dict[str, Any] = {
        "max_staleness": max_staleness,
        "stale_if_error": stale_if_error,
        "max_negative_age": max_negative_age,
        "include_children": include_children,
    }
    if not rollout_key:
        return await resolve(deps, reference, platform, **bounds)
    key = check_key(rollout_key)
    ref = reference.with_default_tag()
    if ref.tag is None or ref.digest is not None:
        # A digest names one build already: there is nothing for the rollout to agree on.
        return await resolve(deps, reference, platform, **bounds)
    wanted = platforms.validate(platform) if platform else None
    subject = store.RolloutSubject(
        rollout_key=key,
        registry=ref.registry,
        repository=ref.repository,
        tag=ref.tag,
        platform=str(platforms.normalize(wanted)) if wanted else "",
    )
    not_before = deps.wall() - deps.policy.rollout_retention
    decided = await store_call(
        deps.database,
        lambda session: store.rollout_decision(session, subject, not_before=not_before),
    )
    if decided is None:
        fresh = await resolve(deps, reference, platform, **bounds)
        decided = await _decide(deps, subject, fresh, not_before)
        if decided.digest == str(fresh.resolved_digest):
            return fresh  # ours is the decision (or another replica's agreed with it)
    return await _reuse(deps, ref, platform, decided, include_children=include_children)


async def _decide(
    deps: Dependencies,
    subject: store.RolloutSubject,
    fresh: Resolution,
    not_before: datetime,
) -> store.RolloutDecisionRecord:
    """Record the fresh answer unless another request decided first; the decision that stands."""

    decided = await store_call(
        deps.database,
        lambda session: store.decide_rollout(
            session,
            subject,
            digest=str(fresh.resolved_digest),
            media_type=fresh.resolved_media_type,
            decided_at=deps.wall(),
            not_before=not_before,
        ),
        write=True,
    )
    await _sweep(deps, not_before)
    return decided


async def _sweep(deps: Dependencies, older_than: datetime) -> None:
    """Delete a bounded batch of expired decisions; best effort, reads ignore them anyway."""

    swept = await best_effort(
        deps.database,
        lambda session: store.sweep_decisions(session, older_than=older_than, limit=SWEEP_BATCH),
        default=0,
        what="rollout sweep",
        write=True,
    )
    if swept:
        log.info("swept expired rollout decisions", extra={"fields": {"deleted": swept}})


async def _reuse(
    deps: Dependencies,
    ref: Reference,
    platform: Platform | None,
    decided: store.RolloutDecisionRecord,
    *,
    include_children: bool,
) -> Resolution:
    """The recorded digest, resolved by digest for the platform, told as the tag's answer."""
    pinned = dataclasses.replace(ref.with_digest(decided.digest), tag=None)
    by_digest = await resolve(deps, pinned, platform, include_children=include_children)
    return dataclasses.replace(
        by_digest,
        reference=ref,
        observed_at=decided.decided_at,
        age=max(deps.wall() - decided.decided_at, timedelta(0)),
        source=Source.ROLLOUT,
    )
