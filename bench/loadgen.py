"""An independent load generator: its own process, many calls in flight, latencies measured.

Usage: python -m bench.loadgen TARGET {health|resolve} [REFERENCE] --seconds S --concurrency C
Prints one JSON object: calls, errors, seconds, rps, p50_ms, p99_ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from imagepin.v1 import resolver_pb2, resolver_pb2_grpc

CHANNELS = 4  # several HTTP/2 connections, so --workers can spread them


async def _worker(
    call: grpc.aio.UnaryUnaryMultiCallable,  # type: ignore[type-arg]
    request: object,
    stop_at: float,
    latencies: list[float],
    errors: list[int],
) -> None:
    while time.perf_counter() < stop_at:
        started = time.perf_counter()
        try:
            await call(request, timeout=10)
        except grpc.RpcError:
            errors.append(1)
            continue
        latencies.append(time.perf_counter() - started)


async def run(
    target: str, method: str, reference: str, seconds: float, concurrency: int
) -> dict[str, float]:
    channels = [grpc.aio.insecure_channel(target) for _ in range(CHANNELS)]
    calls: list[tuple[grpc.aio.UnaryUnaryMultiCallable, object]] = []  # type: ignore[type-arg]
    for channel in channels:
        if method == "health":
            calls.append(
                (health_pb2_grpc.HealthStub(channel).Check, health_pb2.HealthCheckRequest())
            )
        else:
            stub = resolver_pb2_grpc.ResolverServiceStub(channel)
            calls.append(
                (stub.ResolveReference, resolver_pb2.ResolveReferenceRequest(reference=reference))
            )
    # Warm the connections before the clock starts.
    for call, request in calls:
        await call(request, timeout=10)
    latencies: list[float] = []
    errors: list[int] = []
    started = time.perf_counter()
    stop_at = started + seconds
    await asyncio.gather(
        *(_worker(*calls[i % len(calls)], stop_at, latencies, errors) for i in range(concurrency))
    )
    elapsed = time.perf_counter() - started
    for channel in channels:
        await channel.close()
    latencies.sort()

    def pct(p: float) -> float:
        return (
            latencies[min(len(latencies) - 1, int(p * len(latencies)))] * 1000 if latencies else 0.0
        )

    return {
        "calls": len(latencies),
        "errors": len(errors),
        "seconds": elapsed,
        "rps": len(latencies) / elapsed,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("target")
    parser.add_argument("method", choices=["health", "resolve"])
    parser.add_argument("reference", nargs="?", default="")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=32)
    args = parser.parse_args()
    result = asyncio.run(
        run(args.target, args.method, args.reference, args.seconds, args.concurrency)
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
