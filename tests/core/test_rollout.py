"""resolve_with_rollout in-process: one digest per rollout key until its retention passes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from imagepin_server import store
from imagepin_server.core import Source, resolve_with_rollout

from tests.core.helpers import ManualClock, reference, use_cases
from tests.support.image_fixtures import build_small_image, push_layout
from tests.support.registries import launch_registry


async def test_a_rollout_keeps_its_digest_while_the_tag_moves_until_retention_passes(
    tmp_path: Path, sqlite_database: store.Database
) -> None:
    clock = ManualClock()
    first_build = build_small_image(tmp_path / "first", "first")
    second_build = build_small_image(tmp_path / "second", "second")
    retention = timedelta(hours=1)
    with launch_registry(tmp_path / "registry") as registry:
        first = push_layout(registry, first_build, "team/moving", "1")
        ref = reference(first.reference)
        async with use_cases(sqlite_database, clock, rollout_retention=retention) as deps:
            decided = await resolve_with_rollout(deps, ref, None, rollout_key="rs-1")
            second = push_layout(registry, second_build, "team/moving", "1")  # the tag moves
            clock.advance(600)
            kept = await resolve_with_rollout(
                deps, ref, None, rollout_key="rs-1", max_staleness=timedelta(0)
            )
            moved = await resolve_with_rollout(deps, ref, None, max_staleness=timedelta(0))
            clock.advance(retention.total_seconds())  # the decision is older than retention
            renewed = await resolve_with_rollout(
                deps, ref, None, rollout_key="rs-1", max_staleness=timedelta(0)
            )
    assert str(decided.digest) == first.digest
    assert decided.source is Source.REGISTRY
    assert (str(kept.digest), kept.source, kept.age) == (
        first.digest,
        Source.ROLLOUT,
        timedelta(seconds=600),
    )
    assert kept.reference == ref
    assert str(moved.digest) == second.digest
    assert (str(renewed.digest), renewed.source) == (second.digest, Source.REGISTRY)
