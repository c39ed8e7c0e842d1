"""Prometheus metrics. Labels never hold a reference or a credential: registries are named
by host, and only the first REGISTRY_LABEL_LIMIT distinct hosts get their own label value, so a
caller sending odd references cannot grow the series without bound."""

from __future__ import annotations

import os
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Any, Final

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
    start_http_server,
)

REGISTRY_LABEL_LIMIT: Final = 50
_known_registries: set[str] = set()
_reserved_registries: set[str] = set()

RPCS = Counter("imagepin_rpcs_total", "RPCs handled", ["method", "code"])
RPC_LATENCY = Histogram(
    "imagepin_rpc_latency_seconds",
    "RPC latency",
    ["method"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
REGISTRY_REQUESTS = Counter(
    "imagepin_registry_requests_total",
    "HTTP requests sent to registries",
    ["registry", "method", "status"],
)
REGISTRY_RATE_LIMIT_REMAINING = Gauge(
    "imagepin_registry_ratelimit_remaining",
    "The last RateLimit-Remaining a registry sent",
    ["registry"],
    multiprocess_mode="mostrecent",
)
REGISTRY_RATE_LIMIT_LIMIT = Gauge(
    "imagepin_registry_ratelimit_limit",
    "The last RateLimit-Limit a registry sent (pulls per window)",
    ["registry"],
    multiprocess_mode="mostrecent",
)
REGISTRY_RATE_LIMIT_WINDOW = Gauge(
    "imagepin_registry_ratelimit_window_seconds",
    "The window (w=) of the last rate-limit headers a registry sent",
    ["registry"],
    multiprocess_mode="mostrecent",
)
REGISTRY_PULLS = Counter(
    "imagepin_registry_pulls_total",
    "Manifest GETs sent to registries (Docker Hub counts each as a pull; HEADs are free)",
    ["registry"],
)
INDEX_SKIPPED = Counter(
    "imagepin_index_skipped_total",
    "Background layer-index fetches not made: no budget, budget spent, registry's pulls low",
    ["why"],
)
CACHE_LOOKUPS = Counter("imagepin_cache_lookups_total", "Cache lookups", ["cache", "result"])
COALESCED_WAITS = Counter(
    "imagepin_coalesced_waits_total", "Calls that joined an identical call already in flight"
)
STALE_ANSWERS = Counter(
    "imagepin_stale_answers_total",
    "Answers served from the last mapping because the registry failed",
)
WRITE_QUEUE_LENGTH = Gauge(
    "imagepin_write_queue_length",
    "Observations waiting for the database to come back",
    multiprocess_mode="livesum",  # with --workers: the sum over live worker processes
)
TAG_CACHE_ENTRIES = Gauge(
    "imagepin_tag_cache_entries",
    "Tags whose answer this process holds in memory (at most 50 000 per process)",
    multiprocess_mode="liveall",  # with --workers: one series per live worker (label pid)
)
WRITE_QUEUE_DROPS = Counter(
    "imagepin_write_queue_drops_total", "Observations dropped because the write queue was full"
)

WATCH_POLLS = Counter(
    "imagepin_watch_polls_total",
    "Polls of followed tags, by what was asked (registry, or the store another replica fills)",
    ["target"],
)
WATCH_EVENTS = Counter(
    "imagepin_watch_events_total", "Tag moves published to watchers, by source", ["source"]
)
WATCH_SUBSCRIBERS = Gauge(
    "imagepin_watch_subscribers", "WatchTags calls open", multiprocess_mode="livesum"
)
WATCH_FOLLOWED = Gauge(
    "imagepin_watch_followed_tags", "Tags this process follows", multiprocess_mode="livesum"
)
NOTIFICATIONS = Counter(
    "imagepin_notifications_total",
    "Registry notification events by outcome: confirming, confirmed, unconfirmed, ignored, refused",
    ["outcome"],
)


def reserve_registry_labels(registries: Iterable[str]) -> None:
    """Registries the operator configured always get their own label value."""
    _reserved_registries.update(registries)


def registry_label(registry: str) -> str:
    """The registry's host as a label value, or "other" past the first few distinct ones."""
    if registry in _known_registries or registry in _reserved_registries:
        return registry
    if len(_known_registries) < REGISTRY_LABEL_LIMIT:
        _known_registries.add(registry)
        return registry
    return "other"


TALLY_FLUSH_EVERY: Final = 256


class Tally:
    """Many calls of one kind (a warm hit), counted in plain numbers and added to their series
    in bulk: every TALLY_FLUSH_EVERY calls and whenever `flush` is called (the server does every
    second, and when it stops). Three locked updates per call were a tenth of a warm call's
    cost; every call is still counted, at most a second late.

    `counters` are Counter children, each incremented once per call; `latency` a Histogram
    child, observed with each call's seconds.
    """

    def __init__(self, counters: Sequence[Counter], latency: Histogram) -> None:
        self._counters = tuple(counters)
        self._latency = latency
        # The histogram's own per-bucket values (not cumulative, +Inf last), to add to in bulk;
        # a prometheus_client without them gets one observe() per call instead.
        self._bucket_values: list[Any] | None = getattr(latency, "_buckets", None)
        self._sum_value: Any = getattr(latency, "_sum", None)
        self._bounds: tuple[float, ...] = tuple(getattr(latency, "_upper_bounds", ()))
        self._bulk = (
            self._bucket_values is not None
            and self._sum_value is not None
            and len(self._bounds) == len(self._bucket_values)
        )
        self._calls = 0
        self._seconds = 0.0
        self._per_bucket = [0] * len(self._bounds)

    def add(self, seconds: float) -> None:
        """One call that took `seconds`."""
        if not self._bulk:
            self._latency.observe(seconds)
        else:
            self._per_bucket[bisect_left(self._bounds, seconds)] += 1  # first bound >= seconds
            self._seconds += seconds
        self._calls += 1
        if self._calls >= TALLY_FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Add what was counted since the last flush to the series."""
        calls, self._calls = self._calls, 0
        if calls == 0:
            return
        for counter in self._counters:
            counter.inc(calls)
        if self._bulk:
            assert self._bucket_values is not None
            assert self._sum_value is not None
            self._sum_value.inc(self._seconds)
            self._seconds = 0.0
            for i, count in enumerate(self._per_bucket):
                if count:
                    self._bucket_values[i].inc(count)
                    self._per_bucket[i] = 0


MULTIPROCESS_DIR_ENV: Final = "PROMETHEUS_MULTIPROC_DIR"


def serve(host: str, port: int) -> None:
    """Serve /metrics in a background thread; with --workers, the sum over all workers."""
    registry = None
    if os.environ.get(MULTIPROCESS_DIR_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    if registry is None:
        start_http_server(port, addr=host)
    else:
        start_http_server(port, addr=host, registry=registry)
