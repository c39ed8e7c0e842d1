"""The use cases in-process: real registry client, real SQLite, clocks moved by hand."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from imagepin_server import store
from imagepin_server.core import Dependencies, ObservationRecorder, Policy
from imagepin_server.reference import Reference, parse

from tests.registry.helpers import registry_client

START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class ManualClock:
    """A wall clock and a monotonic clock that move only when the test says so, together."""

    def __init__(self, start: datetime = START) -> None:
        self._wall = start
        self._monotonic = 1_000.0

    def wall(self) -> datetime:
        return self._wall

    def monotonic(self) -> float:
        return self._monotonic

    def advance(self, seconds: float) -> None:
        self._wall += timedelta(seconds=seconds)
        self._monotonic += seconds


@asynccontextmanager
async def use_cases(
    database: store.Database,
    clock: ManualClock,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    limits: Mapping[str, Any] | None = None,
    **policy: Any,
) -> AsyncIterator[Dependencies]:
    """Dependencies as app.py builds them, but with `clock` and a fresh (cold) registry client
    (over `transport` when given, with `limits` overriding the hosts' Limits fields); `policy`
    overrides Policy fields. Everything is closed in app.py's order afterwards."""
    async with registry_client(transport=transport, **(limits or {})) as client:
        recorder = ObservationRecorder(database)
        deps = Dependencies(
            registry=client,
            database=database,
            recorder=recorder,
            wall=clock.wall,
            monotonic=clock.monotonic,
            policy=dataclasses.replace(Policy(), **policy),
        )
        try:
            yield deps
        finally:
            await deps.tag_flights.aclose()
            await deps.content_flights.aclose()
            await recorder.flush()
            await recorder.aclose()


def reference(text: str) -> Reference:
    return parse(text)
