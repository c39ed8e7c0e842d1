"""Warm hits counted in bulk: once flushed, the series say exactly what one update per call
would have said."""

from __future__ import annotations

from imagepin_server import metrics
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)
# On a bound, between bounds, past the last: each must land where observe() puts it.
OK = {"method": "ResolveReference", "code": "OK"}
SECONDS = [0.0001, 0.0005, 0.0007, 0.001, 0.003, 0.5, 9.9, 10.0, 11.0, 0.0]


def _series() -> tuple[CollectorRegistry, Counter, Counter, Histogram]:
    registry = CollectorRegistry()
    rpcs = Counter("t_rpcs_total", "RPCs", ["method", "code"], registry=registry)
    hits = Counter("t_hits_total", "hits", ["cache"], registry=registry)
    latency = Histogram(
        "t_latency_seconds", "latency", ["method"], buckets=BUCKETS, registry=registry
    )
    return registry, rpcs, hits, latency


def _exposition(registry: CollectorRegistry) -> list[str]:
    """The exposition without the `_created` timestamps, which differ between two registries."""
    return [
        line for line in generate_latest(registry).decode().splitlines() if "_created" not in line
    ]


def test_a_flushed_tally_says_what_one_update_per_call_says() -> None:
    one_by_one, rpcs, hits, latency = _series()
    for seconds in SECONDS:
        rpcs.labels("ResolveReference", "OK").inc()
        hits.labels("tag").inc()
        latency.labels("ResolveReference").observe(seconds)
    in_bulk, bulk_rpcs, bulk_hits, bulk_latency = _series()
    tally = metrics.Tally(
        [bulk_rpcs.labels("ResolveReference", "OK"), bulk_hits.labels("tag")],
        bulk_latency.labels("ResolveReference"),
    )
    for seconds in SECONDS:
        tally.add(seconds)
    assert in_bulk.get_sample_value("t_rpcs_total", OK) == 0  # not yet flushed
    tally.flush()
    assert _exposition(in_bulk) == _exposition(one_by_one)
    tally.flush()  # nothing new: nothing added twice
    assert _exposition(in_bulk) == _exposition(one_by_one)


def test_a_tally_flushes_itself_every_so_many_calls() -> None:
    registry, rpcs, _, latency = _series()
    counter = rpcs.labels("ResolveReference", "OK")
    tally = metrics.Tally([counter], latency.labels("ResolveReference"))
    for _ in range(metrics.TALLY_FLUSH_EVERY - 1):
        tally.add(0.0002)
    assert registry.get_sample_value("t_rpcs_total", OK) == 0
    tally.add(0.0002)
    assert registry.get_sample_value("t_rpcs_total", OK) == metrics.TALLY_FLUSH_EVERY
    assert (
        f't_latency_seconds_count{{method="ResolveReference"}} {metrics.TALLY_FLUSH_EVERY}.0'
        in (_exposition(registry))
    )
